"""Tenant database benchmark on one lab DB host (MariaDB and PostgreSQL), through govhost's real
jobs, in one run:

(a) 100 databases with their users (an owner each, linked to a site on a web host) applied by ONE
    databases.apply job (one playbook run, one govhost_mariadb call), timed from the job's
    submission until it ended, then checked on the server (100 databases, 100 users); the same on
    PostgreSQL (one govhost_postgresql call: databases, owner roles, users, pg_hba lines), checked
    there (100 databases, 100 login roles, 100 pg_hba lines for the web host).
(b) the same work as a naive loop of community.mysql tasks (mysql_db, mysql_user with its grant per
    database), measured on SAMPLE databases and extrapolated; the figure is (naive per database x
    100) / (a).
(c) the usage sweep over 1,000 databases on the host: the sweep's call until its databases.usage job
    recorded every size (one query on the host), against the same query run on the host without
    Ansible (the baseline).

Run as root with no arguments: `python bench/databases.py`. Lab host dbbench = .206 of the lab
block; SQLite database in a temporary directory; everything is removed at the end.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bench._common import boot_fresh, lab_settings
from panel import db
from panel.capabilities.databases import jobs as db_jobs
from panel.capabilities.databases import rules
from panel.capabilities.databases.models import Database, DbGrant, DbLink, DbStatus, DbUser, Engine, Profile
from panel.capabilities.databases.sweeps import usage_collect
from panel.jobs import capabilities, runner
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.tenants import Organization, OrgKind
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import ansible as ansible_mod
from provisioners import lab as L
from provisioners.ansible import run_playbook
from provisioners.base import PlaybookSpec, Target
from tests.support import factories

HOST, IP = "dbbench", L.lab_ip(206)  # .206 of the lab block (GOVHOST_LAB_NET)
WEB_IP = L.lab_ip(207)  # a web host's address the users may come from (no host needed there)
BATCH, SAMPLE, SWEEP = 100, 10, 1000
BENCH_DIR = Path(__file__).resolve().parent
SYSTEM = system_actor("cli", "bench")
USAGE_SQL = (
    "SELECT s.SCHEMA_NAME, COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) FROM information_schema.SCHEMATA s"
    " LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME GROUP BY s.SCHEMA_NAME"
)


def stage(t0: float, label: str) -> None:
    print(f"stage: {time.monotonic() - t0:8.3f} s  {label}", flush=True)


def setup(tmp: Path):
    settings = boot_fresh(lab_settings(tmp))
    with db.unit_of_work() as s:
        host = Host(name=HOST, address=IP, host_key_type="ssh-ed25519", host_key=L.base_host_key(), fingerprint="b")
        host.roles = {"db"}
        host.capacities = {"databases": 10_000}
        web = Host(name="dbbweb", address=WEB_IP, host_key_type="ssh-ed25519", host_key="AAAA", fingerprint="w")
        web.roles = {"web"}
        org = Organization(slug="bench", name="Bench Ministry", kind=OrgKind.MINISTRY)
        s.add_all([host, web, org])
    site = factories.make_site(org, host=web)
    return settings, host, org, site


def run_jobs(settings) -> None:
    with db.unit_of_work() as s:
        ids = list(s.scalars(select(Job.id).where(Job.status == "pending").order_by(Job.id)))
    for job_id in ids:
        if run_job(job_id, settings) != "successful":
            with db.unit_of_work() as s:
                job = s.get(Job, job_id)
                raise SystemExit(f"job {job.kind} failed: {job.explanation} {job.traceback[-1500:]}")


def catalog(
    host: Host, org: Organization, site, names: list[str], with_users: bool, engine: Engine = Engine.MARIADB
) -> tuple[list, list]:
    """The rows approvals would write (databases, owners, grants, the site link). A PostgreSQL user
    may not bear its database's name (that is the database's owner role): `<name>_o` there."""
    common = {"org_id": org.id, "host_id": host.id, "engine": engine, "status": DbStatus.PENDING}
    suffix = "_o" if engine == Engine.POSTGRESQL else ""
    with db.unit_of_work() as s:
        dbs = [Database(**common, name=n, size_mb=rules.DEFAULT_SIZE_MB, conn_limit=rules.DEFAULT_CONN) for n in names]
        s.add_all(dbs)
        s.flush()
        s.add_all([DbLink(database_id=d.id, kind="site", workload_id=site.id) for d in dbs])
        users = []
        if with_users:
            users = [DbUser(**common, name=d.name + suffix) for d in dbs]
            for u, d in zip(users, dbs, strict=True):
                u.grants = [DbGrant(database_id=d.id, profile=Profile.OWNER)]
            s.add_all(users)
            s.flush()
        return [d.id for d in dbs], [u.id for u in users]


def apply(settings, host: Host, db_ids: list[int], user_ids: list[int], engine: Engine = Engine.MARIADB) -> float:
    password = "Bench-password-2024"  # noqa: S105 (the bench's own users)
    verifier = rules.mariadb_verifier(password) if engine == Engine.MARIADB else rules.scram_verifier(password)
    started = time.monotonic()
    jobs_svc.job_submit(
        SYSTEM,
        kind="databases.apply",
        org_id=None,
        host_ids=[host.id],
        params={"database_ids": db_ids, "user_ids": user_ids},
        secrets={str(u): verifier for u in user_ids},
    )
    run_jobs(settings)
    return time.monotonic() - started


def on_server(sql: str) -> str:
    return L.host_exec(HOST, "mariadb", "-N", "-e", sql).stdout.strip()


def on_postgresql(sql: str) -> str:
    return L.host_exec(HOST, "runuser", "-u", "postgres", "--", "psql", "-At", "-c", sql).stdout.strip()


def naive_loop(settings, tmp: Path) -> float:
    target = Target(
        name=HOST, address=IP, host_key_type="ssh-ed25519", host_key=L.base_host_key(), source_address=L.GATEWAY
    )
    spec = PlaybookSpec(
        playbook="databases_naive_loop.yml",
        project_dir=str(BENCH_DIR),
        ssh_key=settings.ansible.ssh_key,
        extravars={"loop_names": [f"loop{i:03d}" for i in range(SAMPLE)], "loop_client": WEB_IP},
        control_dir=str(L.lab_paths().cp),
    )
    started = time.monotonic()
    result = run_playbook(spec, [target], timeout=900, secrets={}, workdir_parent=str(tmp / "jobs"))
    if not result.ok:
        raise SystemExit(f"naive loop failed: {result.explanation}")
    return time.monotonic() - started


@contextmanager
def timed_parts(kind: str, spent: dict[str, float]):
    """Time the parts of a job kind's run: the job's build, its run (a playbook through
    ansible-runner, or a `local` run and, inside it, its SSH command), and the record (its
    on_success hook)."""
    cap = capabilities.get(kind)
    real = {"build": cap.build, "on_success": cap.on_success, "local": cap.local}
    real_playbook, real_command = runner.run_playbook, db_jobs.host_command

    def clock(name, fn):
        def wrapped(*a, **kw):
            began = time.monotonic()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + time.monotonic() - began

        return wrapped

    object.__setattr__(cap, "build", clock("build", real["build"]))
    object.__setattr__(cap, "on_success", clock("record", real["on_success"]))
    if cap.local is not None:
        object.__setattr__(cap, "local", clock("local run", real["local"]))
    runner.run_playbook = clock("playbook", real_playbook)
    db_jobs.host_command = clock("of which the SSH command", real_command)
    try:
        yield spent
    finally:
        for name, fn in real.items():
            object.__setattr__(cap, name, fn)
        runner.run_playbook, db_jobs.host_command = real_playbook, real_command


@contextmanager
def module_timelines(found: list):
    """Collect the `timeline` a module reports in its result (govhost_postgresql: where its time
    went) from the runner's events, before they are redacted to their text."""
    real = ansible_mod.EventCollector

    class Collector(real):
        def handle(self, ev: dict) -> bool:
            res = (ev.get("event_data") or {}).get("res")
            if ev.get("event") == "runner_on_ok" and isinstance(res, dict) and res.get("timeline"):
                found.append(res["timeline"])
            return super().handle(ev)

    ansible_mod.EventCollector = Collector
    try:
        yield found
    finally:
        ansible_mod.EventCollector = real


