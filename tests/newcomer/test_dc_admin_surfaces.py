"""No CLI-only administration: hosting plans, claim suffixes, DNS server set-up and mail server set-up
on the web and the API for data-center admins, through the same service functions as the CLI;
ministries read what they may and are refused the rest."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns.models import ClaimSuffix
from panel.capabilities.sites.models import Plan
from panel.models.hosts import Host
from panel.models.jobs import Job
from tests.support.fixtures import (  # noqa: F401 - fixtures
    admin,
    dc,
    login_as,
    min_a,
    min_b,
    post_form,
    token_for,
    wm_a,
    wm_b,
)


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, dns=dataclasses.replace(settings.dns, primary_host="ns-a"))


def _host(name: str, address: str, role: str) -> Host:
    with db.unit_of_work() as s:
        h = Host(name=name, address=address, host_key_type="ssh-ed25519", host_key="AAAA", fingerprint="SHA256:x")
        h.roles = {role}
        s.add(h)
        s.flush()
        return h


def _jobs(kind: str) -> list[Job]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))


# What a browser posts beside the typed fields: the selects' chosen options (Linux, no managed code).
PLAN_FORM = {"upload_mb": 16, "max_execution_s": 30, "os": "linux", "managed_runtime": ""}


def test_plans_on_the_web_and_the_api(app, admin, wm_a, login_as, token_for, cli):
    web = login_as(admin)
    r = post_form(web, "/sites/plans", {"name": "basic", "disk_mb": 500, "memory_mb": 128, "max_children": 3,
                                        **PLAN_FORM})  # fmt: skip
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    bad = post_form(web, "/sites/plans", {"name": "tiny", "disk_mb": 5, "memory_mb": 128, "max_children": 3,
                                          **PLAN_FORM})  # fmt: skip
    assert bad.status_code == 422 and "tiny" in bad.get_data(as_text=True)
    page = web.get("/sites/plans").get_data(as_text=True)
    assert "basic" in page and 'name="disk_mb"' in page and "/sites/plans" in web.get("/sites/").get_data(as_text=True)
    # A webmaster reads the plans (to choose one) but is offered no form and refused a create.
    wm = login_as(wm_a)
    page = wm.get("/sites/plans").get_data(as_text=True)
    assert "basic" in page and 'name="disk_mb"' not in page
    refused = post_form(wm, "/sites/plans", {"name": "mine", "disk_mb": 500, "memory_mb": 128, "max_children": 3,
                                             **PLAN_FORM}, page="/sites/plans")  # fmt: skip
    assert refused.status_code == 403
    api = app.test_client()
    body = {"name": "large", "disk_mb": 10000, "memory_mb": 512}
    r = api.post("/api/v1/sites/plans", json=body, headers=token_for(admin))
    assert r.status_code == 201 and r.json["name"] == "large" and r.json["max_children"] == 5
    assert api.post("/api/v1/sites/plans", json=body, headers=token_for(admin)).status_code == 409
    r = api.post("/api/v1/sites/plans", json={**body, "name": "x", "disk_mb": 1}, headers=token_for(admin))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert api.post("/api/v1/sites/plans", json={**body, "name": "y"}, headers=token_for(wm_a)).status_code == 403
    assert (
        api.post("/api/v1/sites/plans", json={**body, "name": "z"}, headers=token_for(admin, "read")).status_code == 403
    )
    with db.unit_of_work() as s:
        assert sorted(s.scalars(select(Plan.name))) == ["basic", "large"]
    listed = cli("sites", "plans")
    assert "basic" in listed.output and "large" in listed.output  # one service behind every surface
    spec = api.get("/api/v1/openapi.json").json
    plan_in = spec["components"]["schemas"]["PlanIn"]["properties"]
    assert plan_in["disk_mb"]["minimum"] == 10 and plan_in["disk_mb"]["maximum"] == 10**7


def test_suffixes_on_the_web_and_the_api(app, admin, wm_a, wm_b, min_a, min_b, login_as, token_for):
    web = login_as(admin)
    r = post_form(web, "/dns/suffixes", {"org_id": min_a.id, "suffixes": "mina.gov.test\nMINA2.gov.test"})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    bad = post_form(web, "/dns/suffixes", {"org_id": min_b.id, "suffixes": "not a domain;"})
    assert bad.status_code == 422
    page = web.get("/dns/suffixes").get_data(as_text=True)
    assert "mina2.gov.test" in page and "Ministry A" in page and 'name="suffixes"' in page
    wm = login_as(wm_a)
    page = wm.get("/dns/suffixes").get_data(as_text=True)
    assert "mina.gov.test" in page and 'name="suffixes"' not in page and "Ministry B" not in page
    api = app.test_client()
    r = api.put(f"/api/v1/dns/suffixes/{min_b.id}", json={"suffixes": ["minb.gov.test"]}, headers=token_for(admin))
    assert r.status_code == 200 and r.json == [
        {"org_id": min_b.id, "org_name": "Ministry B", "suffix": "minb.gov.test"}
    ]
    assert (
        api.put(f"/api/v1/dns/suffixes/{min_b.id}", json={"suffixes": ["x.test"]}, headers=token_for(wm_b)).status_code
        == 403
    )
    mine = api.get("/api/v1/dns/suffixes", headers=token_for(wm_b)).json
    assert [r["suffix"] for r in mine["items"]] == ["minb.gov.test"]  # not ministry A's
    assert api.get("/api/v1/dns/suffixes", headers=token_for(admin)).json["total"] == 3
    with db.unit_of_work() as s:
        assert s.scalars(select(ClaimSuffix.suffix).where(ClaimSuffix.org_id == min_a.id)).all()


def test_dns_server_setup_on_the_web_and_the_api(app, admin, wm_a, login_as, token_for, booted):
    host = _host("ns-a", "10.77.0.250", "dns")
    web = login_as(admin)
    page = web.get("/dns/server").get_data(as_text=True)
    assert "ns-a" in page and "made by the first set-up" in page
    r = post_form(web, "/dns/server", {"host_id": host.id, "secondaries": "10.77.0.251"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/jobs/"), r.get_data(as_text=True)[:2000]
    (job,) = _jobs("dns.server_setup")
    assert job.params["secondaries"] == ["10.77.0.251"] and "made" in web.get("/dns/server").get_data(as_text=True)
    assert login_as(wm_a).get("/dns/server").status_code == 403
    api = app.test_client()
    r = api.post("/api/v1/dns/server/setup", json={}, headers=token_for(admin))
    assert r.status_code == 202 and r.json["kind"] == "dns.server_setup" and r.json["hosts"] == ["ns-a"]
    secret = json.dumps(r.json)
    assert "tsig_secret" not in secret
    info = api.get("/api/v1/dns/server", headers=token_for(admin)).json
    assert info["primary_name"] == "ns-a" and info["host_id"] == host.id and info["key_made"] is True
    assert api.post("/api/v1/dns/server/setup", json={}, headers=token_for(wm_a)).status_code == 403
    bad = api.post("/api/v1/dns/server/setup", json={"secondaries": ["nope"]}, headers=token_for(admin))
    assert bad.status_code == 422
    assert len(_jobs("dns.server_setup")) == 2


def test_mail_server_setup_on_the_web_and_the_api(app, admin, wm_a, login_as, token_for, booted):
    host = _host("mx-a", "10.77.0.252", "mail")
    web = login_as(admin)
    page = web.get("/mail/servers").get_data(as_text=True)
    assert "mx-a" in page and "/mail/servers" in web.get("/mail/").get_data(as_text=True)
    r = post_form(web, f"/mail/servers/{host.id}/setup", {}, page="/mail/servers")
    assert r.status_code == 302 and r.headers["Location"].startswith("/jobs/")
    api = app.test_client()
    assert [h["name"] for h in api.get("/api/v1/mail/servers", headers=token_for(admin)).json["items"]] == ["mx-a"]
    r = api.post(f"/api/v1/mail/servers/{host.id}/setup", headers=token_for(admin))
    assert r.status_code == 202 and r.json["kind"] == "mail.server"
    # a ministry cannot tell whether a host exists: 404, as for a missing id (the isolation matrix)
    assert api.post(f"/api/v1/mail/servers/{host.id}/setup", headers=token_for(wm_a)).status_code == 404
    assert login_as(wm_a).get("/mail/servers").status_code == 403
    assert len(_jobs("mail.server")) == 2
