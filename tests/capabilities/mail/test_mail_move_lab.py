"""Moving a mail domain between real mail hosts (issue 21, drain a host): mm1 and mm2 run postfix,
dovecot and OpenDKIM (set up by the real mail.server job), mmdns runs the panel's BIND with the
ministry's zone. A mailbox's mail and password go to mm2 with the move job, the domain's MX/A
records are switched through DNS's service and BIND, mm1 loses the domain only after that, and the
mailbox then receives new mail on mm2 and keeps the old. A move whose new host fails leaves the
domain on mm1, which never stopped serving it. Draining mm2 then moves the domain back to mm1 the
same way (a host drain moves mail domains, not only sites)."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import smtplib
import ssl
import time
from types import SimpleNamespace

import dns.message
import dns.query
import pytest
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import ClaimMethod, DnsKey, DomainClaim, Zone
from panel.capabilities.mail import moves
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import MailDomain, MailMove
from panel.errors import Conflict
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job, JobEvent
from panel.models.moves import MoveStatus
from panel.models.tenants import OrgKind, Role
from panel.services import drain, requests
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.capabilities.dns.conftest import run_bare
from tests.lab.conftest import own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.clients import imap, smtp
from tests.support.factories import make_lab_host
from tests.support.jobs import run_pending_jobs

pytestmark = pytest.mark.lab

HOSTS = suite_hosts("mail_moves")
ZONE = "mm.gov.test"
PASSWORD = "Tr0ub4dor&3-horse"


@pytest.fixture(scope="module")
def mm_lab(tmp_path_factory):
    with own_lab_hosts(HOSTS):
        secret = base64.b64encode(os.urandom(32)).decode()
        r = run_bare(
            "dns_server.yml",
            HOSTS["mmdns"],
            {"bind_server_key_name": "govhost"},
            {"tsig_secret": secret},
            tmp_path_factory.mktemp("jobs"),
        )
        assert r.ok, r.explanation
        yield SimpleNamespace(secret=secret, data=str(tmp_path_factory.mktemp("data")))


@pytest.fixture
def settings(settings, request):
    lab = request.getfixturevalue("mm_lab")
    return dataclasses.replace(
        settings,
        ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())),
        dns=dataclasses.replace(
            settings.dns, primary_host="mmdns", resolver=HOSTS["mmdns"], nameservers=("ns1.govhost.test",)
        ),
        data_dir=lab.data,
    )


def host_row(name: str, role: str) -> Host:
    return make_lab_host(name, HOSTS[name], {role}, probe=False, capacities={"mailboxes": 100})


finish_jobs = run_pending_jobs


def job_text(job: Job) -> str:
    return f"{job.id} {job.kind} {job.status.value}: {job.explanation} {job.traceback[-1500:]}"


def all_ok(jobs: list[Job]) -> None:
    for job in jobs:
        assert job.status.value == "successful", job_text(job)


@pytest.fixture
def world(booted, mm_lab, make):
    for ip in HOSTS.values():
        L.close_control_sockets(ip)
    mm1, mm2, bind = host_row("mm1", "mail"), host_row("mm2", "mail"), host_row("mmdns", "dns")
    org = make.make_org("Ministry M")
    admin = make.actor_of(make.make_user(Role.ORG_ADMIN, org), "web")
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcmailmove")
    op = make.actor_of(make.make_user(Role.OPERATOR, dc), "web")
    op2 = make.actor_of(make.make_user(Role.OPERATOR, dc), "web")
    system = system_actor("worker", "test")
    with db.unit_of_work() as s:
        s.add(DnsKey(name="govhost", secret_sealed=security.seal(mm_lab.secret)))
        s.add(DomainClaim(org_id=org.id, domain=ZONE, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()))
        zone = Zone(org_id=org.id, name=ZONE)
        s.add(zone)
        s.flush()
        zone_job = jobs_svc.job_submit(
            system, kind="dns.zone_create", org_id=org.id, host_ids=[bind.id], params={"zone_id": zone.id}
        )
        servers = [
            jobs_svc.job_submit(
                system, kind="mail.server", org_id=None, host_ids=[h.id], params={"auth_failure_delay": 0}
            )
            for h in (mm1, mm2)
        ]
    for job in (zone_job, *servers):
        assert run_job(job.id, booted) == "successful", job_text(job)
    return SimpleNamespace(org=org, admin=admin, op=op, op2=op2, mm1=mm1, mm2=mm2, settings=booted)


def run_request(world, req) -> None:
    if req.status.value == "submitted":
        requests.request_approve(world.op2, req.id)
    all_ok(finish_jobs(world.settings))


def ca_context() -> ssl.SSLContext:
    return ssl.create_default_context(cadata=mail_svc.mail_ca_pem(None))


def deliver(ip: str, to: str, subject: str) -> None:
    s = smtp(ip, 25)
    try:
        s.ehlo("outside.example")
        s.sendmail("friend@outside.example", [to], f"Subject: {subject}\r\n\r\nbody of {subject}\r\n")
    finally:
        s.quit()


def subjects(ip: str, address: str, password: str = PASSWORD) -> list[str]:
    box = imap(ip, 993, use_ssl=True, ssl_context=ca_context())
    try:
        box.login(address, password)
        box.select("INBOX")
        _, found = box.search(None, "ALL")
        out = []
        for num in found[0].split():
            _, data = box.fetch(num, "(BODY[HEADER.FIELDS (SUBJECT)])")
            out.append(data[0][1].decode().split(":", 1)[1].strip())
        return sorted(out)
    finally:
        box.logout()


def wait_subjects(ip: str, address: str, wanted: list[str], timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = subjects(ip, address)
        if set(wanted) <= set(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def a_record(name: str, rdtype: str = "A") -> list[str]:
    answer = dns.query.udp(dns.message.make_query(name, rdtype), HOSTS["mmdns"], timeout=5, source=L.GATEWAY)
    return sorted(rd.to_text() for rrset in answer.answer for rd in rrset)


def host_sh(name: str, cmd: str) -> str:
    return L.host_exec(name, "bash", "-c", cmd, check=False).stdout


def move_now(move_id: int) -> MailMove:
    with db.unit_of_work() as s:
        return s.get(MailMove, move_id, populate_existing=True)


def domain_now() -> MailDomain:
    with db.unit_of_work() as s:
        return s.scalars(select(MailDomain).where(MailDomain.name == ZONE)).one()


def test_a_mail_domain_moves_with_its_mail_and_receives_on_the_new_host(world):
    run_request(world, mail_svc.mail_domain_create(
        world.op, org_id=world.org.id, name=ZONE, contact=f"it@{ZONE}", host_id=world.mm1.id))  # fmt: skip
    dom = domain_now()
    assert dom.host_id == world.mm1.id and dom.status.value == "active" and dom.dkim_public_key
    key_before = dom.dkim_public_key
    run_request(world, mail_svc.mailbox_create(
        world.admin, domain_id=dom.id,
        mailboxes=[{"local_part": n, "password": PASSWORD} for n in ("sokha", "dara")]))  # fmt: skip
    sokha = f"sokha@{ZONE}"
    deliver(HOSTS["mm1"], sokha, "before the move")
    assert wait_subjects(HOSTS["mm1"], sokha, ["before the move"]) == ["before the move"]
    assert a_record(f"mail.{ZONE}") == [HOSTS["mm1"]]

    # 1. mm2's postfix cannot build maps (postmap missing): the move fails, mm1 keeps the domain
    host_sh("mm2", "mv /usr/sbin/postmap /usr/sbin/postmap.off")
    m = moves.mail_domain_move(world.op, domain_id=dom.id, host_id=world.mm2.id)
    with pytest.raises(Conflict) as moving:  # no mailbox change while the move is open
        mail_svc.mailbox_create(world.admin, domain_id=dom.id, mailboxes=[{"local_part": "x", "password": PASSWORD}])
    assert moving.value.key == "mail.domain_moving"
    jobs = finish_jobs(world.settings)
    assert [(j.kind, j.status.value) for j in jobs] == [
        ("mail.domain_move", "failed"),
        ("mail.domain_move_undo", "failed"),  # it needs postmap too: said, harmless
    ], [job_text(j) for j in jobs]
    failed = move_now(m.id)
    assert failed.status == MoveStatus.FAILED and "postmap" in failed.error
    assert domain_now().host_id == world.mm1.id
    assert a_record(f"mail.{ZONE}") == [HOSTS["mm1"]]
    deliver(HOSTS["mm1"], sokha, "during the failure")
    assert "during the failure" in wait_subjects(HOSTS["mm1"], sokha, ["during the failure"])

    # 2. mm2 repaired; the undo retried clears what the failed move left there
    host_sh("mm2", "mv /usr/sbin/postmap.off /usr/sbin/postmap")
    jobs_svc.job_retry(world.op, jobs[1].id)
    all_ok(finish_jobs(world.settings))
    assert ZONE not in host_sh("mm2", "cat /etc/dovecot/govhost/users /etc/postfix/govhost/domains")

    # 3. the move goes through: copy, DNS switch, then mm1 cleaned
    m = moves.mail_domain_move(world.op, domain_id=dom.id, host_id=world.mm2.id)
    jobs = finish_jobs(world.settings)
    assert [(j.kind, j.status.value) for j in jobs] == [
        ("mail.domain_move", "successful"),
        ("dns.records_apply", "successful"),
        ("mail.domain_move_cleanup", "successful"),
    ], [job_text(j) for j in jobs]
    assert move_now(m.id).status == MoveStatus.DONE
    dom = domain_now()
    assert dom.host_id == world.mm2.id and dom.last_error == "" and dom.dkim_public_key == key_before
    assert a_record(f"mail.{ZONE}") == [HOSTS["mm2"]]
    assert a_record(ZONE, "MX") == [f"10 mail.{ZONE}."]
    # the mailbox kept its mail and its password on mm2, and receives new mail there
    assert wait_subjects(HOSTS["mm2"], sokha, []) == ["before the move", "during the failure"]
    deliver(HOSTS["mm2"], sokha, "after the move")
    assert wait_subjects(HOSTS["mm2"], sokha, ["after the move"]) == [
        "after the move", "before the move", "during the failure"
    ]  # fmt: skip
    assert subjects(HOSTS["mm2"], f"dara@{ZONE}") == []
    # mm1 has the domain no more: no users, no maps, no key; its maildirs archived
    assert ZONE not in host_sh("mm1", "cat /etc/dovecot/govhost/users /etc/postfix/govhost/domains")
    assert host_sh("mm1", f"ls /etc/opendkim/keys/{ZONE} 2>/dev/null") == ""
    assert "sokha-" in host_sh("mm1", f"ls /var/vmail-archive/{ZONE}/")
    s = smtp(HOSTS["mm1"], 25)
    try:
        s.ehlo("outside.example")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("friend@outside.example", [sokha], "Subject: x\r\n\r\nx")
    finally:
        s.quit()
    # the password hashes went host to host as files, never through a job's events or data
    with db.unit_of_work() as s:
        texts = [json.dumps(j.data or {}) + j.explanation for j in s.scalars(select(Job))]
        texts += [e.stdout or "" for e in s.scalars(select(JobEvent))]
    hashed = host_sh("mm2", f"grep '^{sokha}:' /etc/dovecot/govhost/users").split(":")[1]
    assert hashed.startswith("{") and not any(hashed in t for t in texts)

    # 4. draining mm2 moves its mail domains too: the domain goes back to mm1 with its mail
    report = drain.host_drain(world.op, world.mm2.id)
    assert report.state == "draining"
    assert [(i.kind, i.name, i.to_host, i.error) for i in report.items] == [("mail_domain", ZONE, "mm1", "")]
    jobs = finish_jobs(world.settings)
    assert [(j.kind, j.status.value) for j in jobs] == [
        ("mail.domain_move", "successful"),
        ("dns.records_apply", "successful"),
        ("mail.domain_move_cleanup", "successful"),
    ], [job_text(j) for j in jobs]
    assert domain_now().host_id == world.mm1.id and a_record(f"mail.{ZONE}") == [HOSTS["mm1"]]
    assert wait_subjects(HOSTS["mm1"], sokha, []) == ["after the move", "before the move", "during the failure"]
    deliver(HOSTS["mm1"], sokha, "after the drain")
    assert "after the drain" in wait_subjects(HOSTS["mm1"], sokha, ["after the drain"])
    assert ZONE not in host_sh("mm2", "cat /etc/dovecot/govhost/users /etc/postfix/govhost/domains")
