"""Mail fixtures: our own lab hosts (a mail host and a BIND, addresses no other session uses),
the mail host set up once per session by the real mail.server job, two ministries with verified
domains in zones hosted on that BIND, and helpers to run a request's jobs to their end."""

from __future__ import annotations

import base64
import dataclasses
import os
import ssl
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import ClaimMethod, DnsKey, DomainClaim, Zone
from panel.capabilities.mail import jobs as cap_mail  # noqa: F401  (registers the mail job kinds)
from panel.capabilities.mail import service as mail_svc
from panel.jobs.runner import run_job
from panel.models.hosts import Host, HostRole
from panel.models.jobs import Job
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services import requests as req_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.capabilities.dns.conftest import run_bare
from tests.lab.conftest import assert_lab_route, lab_unavailable
from tests.lab.suites import suite_hosts
from tests.support.fixtures import login_as, token_for  # noqa: F401  (fixtures)

MAIL_HOST = ("mt1", suite_hosts("mail")["mt1"])  # each suite its own addresses: tests/lab/suites.py
DNS_HOST = ("mtdns", suite_hosts("mail")["mtdns"])
ZONES = {"a": "mina.gov.test", "b": "minb.gov.test"}
PASSWORD = "Tr0ub4dor&3-horse"


@pytest.fixture(scope="session")
def mail_lab(tmp_path_factory):
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    names = [MAIL_HOST, DNS_HOST]
    try:
        L.build()
        L.net_up()
        L.hosts_up([f"{n}={ip}" for n, ip in names], fresh=True)
        for _, ip in names:
            assert_lab_route(ip)
        secret = base64.b64encode(os.urandom(32)).decode()
        r = run_bare(
            "dns_server.yml",
            DNS_HOST[1],
            {"bind_server_key_name": "govhost"},
            {"tsig_secret": secret},
            tmp_path_factory.mktemp("jobs"),
        )
        assert r.ok, r.explanation
        yield SimpleNamespace(secret=secret, mail_ip=MAIL_HOST[1], dns_ip=DNS_HOST[1], state={"server": None})
    finally:
        for _, ip in names:
            L.close_control_sockets(ip)
        L.hosts_down([n for n, _ in names], forget=True)


@pytest.fixture
def settings(settings, request, tmp_path_factory):
    """Lab tests (those using mail_world) get the lab's DNS, key and a session-wide data dir."""
    if "mail_world" not in request.fixturenames:
        return settings
    mail_lab = request.getfixturevalue("mail_lab")
    dns = dataclasses.replace(
        settings.dns, primary_host=DNS_HOST[0], resolver=DNS_HOST[1], nameservers=("ns1.govhost.test",)
    )
    ansible_cfg = dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path()))
    # One data dir for the session: the mail CA must outlive a test (hosts keep its certificate).
    data = mail_lab.state.setdefault("data", str(tmp_path_factory.mktemp("maildata")))
    return dataclasses.replace(settings, dns=dns, ansible=ansible_cfg, data_dir=data)


def host_row(name: str, ip: str, role: HostRole) -> Host:
    kinds = dict(line.split()[1:3] for line in L.known_hosts_path().read_text().splitlines())
    with db.unit_of_work() as s:
        host = Host(
            name=name,
            address=ip,
            host_key_type="ssh-ed25519",
            host_key=kinds["ssh-ed25519"],
            fingerprint="test",
            max_mailboxes=5000,
        )
        host.roles = {role}
        s.add(host)
        s.flush()
        return host


def finish_jobs(settings, request_id: int | None = None) -> list[Job]:
    """Run every pending job (of the request) in this process; return them finished."""
    done = []
    while True:
        with db.unit_of_work() as s:
            stmt = select(Job.id).where(Job.status == "pending").order_by(Job.id)
            if request_id is not None:
                stmt = stmt.where(Job.request_id == request_id)
            ids = list(s.scalars(stmt))
        if not ids:
            return done
        for job_id in ids:
            run_job(job_id, settings)
            with db.unit_of_work() as s:
                done.append(s.get(Job, job_id))


def job_text(job: Job) -> str:
    return f"{job.kind} {job.status}: {job.explanation} {job.traceback[-2000:]}"


@pytest.fixture
def mail_world(booted, mail_lab, make):
    """Hosts, TSIG key, two ministries (org admins), an operator, zones + verified claims, and the
    mail host set up by the real mail.server job (first test of the session pays for it)."""
    dns_host = host_row(*DNS_HOST, HostRole.DNS)
    mail_host = host_row(*MAIL_HOST, HostRole.MAIL)
    with db.unit_of_work() as s:
        s.add(DnsKey(name="govhost", secret_sealed=security.seal(mail_lab.secret)))
    a, b = make.make_org("Ministry A"), make.make_org("Ministry B")
    ua, ub = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcmail")
    op = make.make_user(Role.OPERATOR, dc)
    system = system_actor("worker", "test")
    zones = {}
    for key, org in (("a", a), ("b", b)):
        with db.unit_of_work() as s:
            s.add(
                DomainClaim(
                    org_id=org.id, domain=ZONES[key], token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()
                )
            )
            zone = Zone(org_id=org.id, name=ZONES[key])
            s.add(zone)
            s.flush()
            job = jobs_svc.job_submit(
                system, kind="dns.zone_create", org_id=org.id, host_ids=[dns_host.id], params={"zone_id": zone.id}
            )
        assert run_job(job.id, booted) == "successful"
        zones[key] = zone.id
    if mail_lab.state["server"] is None:
        job = jobs_svc.job_submit(
            system, kind="mail.server", org_id=None, host_ids=[mail_host.id], params={"auth_failure_delay": 0}
        )
        assert run_job(job.id, booted) == "successful", job_text(finish_jobs(booted) or job)
        mail_lab.state["server"] = True
    else:  # the lab host is set up already (this session's first test did it); the new row says so
        with db.unit_of_work() as s:
            row = s.get(Host, mail_host.id)
            row.facts = {**(row.facts or {}), "mail_server_at": db.utcnow().isoformat(timespec="seconds")}
    return SimpleNamespace(
        a=a,
        b=b,
        aa=make.actor_of(ua, "web"),
        ab=make.actor_of(ub, "web"),
        op=make.actor_of(op, "web"),
        mail_host=mail_host,
        dns_host=dns_host,
        zones=zones,
        ip=MAIL_HOST[1],
        dns_ip=DNS_HOST[1],
        settings=booted,
        system=system,
    )


def approve_and_run(world, req) -> list[Job]:
    """Approve (when the policy asks a person) and run the request's jobs."""
    if req.status.value == "submitted":
        req_svc.request_approve(world.op, req.id)
    jobs = finish_jobs(world.settings, req.id)
    for job in jobs:
        assert job.status.value == "successful", job_text(job)
    return jobs


def make_domain(world, key: str = "a", **kw) -> object:
    actor, org = (world.aa, world.a) if key == "a" else (world.ab, world.b)
    req = mail_svc.mail_domain_create(actor, org_id=org.id, name=ZONES[key], contact=f"it@{ZONES[key]}", **kw)
    approve_and_run(world, req)
    with db.unit_of_work() as s:
        return s.scalars(select(mail_svc.MailDomain).where(mail_svc.MailDomain.name == ZONES[key])).one()


def ca_context(world) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=mail_svc.mail_ca_pem(world.aa))
