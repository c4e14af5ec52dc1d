"""Mail fixtures: our own lab hosts (a mail host and a BIND, addresses no other session uses),
the mail host set up once per session by the real mail.server job, two ministries with verified
domains in zones hosted on that BIND, and helpers to run a request's jobs to their end."""

from __future__ import annotations

import dataclasses
import ssl
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import ClaimMethod, DnsKey, DomainClaim, Zone, ZoneStatus
from panel.capabilities.mail import jobs as cap_mail  # noqa: F401  (registers the mail job kinds)
from panel.capabilities.mail import service as mail_svc
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services import requests as req_svc
from panel.services.actor import system_actor
from provisioners import dns as D
from provisioners import lab as L
from tests.capabilities.mail.lab_session import DNS_HOST, MAIL_HOST
from tests.support.factories import make_lab_host
from tests.support.fixtures import login_as, token_for  # noqa: F401  (fixtures)
from tests.support.jobs import run_pending_jobs

ZONES = {"a": "mina.gov.test", "b": "minb.gov.test"}
PASSWORD = "Tr0ub4dor&3-horse"


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


def clear_zone(mail_lab, name: str) -> None:
    """Empty a zone on the session's BIND (its SOA and NS aside). BIND outlives a test but the
    panel's database does not: records an earlier test published (a DKIM key the host has since
    replaced) would stay beside this test's, and a second TXT at the selector fails DKIM."""
    server = D.Server(DNS_HOST[1], source=L.GATEWAY)
    D.converge(server, D.Tsig("govhost", mail_lab.secret), name, wanted=[], force=True)


finish_jobs = run_pending_jobs  # the name this suite's tests import


def job_text(job: Job) -> str:
    return f"{job.kind} {job.status}: {job.explanation} {job.traceback[-2000:]}"


@pytest.fixture
def mail_world(booted, mail_lab, make):
    """Hosts, TSIG key, two ministries (org admins), an operator, zones + verified claims, and the
    mail host set up by the real mail.server job (first test of the session pays for it)."""
    dns_host = make_lab_host(*DNS_HOST, {"dns"}, probe=False, capacities={"mailboxes": 5000})
    mail_host = make_lab_host(*MAIL_HOST, {"mail"}, probe=False, capacities={"mailboxes": 5000})
    with db.unit_of_work() as s:
        s.add(DnsKey(name="govhost", secret_sealed=security.seal(mail_lab.secret)))
    a, b = make.make_org("Ministry A"), make.make_org("Ministry B")
    ua, ub = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcmail")
    op = make.make_user(Role.OPERATOR, dc)
    system = system_actor("worker", "test")
    zones = {}
    served = mail_lab.state.setdefault("zones", set())  # zones the session's BIND serves already
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
            job = None
            if ZONES[key] in served:
                # The session's first test created it on BIND with the real dns.zone_create job (the
                # dns suite tests that job); later tests' rows say what that job's end would: one
                # playbook run less per zone and test.
                zone.move_to(ZoneStatus.ACTIVE)
                zone.host_id = dns_host.id
            else:
                job = jobs_svc.job_submit(
                    system, kind="dns.zone_create", org_id=org.id, host_ids=[dns_host.id], params={"zone_id": zone.id}
                )
        if job is not None:
            assert run_job(job.id, booted) == "successful"
            served.add(ZONES[key])
        clear_zone(mail_lab, ZONES[key])
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
    # ... and what it published to DNS: a dns.records_apply job per zone, which belongs to no request
    jobs += finish_jobs(world.settings)
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
