"""Giving up failed mail requests on a real mail host (issue 13: "cancel of a failed request leaves
the host clean"). The failure is the one that leaves work behind: the worker dies after the
playbook changed the host and before it recorded the end, and the job is reaped as failed. The
cancel's clean-up job then takes everything off the host, and the names and budget are free."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain
from panel.jobs import capabilities, runner
from panel.models.jobs import Job, JobStatus
from panel.models.requests import RequestStatus
from panel.services import quotas, requests
from provisioners import lab as L
from tests.capabilities.mail.conftest import MAIL_HOST, PASSWORD, ZONES, finish_jobs, job_text, make_domain

pytestmark = pytest.mark.lab
HOST = MAIL_HOST[0]
MAPS = " ".join(f"/etc/postfix/govhost/{m}" for m in ("domains", "mailboxes", "aliases", "senders", "recipient_access"))
KILLED = "The worker running this job was killed after the playbook ran (test)."


def run_then_worker_dies(world, request_id: int, monkeypatch) -> None:
    """Run the request's job for real, but the worker 'dies' before recording the end (finish is
    never reached); then it is failed as the reaper would fail it."""
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == request_id)).one()
    with monkeypatch.context() as m:
        m.setattr(runner, "finish", lambda job_id, result, cap, *more: JobStatus.RUNNING)
        assert runner.run_job(job.id, world.settings) == "running"
    assert runner.end_job(job.id, JobStatus.FAILED, KILLED, cap=capabilities.get(job.kind))
    with db.unit_of_work() as s:
        assert s.get(Job, job.id).status == JobStatus.FAILED


def host_text(*paths: str) -> str:
    return L.host_exec(HOST, "sh", "-c", "cat " + " ".join(paths) + " 2>/dev/null; true", check=False).stdout


def test_cancel_of_a_failed_mailbox_batch_leaves_the_host_clean(mail_world, monkeypatch):
    dom = make_domain(mail_world)
    names = ("gone1", "gone2")
    addresses = [f"{n}@{ZONES['a']}" for n in names]
    req = mail_svc.mailbox_create(
        mail_world.aa, domain_id=dom.id, mailboxes=[{"local_part": n, "password": PASSWORD} for n in names]
    )
    run_then_worker_dies(mail_world, req.id, monkeypatch)
    assert requests.request_get(mail_world.aa, req.id).status == RequestStatus.FAILED
    on_host = host_text("/etc/dovecot/govhost/users", "/etc/postfix/govhost/mailboxes")
    assert all(a in on_host for a in addresses), on_host  # the failed job left them there

    requests.request_cancel(mail_world.aa, req.id)
    used = {r.resource: r.used for r in quotas.quota_usage(mail_world.aa, mail_world.a.id)}
    assert used["mailboxes"] == 0
    cleanup = finish_jobs(mail_world.settings)
    assert [j.kind for j in cleanup] == ["mail.mailboxes"], [job_text(j) for j in cleanup]
    assert cleanup[0].status == JobStatus.SUCCESSFUL, job_text(cleanup[0])
    on_host = host_text("/etc/dovecot/govhost/users", MAPS)
    assert not any(a in on_host for a in addresses), on_host
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(Mailbox).where(Mailbox.request_id == req.id)))
    assert {r.status for r in rows} == {MailboxStatus.DELETED}
    again = mail_svc.mailbox_create(  # the addresses are free again
        mail_world.aa, domain_id=dom.id, mailboxes=[{"local_part": "gone1", "password": PASSWORD}]
    )
    assert again.status == RequestStatus.PROVISIONING


def test_cancel_of_a_failed_mail_domain_leaves_the_host_clean(mail_world, monkeypatch):
    name = ZONES["b"]
    req = mail_svc.mail_domain_create(mail_world.ab, org_id=mail_world.b.id, name=name, contact=f"it@{name}")
    requests.request_approve(mail_world.op, req.id)
    run_then_worker_dies(mail_world, req.id, monkeypatch)
    key_dir = f"/etc/opendkim/keys/{name}"
    assert L.host_exec(HOST, "test", "-d", key_dir, check=False).returncode == 0  # the failed job made its key
    assert name in host_text("/etc/postfix/govhost/domains", "/etc/opendkim/KeyTable")

    requests.request_cancel(mail_world.ab, req.id)
    cleanup = finish_jobs(mail_world.settings)
    assert [(j.kind, j.status) for j in cleanup] == [("mail.domain", JobStatus.SUCCESSFUL)], [
        job_text(j) for j in cleanup
    ]
    assert L.host_exec(HOST, "test", "-e", key_dir, check=False).returncode != 0
    assert name not in host_text(MAPS, "/etc/opendkim/KeyTable", "/etc/opendkim/SigningTable")
    with db.unit_of_work() as s:
        assert s.scalars(select(MailDomain).where(MailDomain.name == name)).first() is None
    again = mail_svc.mail_domain_create(mail_world.ab, org_id=mail_world.b.id, name=name, contact=f"it@{name}")
    assert again.status == RequestStatus.SUBMITTED  # the name is free again
