"""Sites publish their records through the DNS service: a site created through the site service
for a ministry whose zone is hosted on the lab BIND gets its A records when staff approve it (the
site job itself does not run here), and deleting the site withdraws exactly those records; a record
the ministry added and one an operator added by hand in the same zone stay."""

from __future__ import annotations

import dns.query
import dns.rcode
import dns.update
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns import service as svc
from panel.capabilities.dns.models import Record, RecordState, Zone
from panel.capabilities.sites import service as sites
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.models.audit import AuditEntry
from panel.models.requests import RequestStatus
from panel.services import requests
from provisioners import lab as L
from tests.capabilities.dns.conftest import WEB_HOST
from tests.support.clients import dns_query

pytestmark = pytest.mark.lab


def answers(bind, name: str, rtype: str = "A") -> set[str]:
    return {rd.to_text() for rrset in dns_query(bind.ip, name, rtype).answer for rd in rrset}


def site_rows(site_id: int) -> list[Record]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Record).where(Record.source == f"site:{site_id}").order_by(Record.name)))


@pytest.fixture
def hosted(bind, ministry, live_zone, web_host, staff, make, applied):
    """Ministry A with its zone live on BIND, a plan, the web host, a record of its own (www) and
    one an operator added with nsupdate (hand)."""
    a = ministry("A")
    zone = live_zone(a.org)
    with db.unit_of_work() as s:
        s.add(Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))
    svc.record_create(a.actor, zone_id=zone.id, name="www", rtype="A", data="10.77.0.11")
    applied(a.actor, zone.id)
    upd = dns.update.UpdateMessage(zone.name + ".", keyring=bind.tsig.key(), keyname="govhost")
    upd.add(f"hand.{zone.name}.", 300, "A", "10.77.0.70")
    assert dns.query.tcp(upd, bind.ip, timeout=5, source=L.GATEWAY).rcode() == dns.rcode.NOERROR
    return a, zone, make.actor_of(staff)


def _create_site(bind, a, zone, approver) -> Site:
    fqdn, alias = f"portal.{zone.name}", f"alt.{zone.name}"
    req = sites.site_request(
        a.actor,
        action="create",
        org_id=a.org.id,
        payload={"fqdn": fqdn, "aliases": [alias], "plan": "basic", "tls": "none"},
    )
    assert req.status == RequestStatus.SUBMITTED
    with db.unit_of_work() as s:
        assert s.scalars(select(Record).where(Record.source.like("site:%"))).all() == []
    assert answers(bind, fqdn) == set()  # nothing before approval
    requests.request_approve(approver, req.id)
    with db.unit_of_work() as s:
        return s.scalars(select(Site).where(Site.request_id == req.id)).one()


def test_site_approval_publishes_its_records(bind, hosted, send_records):
    a, zone, approver = hosted
    site = _create_site(bind, a, zone, approver)
    assert site.status == SiteStatus.REQUESTED and site.host_id is not None
    rows = site_rows(site.id)
    assert [(r.name, r.rtype, r.data) for r in rows] == [
        (f"alt.{zone.name}", "A", WEB_HOST[1]),
        (f"portal.{zone.name}", "A", WEB_HOST[1]),
    ]
    # the approval only wrote the rows and a job: nothing reached BIND inside it
    assert all(r.applied_at is None for r in rows) and answers(bind, f"portal.{zone.name}") == set()
    assert send_records() == 1, "one dns.records_apply job for the approval"
    assert all(r.applied_at is not None for r in site_rows(site.id)), "sent by the job"
    assert answers(bind, f"portal.{zone.name}") == {WEB_HOST[1]}
    assert answers(bind, f"alt.{zone.name}") == {WEB_HOST[1]}
    plan = svc.dns_plan(a.actor, zone.id)
    assert plan.add == [] and plan.remove == [] and plan.unchanged == 3
    assert any(f"hand.{zone.name}." in line for line in plan.unmanaged)
    with db.unit_of_work() as s:
        assert s.get(Zone, zone.id).last_error == ""
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "dns.records_publish")).first() is not None


def test_site_delete_withdraws_only_its_records(bind, hosted, send_records):
    a, zone, approver = hosted
    site = _create_site(bind, a, zone, approver)
    send_records()
    with db.unit_of_work() as s:  # what the site.create job's success leaves (cap_sites._created)
        row = s.get(Site, site.id)
        row.move_to(SiteStatus.ACTIVE)
        row.busy_job_id = None
    assert answers(bind, f"portal.{zone.name}") == {WEB_HOST[1]}

    req = sites.site_request(a.actor, action="delete", site_id=site.id)
    requests.request_approve(approver, req.id)
    assert answers(bind, f"portal.{zone.name}") == {WEB_HOST[1]}, "withdrawn by the job, not by the approval"
    assert send_records() == 1
    assert answers(bind, f"portal.{zone.name}") == set()
    assert answers(bind, f"alt.{zone.name}") == set()
    assert answers(bind, f"www.{zone.name}") == {"10.77.0.11"}
    assert answers(bind, f"hand.{zone.name}") == {"10.77.0.70"}
    assert site_rows(site.id) == []
    with db.unit_of_work() as s:
        [mine] = s.scalars(select(Record).where(Record.zone_id == zone.id)).all()
        assert (mine.name, mine.state, mine.source) == (f"www.{zone.name}", RecordState.PRESENT, "user")
