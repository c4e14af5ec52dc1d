"""Deleting what a request made frees its budget through the one quota release (services.quotas),
whichever capability's job deleted it: a site, a mailbox of a create request (its share), a zone."""

from __future__ import annotations

import pytest

from panel import db
from panel.capabilities.dns.models import Zone, ZoneStatus
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.jobs import capabilities, runner
from panel.models.hosts import Host
from panel.models.jobs import Job, JobHost, JobStatus
from panel.models.quotas import RequestQuota
from panel.models.requests import Request, RequestStatus
from panel.services.quotas import usage_map
from provisioners.base import Result

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"


@pytest.fixture
def held(make):
    """A ministry, a host, and a done request holding `amount` of `resource`."""
    org = make.make_org("Ministry A")

    def make_held(resource: str, amount: int) -> tuple[int, int, int]:
        with db.unit_of_work() as s:
            host = s.query(Host).filter_by(name="h1").first()
            if host is None:
                host = Host(
                    name="h1", address="10.77.0.239", host_key_type="ssh-ed25519", host_key=KEY, fingerprint="x"
                )
                s.add(host)
            req = Request(kind="test.create", org_id=org.id, status=RequestStatus.DONE)
            s.add(req)
            s.flush()
            s.add(RequestQuota(request_id=req.id, org_id=org.id, resource=resource, amount=amount))
            return org.id, host.id, req.id

    return make_held


def finish(kind: str, host_id: int, params: dict) -> None:
    with db.unit_of_work() as s:
        job = Job(
            kind=kind, status=JobStatus.PENDING, params=params, host_links=[JobHost(host_id=host_id, host_name="h1")]
        )
        s.add(job)
    assert runner.claim(job.id)  # as the worker does: pending -> running, with its lease
    status = runner.finish(job.id, Result(status="successful", rc=0, data={}), capabilities.get(kind))
    assert status == JobStatus.SUCCESSFUL


def used(org_id: int) -> dict[str, int]:
    with db.unit_of_work() as s:
        return usage_map(s, org_id)


def test_a_deleted_site_frees_its_sites_and_disk(held):
    org, host, rid = held("sites", 1)
    with db.unit_of_work() as s:
        s.add(RequestQuota(request_id=rid, org_id=org, resource="disk_mb", amount=100))
        plan = Plan(name="basic", disk_mb=100)
        s.add(plan)
        s.flush()
        site = Site(org_id=org, fqdn="www.a.gov.test", plan_id=plan.id, host_id=host, status=SiteStatus.DELETING)
        site.quota_request_ids = [rid]
        s.add(site)
    assert used(org) == {"sites": 1, "disk_mb": 100}
    finish("sites.site_delete", host, {"site_ids": [site.id]})
    assert used(org) == {}


def test_each_deleted_mailbox_frees_its_share_of_the_batch(held):
    org, host, rid = held("mailboxes", 2)
    with db.unit_of_work() as s:
        req = s.get(Request, rid)
        req.kind, req.payload = "mail.mailbox_create", {"local_parts": ["a", "b"], "quota_mb": 10}
        dom = MailDomain(org_id=org, name="a.gov.test", host_id=host, status=MailDomainStatus.ACTIVE, dkim_selector="g")
        s.add(dom)
        s.flush()
        boxes = [
            Mailbox(
                org_id=org, domain_id=dom.id, local_part=n, quota_mb=10, status=MailboxStatus.DELETING, request_id=rid
            )
            for n in ("a", "b")
        ]
        s.add_all(boxes)
    finish("mail.mailboxes", host, {"op": "delete", "mailbox_ids": [boxes[0].id]})
    assert used(org) == {"mailboxes": 1}  # the request's other mailbox still lives
    finish("mail.mailboxes", host, {"op": "delete", "mailbox_ids": [boxes[1].id]})
    assert used(org) == {}


def test_a_deleted_zone_frees_its_request(held):
    org, host, rid = held("dns_zones", 1)
    with db.unit_of_work() as s:
        zone = Zone(org_id=org, name="a.gov.test", status=ZoneStatus.DELETING, request_id=rid, host_id=host)
        s.add(zone)
    assert used(org) == {"dns_zones": 1}
    finish("dns.zone_delete", host, {"zone_id": zone.id, "zone_name": "a.gov.test"})
    assert used(org) == {}


def test_a_batch_end_moves_only_the_rows_in_the_state_it_expects(held):
    """mail.mailboxes ends set-based (one UPDATE per chunk, not a move per mailbox): a create makes
    its pending rows active, leaves a row that moved meanwhile alone; a password run stamps its row."""
    org, host, rid = held("mailboxes", 3)
    with db.unit_of_work() as s:
        dom = MailDomain(org_id=org, name="a.gov.test", host_id=host, status=MailDomainStatus.ACTIVE, dkim_selector="g")
        s.add(dom)
        s.flush()
        boxes = [
            Mailbox(org_id=org, domain_id=dom.id, local_part=n, quota_mb=10, status=st, request_id=rid)
            for n, st in (("a", MailboxStatus.PENDING), ("b", MailboxStatus.PENDING), ("c", MailboxStatus.DELETING))
        ]
        s.add_all(boxes)
    ids = [b.id for b in boxes]
    finish("mail.mailboxes", host, {"op": "create", "mailbox_ids": ids})
    with db.unit_of_work() as s:
        rows = {b.local_part: b for b in s.query(Mailbox).filter(Mailbox.id.in_(ids))}
        assert {k: b.status for k, b in rows.items()} == {
            "a": MailboxStatus.ACTIVE,
            "b": MailboxStatus.ACTIVE,
            "c": MailboxStatus.DELETING,
        }
        stamped = rows["a"].password_changed_at
    finish("mail.mailboxes", host, {"op": "password", "mailbox_ids": [ids[0]]})
    with db.unit_of_work() as s:
        assert s.get(Mailbox, ids[0]).password_changed_at not in (None, stamped)
        assert s.get(Mailbox, ids[1]).password_changed_at is None
    assert used(org) == {"mailboxes": 3}


def test_a_removed_mail_domain_frees_its_mailbox_batch(held):
    """The domain's clean-up deletes its mailbox rows; their create request (a kind that keeps what
    its live mailboxes hold) is released in full, not kept for rows that were live a moment before."""
    org, host, rid = held("mailboxes", 2)
    with db.unit_of_work() as s:
        req = s.get(Request, rid)
        req.kind, req.payload = "mail.mailbox_create", {"local_parts": ["a", "b"], "quota_mb": 10}
        dom = MailDomain(
            org_id=org, name="a.gov.test", host_id=host, status=MailDomainStatus.DELETING, dkim_selector="g"
        )
        s.add(dom)
        s.flush()
        s.add_all(
            Mailbox(
                org_id=org, domain_id=dom.id, local_part=n, quota_mb=10, status=MailboxStatus.ACTIVE, request_id=rid
            )
            for n in ("a", "b")
        )
    assert used(org) == {"mailboxes": 2}
    finish("mail.domain", host, {"domain_id": dom.id, "remove": True, "previous": "active", "mailbox_ids": []})
    assert used(org) == {}
