"""DNS fixtures: a real BIND on our own lab host (dns1, an address no other test session uses, so
these tests run beside the shared `lab` fixture), set up once per session by the govhost playbook;
the panel configured to use it; fresh zones made through the real zone.create job.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import os
import signal
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import DnsKey, Zone
from panel.jobs import queue, tasks
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import ansible, base
from provisioners import dns as D
from provisioners import lab as L
from tests.lab.conftest import assert_lab_route, lab_unavailable
from tests.lab.suites import suite_hosts

DNS_HOST = ("dns1", suite_hosts("dns")["dns1"])  # each suite its own addresses: tests/lab/suites.py
WEB_HOST = ("dnsw1", L.lab_ip(47))
PLAYBOOKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "playbooks")
TEMPLATES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "templates")
_n = itertools.count(1)


@dataclass
class Bind:
    name: str
    ip: str
    secret: str

    @property
    def server(self) -> D.Server:
        return D.Server(self.ip, source=L.GATEWAY)

    @property
    def tsig(self) -> D.Tsig:
        return D.Tsig("govhost", self.secret)


def lab_target(name: str, ip: str) -> base.Target:
    kinds = dict(line.split()[1:3] for line in L.known_hosts_path().read_text().splitlines())
    return base.Target(
        name=name, address=ip, host_key_type="ssh-ed25519", host_key=kinds["ssh-ed25519"], source_address=L.GATEWAY
    )


def run_bare(playbook: str, bind_ip: str, extravars: dict, secrets: dict, tmp) -> base.Result:
    """A playbook through provisioners.ansible, without the panel (session setup)."""
    spec = base.PlaybookSpec(
        playbook=playbook,
        project_dir=PLAYBOOKS,
        ssh_key=str(L.lab_key_path()),
        extravars=extravars,
        templates_dir=os.path.abspath(TEMPLATES),
    )
    events: list = []
    result = ansible.run_playbook(
        spec,
        [lab_target(DNS_HOST[0], bind_ip)],
        on_event=events.append,
        timeout=300,
        secrets=secrets,
        workdir_parent=str(tmp),
    )
    result.events = events
    return result


@pytest.fixture(scope="session")
def bind(tmp_path_factory):
    """BIND set up on dns1 by playbooks/dns_server.yml, with a TSIG key made for this session."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    name, ip = DNS_HOST
    if os.environ.get("GOVHOST_TEST_DNS_REUSE") == "1":
        yield _running_bind(name, ip)
        return
    try:
        L.build()
        L.net_up()
        L.hosts_up([f"{name}={ip}"], fresh=True)
        assert_lab_route(ip)
        secret = base64.b64encode(os.urandom(32)).decode()
        r = run_bare(
            "dns_server.yml",
            ip,
            {"bind_server_key_name": "govhost"},
            {"tsig_secret": secret},
            tmp_path_factory.mktemp("jobs"),
        )
        assert r.ok, r.explanation
        yield Bind(name, ip, secret)
    finally:
        L.hosts_down([name])


def _running_bind(name: str, ip: str) -> Bind:
    """GOVHOST_TEST_DNS_REUSE=1 (a developer's run beside a gate that holds dns1): use the BIND that
    session set up, with its key read from the host; never start, reset or stop it. Every test
    works in zones of its own, so the two sessions do not see each other."""
    if L.route_dev(ip) != L.BRIDGE or not L.port_open(ip, 53, timeout=2):
        pytest.skip(f"GOVHOST_TEST_DNS_REUSE=1 but nothing answers on {ip}:53")
    key = L.host_exec(name, "cat", "/etc/bind/govhost.key").stdout
    return Bind(name, ip, key.split('secret "')[1].split('"')[0])


@pytest.fixture
def settings(settings, request):
    """Lab tests (marked `lab`, or asking for BIND) get the lab's BIND and key; the others (surfaces,
    zone lookup) need no BIND and must not start one (they run in the gate's SQLite pass too)."""
    if "bind" not in request.fixturenames and request.node.get_closest_marker("lab") is None:
        return settings
    bind = request.getfixturevalue("bind")
    dns = dataclasses.replace(settings.dns, primary_host=bind.name, resolver=bind.ip, nameservers=("ns1.govhost.test",))
    ansible_cfg = dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path()))
    return dataclasses.replace(settings, dns=dns, ansible=ansible_cfg)


