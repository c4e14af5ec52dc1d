"""Mailbox usage read back from dovecot (mail.usage: `doveadm -f tab quota get -A`, one run per host)
into Mailbox.used_mb, the over-quota notification, and who may start the sweep. Lab tests use the
mail suite's hosts (mt1, mtdns) through tests/capabilities/mail/conftest.py; the others need no host."""

from __future__ import annotations

import signal
import time

import pytest
from sqlalchemy import event, select, update

from panel import db
from panel.capabilities.mail import jobs as cap_mail
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.jobs import parse_quota_tab
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.errors import PanelError
from panel.jobs import queue, tasks
from panel.models.audit import AuditEntry
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job, JobStatus
from panel.models.notifications import Notification
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from provisioners.base import Result
from tests.capabilities.mail.conftest import ZONES, approve_and_run, job_text, make_domain
from tests.capabilities.mail.test_mail_lab import create_boxes
from tests.support.clients import smtp


def boxes_by_local(dom) -> dict[str, Mailbox]:
    with db.unit_of_work() as s:
        s.expire_all()
        return {b.local_part: b for b in s.scalars(select(Mailbox).where(Mailbox.domain_id == dom.id))}


def host_kib(address: str) -> int:
    """The STORAGE value dovecot itself reports for one user (KiB), read inside the host."""
    out = L.host_exec("mt1", "doveadm", "-f", "tab", "quota", "get", "-u", address).stdout.splitlines()
    head = out[0].lower().split("\t")
    row = next(line.split("\t") for line in out[1:] if "\tSTORAGE\t" in line)
    return int(row[head.index("value")])


