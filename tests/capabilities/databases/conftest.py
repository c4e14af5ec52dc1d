"""Database fixtures: our own lab hosts (a DB host and a web host, addresses no other suite uses),
the DB host set up once per session by the real databases.server job, two ministries, and helpers
to run a request's jobs and to connect as a tenant user from the web host (the allowed address)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest

from panel import db
from panel.capabilities.databases import service as db_svc
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services import pki
from panel.services import requests as req_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.lab.conftest import own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.factories import make_lab_host
from tests.support.jobs import run_pending_jobs

HOSTS = suite_hosts("databases")
DB_HOST, WEB_HOST = ("dbt1", HOSTS["dbt1"]), ("dbw1", HOSTS["dbw1"])


@pytest.fixture(scope="session")
def db_lab():
    with own_lab_hosts(HOSTS) as hosts:
        yield SimpleNamespace(hosts=hosts, state={"server": set()})


@pytest.fixture
def settings(settings, request):
    if "db_world" not in request.fixturenames:
        return settings
    ansible_cfg = dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path()))
    return dataclasses.replace(settings, ansible=ansible_cfg)


def job_text(job: Job) -> str:
    return f"{job.kind} {job.status}: {job.explanation} {job.traceback[-2000:]}"


finish_jobs = run_pending_jobs  # the name this suite's tests import


def approve_and_run(world, req) -> list[Job]:
    if req.status.value == "submitted":
        req_svc.request_approve(world.op, req.id)
    jobs = finish_jobs(world.settings, req.id)
    for job in jobs:
        assert job.status.value == "successful", job_text(job)
    return jobs


def link_web_site(world, dbrow, org=None, actor=None) -> None:
    """A site of the ministry on the lab web host uses the database (a site row: its page need not
    serve), so the web host may connect: the default access."""
    from tests.support import factories

    site = factories.make_site(org or world.a, host=world.web_host)
    approve_and_run(world, db_svc.database_link_set(actor or world.aa, database_id=dbrow.id, workload_id=site.id))


@pytest.fixture
def db_world(booted, db_lab, make):
    """Hosts, two ministries (org admins), an operator, and the DB host set up by the real
    databases.server job (the session's first test pays for it)."""
    db_host = make_lab_host(*DB_HOST, {"db"}, probe=False)
    web_host = make_lab_host(*WEB_HOST, {"web"}, probe=False)
    a, b = make.make_org("Ministry A", slug="mina"), make.make_org("Ministry B", slug="minb")
    ua, ub = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcdb")
    op = make.make_user(Role.OPERATOR, dc)
    system = system_actor("worker", "test")
    engines = ["mariadb", "postgresql"]
    if set(engines) - db_lab.state["server"]:
        job = jobs_svc.job_submit(
            system, kind="databases.server", org_id=None, host_ids=[db_host.id], params={"engines": engines}
        )
        assert run_job(job.id, booted) == "successful", job_text(finish_jobs(booted) or [job])
        db_lab.state["server"] |= set(engines)
        with db.unit_of_work() as s:  # what the real job recorded, for the session's later tests
            facts = s.get(Host, db_host.id).facts or {}
            db_lab.state["console"] = facts.get("db_console") or []
            db_lab.state["console_missing"] = facts.get("db_console_missing") or {}
        # the panel's CA that signed the console's certificate: a panel keeps it, so later tests do
        ca_dir = pki.panel_ca_dir()
        db_lab.state["ca"] = {f.name: f.read_bytes() for f in ca_dir.iterdir()}
    else:
        ca_dir = pki.panel_ca_dir()
        ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, data in db_lab.state.get("ca", {}).items():
            (ca_dir / name).write_bytes(data)
            (ca_dir / name).chmod(0o600)
        with db.unit_of_work() as s:
            row = s.get(Host, db_host.id)
            row.facts = {
                **(row.facts or {}),
                "db_engines": engines,
                "db_console": db_lab.state.get("console", []),
                "db_console_missing": db_lab.state.get("console_missing", {}),
            }
    return SimpleNamespace(
        a=a,
        b=b,
        aa=make.actor_of(ua, "web"),
        ab=make.actor_of(ub, "web"),
        op=make.actor_of(op, "web"),
        db_host=db_host,
        web_host=web_host,
        db_ip=DB_HOST[1],
        web_ip=WEB_HOST[1],
        settings=booted,
        system=system,
    )


CLIENT = r"""
import json, sys
args = json.load(sys.stdin)
try:
    if args["engine"] == "mariadb":
        import pymysql
        conn = pymysql.connect(host=args["host"], user=args["user"], password=args["password"],
                               database=args["database"], connect_timeout=5, autocommit=True,
                               ssl=args.get("ssl"))
    else:
        import psycopg2
        conn = psycopg2.connect(host=args["host"], user=args["user"], password=args["password"],
                                dbname=args["database"], connect_timeout=5, sslmode=args.get("sslmode", "prefer"))
        conn.autocommit = True
    cur = conn.cursor()
    out = []
    for sql in args["sql"]:
        cur.execute(sql)
        out.append(cur.fetchall() if cur.description else cur.rowcount)
    print(json.dumps({"ok": True, "out": out}, default=str))
except Exception as e:
    print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
"""


def sql_from(lab_host: str, **args) -> dict:
    """Run SQL as a tenant user with the real driver INSIDE a lab host (its address is the client's),
    the password on stdin (never on a command line)."""
    proc = L.host_exec(lab_host, "python3", "-c", CLIENT, input=json.dumps(args), check=False, timeout=60)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"client printed nothing: {proc.stdout[-500:]} {proc.stderr[-1000:]}"
    return json.loads(lines[-1])


from tests.support.fixtures import login_as, token_for  # noqa: F401, E402  (fixtures)
