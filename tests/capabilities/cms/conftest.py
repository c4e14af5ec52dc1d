"""WordPress lab fixtures: our own lab hosts (a web host that also answers gov.test for Pebble, a DB
host set up once per session by the real databases.server job), Pebble on its own ports, two
ministries with verified domains, and a helper that runs every pending job the way the worker does."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from types import SimpleNamespace

import pytest

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites.models import Plan
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.capabilities.sites.conftest import pebble_at
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.factories import make_lab_host
from tests.support.jobs import run_pending_jobs

HOSTS = suite_hosts("cms")
WEB, DBH = "wpw1", "wpdb1"
PEBBLE_PORT, PEBBLE_MGMT = 14080, 15080
ZONE = """$TTL 60
@ IN SOA ns.gov.test. hostmaster.gov.test. 1 60 60 600 60
@ IN NS ns.gov.test.
ns IN A {ip}
* IN A {ip}
"""


@pytest.fixture(scope="session")
def cms_lab(tmp_path_factory):
    with own_lab_hosts(HOSTS) as hosts, contextlib.ExitStack() as pebble:  # started by the first test that needs it
        yield (
            SimpleNamespace(hosts=hosts, db_ready=False, pebble=None, stack=pebble),
            tmp_path_factory.mktemp("cms-pebble"),
        )


def start_pebble(state, d) -> None:
    """Pebble on the lab gateway (our own ports), resolving names at the web host's BIND."""
    if not shutil.which("pebble"):
        pytest.skip("Debian package pebble is not installed")
    state.pebble = state.stack.enter_context(pebble_at(d, PEBBLE_PORT, PEBBLE_MGMT, HOSTS[WEB]))


def start_bind() -> None:
    """Authoritative gov.test on the web host (every name -> it), for Pebble's HTTP-01 lookups."""
    script = (
        f"cat > /var/lib/bind/db.gov.test <<'EOF'\n{ZONE.format(ip=HOSTS[WEB])}EOF\n"
        'echo \'zone "gov.test" { type master; file "/var/lib/bind/db.gov.test"; };\' '
        "> /etc/bind/named.conf.local\n"
        "/etc/init.d/named start </dev/null >/dev/null 2>&1; sleep 0.3\n"
    )
    L.host_exec(WEB, "bash", "-c", script)


def _host_row(name: str, roles: set[str], **fields) -> Host:
    ip = HOSTS[name]
    L.close_control_sockets(ip)
    assert_lab_route(ip)
    return make_lab_host(name, ip, roles, **fields)


@pytest.fixture
def settings(settings, request):
    if "wp_world" not in request.fixturenames:
        return settings
    state, d = request.getfixturevalue("cms_lab")
    L.close_control_sockets(HOSTS[WEB])
    L.host_reset(WEB)  # every test starts from a pristine web host
    start_bind()
    if state.pebble is None:
        start_pebble(state, d)
    return dataclasses.replace(
        settings,
        ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())),
        sites=dataclasses.replace(
            settings.sites, acme_directory=state.pebble.directory, acme_ca_bundle=str(state.pebble.tls_cert)
        ),
    )


def job_text(job: Job) -> str:
    return f"{job.kind} {job.status}: {job.explanation} {(job.traceback or '')[-2000:]}"


run_pending = run_pending_jobs  # the name this suite's tests import


# Every database and user a ministry has on the DB host: its prefix (letters, its id, "_";
# databases.rules.prefix_of). The drops are made by MariaDB itself from its own catalogue.
_APP_DROPS = """
SELECT CONCAT('DROP DATABASE `', schema_name, '`;') FROM information_schema.schemata
 WHERE schema_name REGEXP '^[a-z]+[0-9]+_'
UNION ALL
SELECT CONCAT('DROP USER `', user, '`@`', host, '`;') FROM mysql.user WHERE user REGEXP '^[a-z]+[0-9]+_'
"""


def forget_app_databases() -> None:
    """The DB host keeps its server (set up once per session) but not what earlier tests made on it.
    Each test has a new panel database, so its first instance is wp1 of a ministry with the same id
    again: an earlier test's database of that name, WordPress and all, would still be on the host
    (and the install refuses to take such a database over)."""
    L.host_exec(DBH, "bash", "-c", "set -o pipefail; mysql -N -B | mysql", input=_APP_DROPS)
    left = L.host_exec(DBH, "mysql", "-N", "-B", input=_APP_DROPS).stdout
    assert left.strip() == "", f"still on the DB host: {left}"


@pytest.fixture
def wp_world(booted, cms_lab, make):
    """The web host (role web, BIND for gov.test) and the DB host (MariaDB set up by the real
    databases.server job once per session), two ministries with verified domains, an operator."""
    state, _d = cms_lab
    web = _host_row(WEB, {"web"}, capacities={"sites": 50}, facts={"php_versions": ["8.2"]})
    dbh = _host_row(DBH, {"db"})
    if not state.db_ready:
        job = jobs_svc.job_submit(
            system_actor("worker", "test"),
            kind="databases.server",
            org_id=None,
            host_ids=[dbh.id],
            params={"engines": ["mariadb"]},
        )
        assert run_job(job.id, booted) == "successful", "the DB host could not be set up"
        state.db_ready = True
    else:
        forget_app_databases()
        with db.unit_of_work() as s:
            s.get(Host, dbh.id).facts = {"db_engines": ["mariadb"]}
    people = two_ministries(make, "dcwp", Plan(name="basic", disk_mb=500, memory_mb=128, max_children=3, upload_mb=16))
    return SimpleNamespace(**people, web=web, dbh=dbh, ip=HOSTS[WEB], settings=booted, pebble=state.pebble)


def two_ministries(make, dc_slug: str, plan: Plan) -> dict:
    """Ministries A and B with a webmaster each and verified domains a.gov.test and b.gov.test, an
    operator of the data center, and the site plan `plan`: what the CMS suites' worlds share."""
    a, b = make.make_org("Ministry A", slug="mina"), make.make_org("Ministry B", slug="minb")
    wa, wb = make.make_user(Role.WEBMASTER, a), make.make_user(Role.WEBMASTER, b)
    op = make.make_user(Role.OPERATOR, make.make_org("Data Center", kind=OrgKind.DATACENTER, slug=dc_slug))
    with db.unit_of_work() as s:
        for org, dom in ((a, "a.gov.test"), (b, "b.gov.test")):
            s.add(
                DomainClaim(org_id=org.id, domain=dom, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow())
            )
        s.add(plan)
    actor = make.actor_of
    return {"a": a, "b": b, "wa": actor(wa), "wb": actor(wb), "op": actor(op), "ua": wa, "ub": wb}
