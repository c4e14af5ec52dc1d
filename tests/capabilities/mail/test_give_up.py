"""Giving up failed mail requests and the operator's host choice (no lab: jobs are only submitted
and failed here; test_mail_lab.py runs the clean-up on a real mail host).

Cancelling a failed mailbox batch frees its budget and queues one delete job for its failed
mailboxes; cancelling a failed mail domain queues a mail.domain clean-up (remove) job; a failed
domain or mailbox can also be deleted on request. An operator choosing a mail host is checked
against its mailboxes capacity; exceeding it is explicit and recorded in the audited request."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.errors import PanelError
from panel.jobs import capabilities, runner
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.requests import RequestStatus
from panel.models.tenants import Role
from panel.services import quotas, requests
from tests.capabilities.mail.test_placement import DOMAIN, _set_up
from tests.capabilities.mail.test_placement import world as placement_world  # noqa: F401 - fixture

PASSWORD = "Tr0ub4dor&3-horse"


@pytest.fixture
def mw(placement_world, make):
    dc, org_id, user, host_id = placement_world
    _set_up(host_id)
    op = make.actor_of(make.make_user(Role.OPERATOR, dc))
    op2 = make.actor_of(make.make_user(Role.OPERATOR, dc))
    with db.unit_of_work() as s:
        from panel.models.users import User

        admin = make.actor_of(s.get(User, user.id))
    return dataclasses.make_dataclass("W", ["org_id", "host_id", "admin", "op", "op2"])(org_id, host_id, admin, op, op2)


def fail_jobs_of(request_id: int) -> None:
    with db.unit_of_work() as s:
        jobs = list(s.scalars(select(Job).where(Job.request_id == request_id, Job.status == JobStatus.PENDING)))
    for job in jobs:
        runner.fail_with_error(job.id, "test: the job broke", cap=capabilities.get(job.kind))


def failed_domain(mw):
    req = mail_svc.mail_domain_create(mw.admin, org_id=mw.org_id, name=DOMAIN, contact="it@example.org")
    requests.request_approve(mw.op, req.id)
    fail_jobs_of(req.id)
    with db.unit_of_work() as s:
        dom = s.scalars(select(MailDomain).where(MailDomain.name == DOMAIN)).one()
    assert dom.status == MailDomainStatus.FAILED
    return req, dom


def active_domain(mw) -> MailDomain:
    with db.unit_of_work() as s:
        dom = MailDomain(org_id=mw.org_id, name=DOMAIN, host_id=mw.host_id, dkim_selector="k1")
        dom.status = MailDomainStatus.ACTIVE
        s.add(dom)
        s.flush()
        return dom


def mailboxes_used(mw) -> int:
    return {r.resource: r.used for r in quotas.quota_usage(mw.admin, mw.org_id)}["mailboxes"]


def test_cancelling_a_failed_mailbox_batch_queues_their_removal(mw):
    dom = active_domain(mw)
    req = mail_svc.mailbox_create(
        mw.admin, domain_id=dom.id, mailboxes=[{"local_part": n, "password": PASSWORD} for n in ("ann", "bob")]
    )
    fail_jobs_of(req.id)
    assert mailboxes_used(mw) == 2
    assert requests.request_cancel(mw.admin, req.id).status == RequestStatus.CANCELLED
    assert mailboxes_used(mw) == 0  # the budget is free at once
    with db.unit_of_work() as s:
        boxes = list(s.scalars(select(Mailbox).where(Mailbox.request_id == req.id)))
        cleanup = s.scalars(select(Job).where(Job.request_id.is_(None), Job.kind == "mail.mailboxes")).one()
    assert {b.status for b in boxes} == {MailboxStatus.DELETING}
    assert cleanup.params["op"] == "delete" and cleanup.params["previous"] == "failed"
    assert sorted(cleanup.params["mailbox_ids"]) == sorted(b.id for b in boxes)
    assert cleanup.host_ids == [mw.host_id] and cleanup.status == JobStatus.PENDING
    # a clean-up that fails leaves them failed (deletable later), not active
    runner.fail_with_error(cleanup.id, "test: host unreachable", cap=capabilities.get("mail.mailboxes"))
    with db.unit_of_work() as s:
        assert {s.get(Mailbox, b.id, populate_existing=True).status for b in boxes} == {MailboxStatus.FAILED}
    # ... and a failed mailbox can be deleted on request like a live one
    delete = mail_svc.mailbox_delete(mw.admin, mailbox_id=boxes[0].id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == delete.id)).one()
        assert s.get(Mailbox, boxes[0].id).status == MailboxStatus.DELETING
    assert job.params["op"] == "delete" and job.params["previous"] == "failed"


def test_cancelling_a_failed_domain_queues_its_clean_up(mw):
    req, dom = failed_domain(mw)
    requests.request_cancel(mw.admin, req.id)
    with db.unit_of_work() as s:
        cleanup = s.scalars(select(Job).where(Job.request_id.is_(None), Job.kind == "mail.domain")).one()
        assert s.get(MailDomain, dom.id).status == MailDomainStatus.DELETING
    assert cleanup.params == {"domain_id": dom.id, "remove": True, "previous": "failed", "mailbox_ids": []}
    runner.fail_with_error(cleanup.id, "test: host unreachable", cap=capabilities.get("mail.domain"))
    with db.unit_of_work() as s:
        dom = s.get(MailDomain, dom.id, populate_existing=True)
    assert dom.status == MailDomainStatus.FAILED and "Clean-up failed" in dom.last_error


def test_a_failed_domain_can_be_deleted_on_request_and_only_a_failed_one(mw):
    _req, dom = failed_domain(mw)
    delete = requests.request_create(
        mw.admin, kind="mail.domain_delete", org_id=mw.org_id, payload={"domain_id": dom.id}
    )  # policy auto: approved at once
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == delete.id)).one()
    assert job.kind == "mail.domain" and job.params["remove"] is True
    with pytest.raises(PanelError) as exc:  # deleting now: not failed
        requests.request_create(mw.admin, kind="mail.domain_delete", org_id=mw.org_id, payload={"domain_id": dom.id})
    assert exc.value.key == "mail.domain_not_failed" and exc.value.status == 409


def test_an_operator_choosing_a_full_mail_host_must_say_so(mw, make):
    with db.unit_of_work() as s:
        s.get(Host, mw.host_id).capacities = {"mailboxes": 0}
    body = {"name": DOMAIN, "contact": "it@example.org"}
    with pytest.raises(PanelError) as exc:
        requests.request_create(mw.op, kind="mail.domain_create", org_id=mw.org_id, payload={**body, "host_id": 99})
    assert exc.value.key == "mail.host_invalid"
    payload = {"name": DOMAIN, "contact": "it@example.org", "host_id": mw.host_id}
    with pytest.raises(PanelError) as exc:
        requests.request_create(mw.op, kind="mail.domain_create", org_id=mw.org_id, payload=payload)
    assert exc.value.key == "host.full" and exc.value.params["free"] == 0 and exc.value.status == 409
    with pytest.raises(PanelError) as exc:  # a ministry never chooses the host
        requests.request_create(mw.admin, kind="mail.domain_create", org_id=mw.org_id, payload=payload)
    assert exc.value.key == "host.override_forbidden"
    req = requests.request_create(
        mw.op, kind="mail.domain_create", org_id=mw.org_id, payload={**payload, "exceed_capacity": True}
    )
    assert req.target_host_id == mw.host_id and req.payload["exceed_capacity"] is True
    requests.request_approve(mw.op2, req.id)
    with db.unit_of_work() as s:
        assert s.scalars(select(MailDomain).where(MailDomain.name == DOMAIN)).one().host_id == mw.host_id
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "request.create")).all()[-1]
    assert "exceed_capacity" in entry.summary


def test_cancelling_a_batch_keeps_the_mailboxes_that_live_held(mw):
    """A batch whose job left one mailbox live and one failed (the job records each mailbox's state;
    set here on the row): giving up frees the failed mailbox's budget only."""
    dom = active_domain(mw)
    req = mail_svc.mailbox_create(
        mw.admin, domain_id=dom.id, mailboxes=[{"local_part": n, "password": PASSWORD} for n in ("ann", "bob")]
    )
    fail_jobs_of(req.id)
    with db.unit_of_work() as s:
        ann = s.scalars(select(Mailbox).where(Mailbox.request_id == req.id, Mailbox.local_part == "ann")).one()
        ann.move_to(MailboxStatus.PENDING)
        ann.move_to(MailboxStatus.ACTIVE)
        storage = ann.quota_mb
    assert mailboxes_used(mw) == 2
    requests.request_cancel(mw.admin, req.id)
    used = {r.resource: r.used for r in quotas.quota_usage(mw.admin, mw.org_id)}
    assert (used["mailboxes"], used["mail_storage_mb"]) == (1, storage)
    with db.unit_of_work() as s:
        cleanup = s.scalars(select(Job).where(Job.request_id.is_(None), Job.kind == "mail.mailboxes")).one()
    assert ann.id not in cleanup.params["mailbox_ids"]
