"""A SOC containment action on a real lab host: the SOC suspends a ministry's website through the
same request kind and job a ministry would use, nginx on the host serves the suspension page, and
the ministry sees why (its request list, the request's comment, its notification)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.capabilities.soc import containment
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.notifications import Notification
from panel.models.tenants import Role
from panel.services import requests as requests_svc
from tests.capabilities.soc.conftest import run_pending_jobs
from tests.support.clients import http_get
from tests.support.factories import make_lab_host
from tests.support.fixtures import login_as  # noqa: F401 - fixture

pytestmark = pytest.mark.lab

FQDN = "www.mpt.gov.test"
REASON = "defacement: web shell in wp-content/uploads"


def _web_host(lab_host) -> Host:
    return make_lab_host(lab_host.name, lab_host.ip, ["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})


def _page(ip: str, want: int):
    deadline = time.monotonic() + 10
    while True:
        page = http_get(f"http://{ip}/", host_header=FQDN)
        if page.status == want or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def test_soc_suspends_a_site_on_a_lab_host_and_the_ministry_sees_why(booted, soc_web_lab, make, dc, login_as):
    ip = soc_web_lab.ip
    _web_host(soc_web_lab)
    ministry = make.make_org("Ministry of Posts", slug="mpt")
    boss = make.make_user(Role.ORG_ADMIN, ministry, username="mptadmin")
    webmaster = make.actor_of(make.make_user(Role.WEBMASTER, ministry, username="mptweb"))
    op = make.actor_of(make.make_user(Role.OPERATOR, dc, username="dcop"))
    soc = make.actor_of(make.make_user(Role.SOC, dc, username="soc1"), "api")
    with db.unit_of_work() as s:
        s.add(DomainClaim(org_id=ministry.id, domain="mpt.gov.test", token="t" * 32, method=ClaimMethod.TXT,
                          verified_at=db.utcnow()))  # fmt: skip
        s.add(Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))
    req = requests_svc.request_create(
        webmaster, kind="sites.site_create", org_id=ministry.id, payload={"fqdn": FQDN, "plan": "basic", "tls": "none"}
    )
    requests_svc.request_approve(op, req.id)
    jobs = run_pending_jobs(booted)
    assert "sites.site_create" in [kind for kind, _, _ in jobs]
    for kind, status, text in jobs:
        assert status == "successful", f"{kind}: {text}"
    assert _page(ip, 200).status == 200
    with db.unit_of_work() as s:
        site_id = s.scalars(select(Site.id).where(Site.fqdn == FQDN)).one()

    # the SOC acts: a suspension request in the ministry's name, approved by the kind's policy (auto)
    suspension = containment.contain_suspend_object(
        soc, kind="sites.site_suspend", org_id=ministry.id, object_id=site_id, reason=REASON
    )
    jobs = run_pending_jobs(booted)
    assert [kind for kind, _, _ in jobs] == ["sites.site_suspend"]
    for kind, status, text in jobs:
        assert status == "successful", f"{kind}: {text}"
    with db.unit_of_work() as s:
        assert s.get(Site, site_id).status == SiteStatus.SUSPENDED
        assert s.get(Site, site_id).busy_job_id is None
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "soc.contain")).one()
        assert entry.actor_name == "soc1" and entry.org_id == ministry.id and REASON in entry.summary
    page = _page(ip, 503)  # the real host now serves the suspension page
    assert page.status == 503 and "temporarily suspended" in page.text

    # the ministry sees why: its request list, the request page with the reason, its notification
    browser = login_as(boss)
    listing = browser.get("/requests/").get_data(as_text=True)
    assert f"/requests/{suspension.id}" in listing
    detail = browser.get(f"/requests/{suspension.id}")
    assert detail.status_code == 200 and REASON in detail.get_data(as_text=True)
    assert "soc1" in detail.get_data(as_text=True)
    with db.unit_of_work() as s:
        notes = list(s.scalars(select(Notification).where(Notification.user_id == boss.id)))
        assert [n.params["reason"] for n in notes if n.kind == "soc.containment"] == [REASON]
    assert REASON in browser.get("/notifications/").get_data(as_text=True)