def deliver(world, to: str, megabytes: int) -> None:
    """One message of about `megabytes` MB through port 25 (mail for our own domain, no login)."""
    body = ("x" * 78 + "\r\n") * (megabytes * 1024 * 1024 // 80)
    s = smtp(world.ip, 25)
    try:
        s.ehlo("outside.example")
        s.sendmail("friend@outside.example", [to], f"Subject: big {megabytes} MB\r\n\r\n{body}")
    finally:
        s.quit()


def wait_usage(box_id: int, timeout: float = 15.0) -> Mailbox:
    """Delivery over LMTP is asynchronous: wait until dovecot counts the message."""
    deadline = time.monotonic() + timeout
    while True:
        with db.unit_of_work() as s:
            box = s.get(Mailbox, box_id)
            address = box.address
        if host_kib(address) > 0 or time.monotonic() > deadline:
            return box
        time.sleep(0.2)


def run_with_consumer(world, actor) -> list[Job]:
    """mail_usage_collect as the schedule calls it; a real Huey consumer runs the jobs it queues."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    queue.huey().flush()
    consumer = tasks.consumer(world.settings, workers=1)
    consumer.start()
    try:
        ids = [j.id for j in mail_svc.mail_usage_collect(actor)]
        deadline = time.monotonic() + 120
        while True:
            with db.unit_of_work() as s:
                s.expire_all()
                jobs = [s.get(Job, i) for i in ids]
            if all(j.status not in (JobStatus.PENDING, JobStatus.RUNNING) for j in jobs):
                return jobs
            assert time.monotonic() < deadline, [job_text(j) for j in jobs]
            time.sleep(0.1)
    finally:
        consumer.stop(graceful=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def over_quota_notices() -> list[Notification]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Notification).where(Notification.kind == "mailbox.over_quota")))


@pytest.mark.lab
def test_usage_is_read_back_from_dovecot_and_over_quota_notifies_the_ministry(mail_world):
    dom = make_domain(mail_world)
    create_boxes(mail_world, dom, "heavy", "quiet", quota_mb=20)
    boxes = boxes_by_local(dom)
    heavy = f"heavy@{ZONES['a']}"
    deliver(mail_world, heavy, 12)
    assert host_kib(wait_usage(boxes["heavy"].id).address) > 12 * 1024
    # Lowered below what it holds (the host keeps the mail, refuses more): over its quota.
    approve_and_run(mail_world, mail_svc.mailbox_quota_set(mail_world.aa, mailbox_id=boxes["heavy"].id, quota_mb=10))
    assert over_quota_notices() == []

    jobs = run_with_consumer(mail_world, mail_world.op)
    assert [(j.kind, j.status, j.host_ids) for j in jobs] == [
        ("mail.usage", JobStatus.SUCCESSFUL, [mail_world.mail_host.id])
    ], [job_text(j) for j in jobs]
    after = boxes_by_local(dom)
    kib = host_kib(heavy)
    assert after["heavy"].used_mb == -(-kib // 1024) and after["heavy"].used_mb > 0
    assert after["quiet"].used_mb == 0 and after["quiet"].used_at is not None and after["heavy"].used_at is not None
    notices = over_quota_notices()
    assert len(notices) == 1, [n.subject for n in notices]
    assert notices[0].user_id == mail_world.aa.user_id and notices[0].org_id == mail_world.a.id
    assert heavy == notices[0].params["address"] and f"/mail/mailboxes/{boxes['heavy'].id}" == notices[0].link
    # The next sweep measures again but does not repeat the notice for the same excess.
    assert [j.status for j in run_with_consumer(mail_world, mail_world.system)] == [JobStatus.SUCCESSFUL]
    assert len(over_quota_notices()) == 1


# ---- no host needed ------------------------------------------------------------------------------


@pytest.fixture
def mail_rows(booted, make):
    """Three mail hosts: one with a live mailbox, one down, one with only a deleted mailbox."""
    org = make.make_org("Ministry U")
    rows = {}
    with db.unit_of_work() as s:
        for name, state, status in (
            ("mu1", HostState.ACTIVE, MailboxStatus.ACTIVE),
            ("mu2", HostState.DOWN, MailboxStatus.ACTIVE),
            ("mu3", HostState.ACTIVE, MailboxStatus.DELETED),
        ):
            host = Host(
                name=name,
                address=f"10.77.0.{len(rows) + 250}",
                host_key_type="ssh-ed25519",
                host_key="AAAA",
                fingerprint="x",
                state=state,
            )
            host.roles = {"mail"}
            s.add(host)
            s.flush()
            dom = MailDomain(
                org_id=org.id,
                name=f"{name}.gov.test",
                host_id=host.id,
                dkim_selector="govhost",
                status=MailDomainStatus.ACTIVE,
            )
            s.add(dom)
            s.flush()
            s.add(Mailbox(org_id=org.id, domain_id=dom.id, local_part="user", quota_mb=100, status=status))
            rows[name] = host.id
    return org, rows


def test_usage_collect_is_staff_only_one_job_per_usable_host(mail_rows, make, cli):
    org, hosts = mail_rows
    admin_user = make.make_user(Role.ORG_ADMIN, org)
    dc = make.make_org("DC", kind=OrgKind.DATACENTER, slug="dcu")
    op, auditor = (make.actor_of(make.make_user(r, dc)) for r in (Role.OPERATOR, Role.AUDITOR))
    for who in (make.actor_of(admin_user), auditor):
        with pytest.raises(PanelError) as exc:
            mail_svc.mail_usage_collect(who)
        assert exc.value.key == "auth.forbidden"
    result = cli("mail", "usage", "--as", admin_user.username)
    assert result.exit_code == 2 and "auth.forbidden" in result.output
    result = cli("mail", "usage")  # root on the panel server: what the schedule runs
    assert result.exit_code == 0 and "1 usage job(s)" in result.output, result.output
    with db.unit_of_work() as s:
        first = s.scalars(select(Job).where(Job.kind == "mail.usage")).one()
        assert first.host_ids == [hosts["mu1"]]  # not the down host, not the one without live mailboxes
    assert mail_svc.mail_usage_collect(op) == []  # the first has not run yet: no pile-up behind it
    with db.unit_of_work() as s:
        s.execute(update(Job).where(Job.id == first.id).values(status=JobStatus.SUCCESSFUL))
    assert [(j.kind, j.host_ids) for j in mail_svc.mail_usage_collect(op)] == [("mail.usage", [hosts["mu1"]])]
    with db.unit_of_work() as s:
        audit = list(s.scalars(select(AuditEntry.action).where(AuditEntry.action == "mail.usage_collect")))
    assert len(audit) == 3


def test_doveadm_table_parsing_is_strict_about_columns():
    table = (
        "Username\tQuota name\tType\tValue\tLimit\t%\n"
        "a@x.gov.test\tMailbox quota\tSTORAGE\t12345\t20480\t60\n"
        "a@x.gov.test\tMailbox quota\tMESSAGE\t1\t-\t0\n"
        "b@x.gov.test\tMailbox quota\tSTORAGE\t-\t20480\t0\n"
        "c@x.gov.test\tMailbox quota\tSTORAGE; id\n"
    )
    assert parse_quota_tab(table) == {"a@x.gov.test": 12345}
    assert parse_quota_tab("") == {}
    with pytest.raises(ValueError, match="unexpected header"):
        parse_quota_tab("Quota name\tType\tValue\n")


def test_usage_hook_updates_1500_mailboxes_in_two_statements_and_notifies_once(mail_rows, make):
    """The on_success hook with a table shaped like doveadm's (the lab test reads the real one):
    one UPDATE per 1,000 mailboxes, whole MB rounded up, a notice only for newly over-quota ones."""
    org, hosts = mail_rows
    admin = make.make_user(Role.ORG_ADMIN, org)
    with db.unit_of_work() as s:
        dom = s.scalars(select(MailDomain).where(MailDomain.host_id == hosts["mu1"])).one()
        s.add_all(
            [
                Mailbox(
                    org_id=org.id,
                    domain_id=dom.id,
                    local_part=f"u{i}",
                    quota_mb=100,
                    used_mb=200 if i == 1 else 0,
                    status=MailboxStatus.ACTIVE,
                )
                for i in range(1500)
            ]
        )
        domain = dom.name
    # u0: 1 KiB -> 1 MB; u1 was over and stays over (no new notice); u2 newly over; u3 exactly at the quota.
    kib = {0: 1, 1: 150 * 1024, 2: 100 * 1024 + 1, 3: 100 * 1024}
    rows = [f"u{i}@{domain}\tMailbox quota\tSTORAGE\t{kib.get(i, 2048)}\t102400\t0" for i in range(1500)]
    table = "Username\tQuota name\tType\tValue\tLimit\t%\n" + "\n".join(rows) + f"\nghost@{domain}\tq\tSTORAGE\t9\t-\t0"
    job = jobs_svc.job_submit(
        system_actor("cli", "t"), kind="mail.usage", org_id=None, host_ids=[hosts["mu1"]], params={}
    )
    updates = []
    with db.unit_of_work() as s:

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("UPDATE MAILBOXES"):
                updates.append(statement)

        event.listen(s.get_bind(), "before_cursor_execute", count)
        try:
            cap_mail._usage_done(s.get(Job, job.id), s, Result("successful", 0, data={"mail_usage_tab": table}))
            s.flush()
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", count)
    assert len(updates) == 2
    used = {b.local_part: b.used_mb for b in boxes_by_local(dom).values()}
    assert (used["u0"], used["u1"], used["u2"], used["u3"], used["u999"], used["user"]) == (1, 150, 101, 100, 2, 0)
    notices = over_quota_notices()
    assert [(n.user_id, n.link) for n in notices] == [(admin.id, f"/mail/mailboxes/{boxes_by_local(dom)['u2'].id}")]
    assert notices[0].params["address"] == f"u2@{domain}"
    with db.unit_of_work() as s:
        assert s.get(Job, job.id).data == {"users_on_host": 1501, "mailboxes_measured": 1500, "over_quota_new": 1}