def timed_apply(settings, host: Host, db_ids: list[int], user_ids: list[int], engine: Engine, t0: float) -> float:
    """apply(), with a stage line per part of the job and per stage of the module's own timeline."""
    spent: dict[str, float] = {}
    with timed_parts("databases.apply", spent), module_timelines([]) as inside:
        elapsed = apply(settings, host, db_ids, user_ids, engine)
    parts = ", ".join(f"{k} {v:.3f} s" for k, v in spent.items())
    rest = elapsed - sum(v for k, v in spent.items() if not k.startswith("of which"))
    stage(t0, f"{engine.value} batch parts: {parts}; the rest (submit, claim, events, commit) {rest:.3f} s")
    for timeline in inside:
        for label, seconds in timeline:
            stage(t0, f"  {engine.value} module: {seconds:7.3f} s  {label}")
    return elapsed


def sweep(settings, t0: float) -> tuple[float, float]:
    spent: dict[str, float] = {}
    with timed_parts("databases.usage", spent):
        started = time.monotonic()
        swept = usage_collect(SYSTEM)
        spent["sweep call"] = time.monotonic() - started
        stage(t0, f"usage sweep submitted {len(swept)} job(s) in {spent['sweep call']:.3f} s")
        run_jobs(settings)
        elapsed = time.monotonic() - started
    parts = ", ".join(f"{k} {v:.3f} s" for k, v in spent.items())
    rest = elapsed - sum(v for k, v in spent.items() if not k.startswith("of which"))
    stage(t0, f"usage sweep parts: {parts}; the rest (claim, events, commit) {rest:.3f} s")
    with db.unit_of_work() as s:
        measured = s.scalar(select(func.count(Database.id)).where(Database.used_at.is_not(None)))
    if measured < SWEEP:
        raise SystemExit(f"only {measured} databases measured")
    started = time.monotonic()
    on_server(USAGE_SQL)  # the same one query, run on the host without Ansible (the baseline)
    return elapsed, time.monotonic() - started


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-dbbench-"))
    t0 = time.monotonic()
    try:
        L.build()
        L.net_up()
        L.hosts_up([f"{HOST}={IP}"], fresh=True)
        stage(t0, "lab host up")
        settings, host, org, site = setup(tmp)
        jobs_svc.job_submit(
            SYSTEM,
            kind="databases.server",
            org_id=None,
            host_ids=[host.id],
            params={"engines": ["mariadb", "postgresql"]},
        )
        run_jobs(settings)
        stage(t0, "MariaDB and PostgreSQL set up by databases.server")
        db_ids, user_ids = catalog(host, org, site, [f"bench1_d{i:03d}" for i in range(BATCH)], with_users=True)
        batch_s = apply(settings, host, db_ids, user_ids)
        stage(t0, f"batch: {BATCH} databases + users by one databases.apply job in {batch_s:.2f} s")
        dbs_on = on_server("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'bench1\\_d%'")
        users_on = on_server(
            f"SELECT COUNT(*) FROM mysql.user WHERE User LIKE 'bench1\\_d%' AND Host = '{WEB_IP}'"  # noqa: S608 (lab)
        )
        if (dbs_on, users_on) != (str(BATCH), str(BATCH)):
            raise SystemExit(f"server holds {dbs_on} databases and {users_on} users, not {BATCH}")
        pg_ids, pg_users = catalog(
            host, org, site, [f"bench1_p{i:03d}" for i in range(BATCH)], with_users=True, engine=Engine.POSTGRESQL
        )
        pg_batch_s = timed_apply(settings, host, pg_ids, pg_users, Engine.POSTGRESQL, t0)
        stage(t0, f"PostgreSQL batch: {BATCH} databases + users by one databases.apply job in {pg_batch_s:.2f} s")
        held = (
            on_postgresql("SELECT count(*) FROM pg_database WHERE datname LIKE 'bench1\\_p%'"),
            on_postgresql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'bench1\\_p%\\_o' AND rolcanlogin"),
            on_postgresql(
                f"SELECT count(*) FROM pg_hba_file_rules WHERE user_name[1] LIKE 'bench1\\_p%' AND address = '{WEB_IP}'"  # noqa: S608 (lab constants)
            ),
        )
        if held != (str(BATCH),) * 3:
            raise SystemExit(f"PostgreSQL holds {held} (databases, login roles, pg_hba lines), not {BATCH} each")
        loop_s = naive_loop(settings, tmp)
        per_db = loop_s / SAMPLE
        stage(t0, f"naive loop: {SAMPLE} databases in {loop_s:.2f} s = {per_db:.3f} s each")
        more, _ = catalog(host, org, site, [f"bench1_u{i:04d}" for i in range(SWEEP - BATCH)], with_users=False)
        apply(settings, host, more, [])
        stage(t0, f"{SWEEP} databases on the host")
        sweep_s, bare_s = sweep(settings, t0)
        stage(
            t0,
            f"usage sweep over {SWEEP} databases in {sweep_s:.2f} s (bare query on the host: {bare_s:.2f} s)",
        )
        print(f"batch: {BATCH} databases with their users in {batch_s:.2f} s (submission -> job ended)")
        print(f"naive loop: {per_db:.3f} s per database -> {per_db * BATCH:.1f} s for {BATCH} (extrapolated)")
        print(f"PostgreSQL batch: {BATCH} databases with their users in {pg_batch_s:.2f} s")
        print(f"figure: databases_100_batch_s = {batch_s:.2f} s")
        print(f"figure: databases_100_batch_postgresql_s = {pg_batch_s:.2f} s")
        print(f"figure: databases_batch_vs_loop_ratio = {per_db * BATCH / batch_s:.1f} x")
        print(f"figure: db_usage_sweep_1000_s = {sweep_s:.2f} s")
    finally:
        db.remove()
        L.close_control_sockets(IP)
        L.hosts_down([HOST], forget=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