@pytest.fixture
def dns_env(booted, bind, make):
    """The panel's view of the server: the host row (role dns) and the key, as server-setup leaves them."""
    target = lab_target(bind.name, bind.ip)
    with db.unit_of_work() as s:
        host = Host(
            name=bind.name,
            address=bind.ip,
            host_key_type=target.host_key_type,
            host_key=target.host_key,
            fingerprint="test",
        )
        host.roles = {"dns"}
        s.add(host)
        s.add(DnsKey(name="govhost", secret_sealed=security.seal(bind.secret)))
        s.flush()
    return host


@dataclass
class Ministry:
    org: object
    user: object
    actor: object


@pytest.fixture
def ministry(make):
    def build(name: str) -> Ministry:
        org = make.make_org(f"Ministry {name}")
        user = make.make_user(Role.ORG_ADMIN, org)
        return Ministry(org, user, make.actor_of(user, "web"))

    return build


@pytest.fixture
def staff(make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug=f"dc{next(_n)}")
    return make.make_user(Role.ADMIN, dc)


def zone_name() -> str:
    return f"z{uuid.uuid4().hex[:10]}.gov.test"


@pytest.fixture
def live_zone(dns_env, booted):
    """live_zone(org) -> an ACTIVE zone of org, created on BIND by the real zone.create job."""

    def create(org, name: str | None = None) -> Zone:
        actor = system_actor("worker")
        with db.unit_of_work() as s:
            zone = Zone(org_id=org.id, name=name or zone_name())
            s.add(zone)
            s.flush()
            job = jobs_svc.job_submit(
                actor, kind="dns.zone_create", org_id=org.id, host_ids=[dns_env.id], params={"zone_id": zone.id}
            )
        status = run_job(job.id, booted)
        assert status == "successful", _job_text(job.id)
        with db.unit_of_work() as s:
            return s.get(Zone, zone.id)

    return create


@pytest.fixture
def send_records(booted):
    """send_records() -> how many pending `dns.records_apply` jobs it ran (as the worker would),
    each to success: what sites and mail publish reaches BIND only through them."""

    def run() -> int:
        with db.unit_of_work() as s:
            ids = list(
                s.scalars(
                    select(Job.id)
                    .where(Job.kind == "dns.records_apply", Job.status == JobStatus.PENDING)
                    .order_by(Job.id)
                )
            )
        for job_id in ids:
            assert run_job(job_id, booted) == "successful", _job_text(job_id)
        return len(ids)

    return run


@pytest.fixture
def applied(booted):
    """applied(actor, zone_id, force=False) -> the `dns.records_apply` job that `dns_apply` submits,
    run here as the worker would and returned finished (its status and explanation)."""
    from panel.capabilities.dns import service as svc

    def run(actor, zone_id: int, *, force: bool = False) -> Job:
        job = svc.dns_apply(actor, zone_id, force=force)
        assert job.kind == "dns.records_apply" and job.status == JobStatus.PENDING  # nothing sent yet
        run_job(job.id, booted)
        with db.unit_of_work() as s:
            return s.get(Job, job.id)

    return run


def _job_text(job_id: int) -> str:
    with db.unit_of_work() as s:
        job = s.get(Job, job_id)
        return f"{job.status} {job.explanation} {job.traceback}"


@pytest.fixture
def consumer(booted, bind):
    """A real Huey consumer (2 worker threads) in this process; reaps first, like `govhost worker`."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    queue.huey().flush()
    tasks.reap(booted)
    c = tasks.consumer(booted, workers=2)
    c.start()
    yield c
    c.stop(graceful=True)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    queue.huey().flush()


@pytest.fixture
def web_host(booted):
    """The Host row of the web host sites are placed on (dnsw1 .47: only its address is used, the
    site job is not run, so the lab host itself is not started)."""
    target = lab_target(*WEB_HOST)
    with db.unit_of_work() as s:
        host = Host(
            name=WEB_HOST[0],
            address=WEB_HOST[1],
            host_key_type=target.host_key_type,
            host_key=target.host_key,
            fingerprint="test",
            capacities={"sites": 10},
            facts={"php_versions": ["8.2"]},
        )
        host.roles = {"web"}
        s.add(host)
        s.flush()
    return host
