"""Web hosting benchmark on one lab host, through govhost's real path (request -> approve -> Huey
worker -> ansible-runner -> nginx/php-fpm), in one run:

(a) approve-to-first-200: from request_approve() until http://<fqdn>/ answers 200 from the host
    (the site is new: user, dirs, pool, SFTP, vhost); median of RUNS.
(b) 100 sites in ONE batch (one bulk request, one job, one playbook run), from approve until all
    100 are active, and its ratio to the shell floor: one `ssh host bash -s` script doing the same
    steps (user, dirs, index, pool, vhost, enable; one php-fpm and one nginx reload).
(r) the real path, as a user of the quick start gets it: `govhost demo config` + `govhost demo up`
    (the README's demo data center: BIND primary of gov.test and the ministry's zone mpt.gov.test,
    Pebble as the ACME CA, plans, a verified domain) on demo host sbreal (.228), the job worker as
    its own process (`govhost worker`, as `serve --with-worker` runs it); a webmaster asks for a
    site with the defaults (TLS by ACME), an operator approves; from request_approve() until
    https://<fqdn>/ answers 200 with a certificate the demo CA verifies; median of RUNS, with a
    timeline per run: each job (queued, started, finished), the A record in BIND, the first HTTP
    200 and the first HTTPS 200.
(c) approval under open requests: request_approve() of a 300-site request with ten other open
    300-site requests (3,000 held names) against the same with none open, in a database of its own
    with no worker (the approval's transaction only: names checked, quota, placement, rows, job
    queued); APPROVALS rounds, each one approval with none open and one with OPEN open (filed
    before it, withdrawn after), median of each. A name's check must not grow with the open requests.

Run as root with no arguments: `python bench/sites.py` (`python bench/sites.py approvals` runs (c)
alone, without the lab). Lab host sb1 = .227 of the lab block; SQLite database and queue in a
temporary directory; everything is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
from sqlalchemy import func, select

from bench._common import boot_fresh, dc_ministry_users, lab_settings
from panel import db
from panel.boot import boot
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.cli.demo import MINISTRY_DOMAIN
from panel.config import Settings
from panel.jobs import tasks
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.quotas import QuotaLimit
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.services import requests
from panel.services.actor import actor_for_user
from panel.services.setup import DEMO_SLUG
from provisioners import lab as L
from provisioners import probes
from tests.support.clients import http_get

HOST, IP = "sb1", L.lab_ip(227)  # .227 of the lab block (GOVHOST_LAB_NET)
REAL_HOST, REAL_IP, ACME_PORT = "sbreal", L.lab_ip(228), 14070  # the real path's demo host and Pebble
REPO = Path(__file__).resolve().parent.parent
RUNS = 5
BATCH = 100
APPROVALS, OPEN, BIG = 5, 10, 300


def setup(tmp: Path) -> tuple:
    settings = boot_fresh(lab_settings(tmp))
    with db.unit_of_work() as s:
        dc, org, users = dc_ministry_users(s, "op", "wm", "op2")
        s.add_all(
            [
                Membership(user_id=users[0].id, org_id=dc.id, role=Role.OPERATOR),
                Membership(user_id=users[2].id, org_id=dc.id, role=Role.OPERATOR),
                Membership(user_id=users[1].id, org_id=org.id, role=Role.WEBMASTER),
                DomainClaim(
                    org_id=org.id, domain="bench.test", token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()
                ),
                Plan(name="basic", disk_mb=100),
                QuotaLimit(org_id=org.id, resource="sites", limit=10_000),
                QuotaLimit(org_id=org.id, resource="disk_mb", limit=10**9),
            ]
        )
    with db.unit_of_work() as s:
        op, wm, op2 = (
            actor_for_user(s.scalars(select(User).where(User.username == n)).one(), surface="cli")
            for n in ("op", "wm", "op2")
        )
        return settings, (op, op2), wm, s.scalars(select(Organization.id).where(Organization.slug == "m")).one()


def fresh_host() -> None:
    L.close_control_sockets(IP)
    L.host_reset(HOST)
    kind, blob, fp = probes.fetch_host_key(IP, 22, bind=L.GATEWAY)
    with db.unit_of_work() as s:
        old = s.scalars(select(Host).where(Host.name == HOST)).first()
        if old is None:
            old = Host(
                name=HOST,
                address=IP,
                host_key_type=kind,
                host_key=blob,
                fingerprint=fp,
                capacities={"sites": 10_000},
                facts={"php_versions": ["8.2"]},
            )
            old.roles = ["web"]
            s.add(old)
        s.execute(Site.__table__.delete())


def approve_to_200(op, wm, org_id: int, n: int) -> float:
    fqdn = f"one{n}.bench.test"
    req = sites_svc.site_request(
        wm, action="create", org_id=org_id, payload={"fqdn": fqdn, "plan": "basic", "tls": "none"}
    )
    started = time.monotonic()
    requests.request_approve(op, req.id)
    while time.monotonic() - started < 120:
        try:
            page = http_get(f"http://{IP}/", host_header=fqdn, timeout=2)
            if page.status == 200 and fqdn in page.text:  # the site's own page, not the default server's
                elapsed = time.monotonic() - started
                _job_finished(req.id)
                return elapsed
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"{fqdn} never answered 200")


def _job_finished(request_id: int) -> None:
    """Wait (not counted) until the request's job has ended: the page answers from inside the run, and
    a host reset (fresh_host) under a run still going fails that job and can leave a dead SSH master
    for the next one (seen 2026-12-07: the 100-site batch failed after such a reset)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with db.unit_of_work() as s:
            jobs = s.scalars(
                select(Job).where(Job.request_id == request_id).execution_options(populate_existing=True)
            ).all()
            if jobs and all(j.finished for j in jobs):
                return
        time.sleep(0.05)
    raise SystemExit(f"the job of request {request_id} did not end within 120 s")


def batch(ops, org_id: int) -> float:
    asker, op = ops
    specs = [{"fqdn": f"b{i}.bench.test", "aliases": []} for i in range(BATCH)]
    req = sites_svc.site_request(
        asker, action="create", org_id=org_id, payload={"sites": specs, "plan": "basic", "tls": "none"}
    )
    started = time.monotonic()
    requests.request_approve(op, req.id)
    while time.monotonic() - started < 600:
        with db.unit_of_work() as s:
            counts = dict(
                s.execute(
                    select(Site.status, func.count()).where(Site.fqdn.like("b%.bench.test")).group_by(Site.status)
                ).all()
            )
        if counts.get(SiteStatus.ACTIVE, 0) == BATCH:
            elapsed = time.monotonic() - started
            last = http_get(f"http://{IP}/", host_header=f"b{BATCH - 1}.bench.test")
            assert last.status == 200 and f"b{BATCH - 1}.bench.test" in last.text
            return elapsed
        if counts.get(SiteStatus.FAILED):
            raise SystemExit("the batch job failed")
        time.sleep(0.05)
    raise SystemExit("the batch did not finish in 600 s")


FLOOR = r"""set -e
www=/srv/www
for i in $(seq 0 $((N-1))); do
  f=f$i.bench.test; u=floor$i
  useradd --home-dir $www/$f --no-create-home --shell /usr/sbin/nologin --user-group $u
  install -d -m 0755 $www/$f; install -d -o $u -g www-data -m 2750 $www/$f/public
  install -d -m 0770 -g $u $www/$f/logs; install -d -o $u -g $u -m 0700 $www/$f/tmp
  echo "<h1>$f</h1>" > $www/$f/public/index.html
  printf '[%s]\nuser = %s\ngroup = %s\nlisten = /run/php/f-%s.sock\nlisten.owner = www-data\n' $f $u $u $f \
    > /etc/php/8.2/fpm/pool.d/$f.conf
  printf 'pm = ondemand\npm.max_children = 5\nphp_admin_value[open_basedir] = %s/public:%s/tmp\n' $www/$f $www/$f \
    >> /etc/php/8.2/fpm/pool.d/$f.conf
  printf 'server {\n listen 80;\n server_name %s;\n root %s/public;\n access_log %s/logs/access.log;\n' \
    $f $www/$f $www/$f > /etc/nginx/sites-available/$f.conf
  printf ' location ~ \\.php$ { include fastcgi_params; fastcgi_pass unix:/run/php/f-%s.sock; }\n}\n' $f \
    >> /etc/nginx/sites-available/$f.conf
  ln -sf /etc/nginx/sites-available/$f.conf /etc/nginx/sites-enabled/$f.conf
done
mkdir -p /run/php; php-fpm8.2 -t 2>/dev/null
if [ -s /run/php/php8.2-fpm.pid ]; then kill -USR2 $(cat /run/php/php8.2-fpm.pid); else php-fpm8.2 --daemonize; fi
nginx -t 2>/dev/null
if [ -s /run/nginx.pid ]; then nginx -s reload; else nginx; fi
"""


def floor() -> float:
    L.close_control_sockets(IP)
    L.host_reset(HOST)
    started = time.monotonic()
    subprocess.run(L.ssh_command(IP, f"N={BATCH} bash -s"), input=FLOOR, text=True, check=True, capture_output=True)
    return time.monotonic() - started


# ---- (r) the real path -----------------------------------------------------------------------------


def _govhost(tmp: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GOVHOST_CONFIG": str(tmp / "config.yaml"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "panel.cli.main", *args], cwd=tmp, env=env, capture_output=True, text=True
    )
    if check and done.returncode:
        raise SystemExit(f"govhost {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _real_users(org_slug: str) -> tuple:
    """A webmaster of the demo ministry and an operator (the demo makes only the admin), and room
    in the ministry's budget for the runs (the demo's default is 5 sites)."""
    with db.unit_of_work() as s:
        dc = s.scalars(select(Organization).where(Organization.kind == OrgKind.DATACENTER)).first()
        org = s.scalars(select(Organization).where(Organization.slug == org_slug)).one()
        users = [User(username=n, email=f"{n}@bench.invalid", full_name=n, password_hash="!") for n in ("rwm", "rop")]  # noqa: S106
        s.add_all(users)
        s.flush()
        s.add_all(
            [
                Membership(user_id=users[0].id, org_id=org.id, role=Role.WEBMASTER),
                Membership(user_id=users[1].id, org_id=dc.id, role=Role.OPERATOR),
            ]
        )
        for resource, limit in (("sites", 100), ("disk_mb", 10**7)):
            row = s.scalars(
                select(QuotaLimit).where(QuotaLimit.org_id == org.id, QuotaLimit.resource == resource)
            ).first()
            if row is None:
                s.add(QuotaLimit(org_id=org.id, resource=resource, limit=limit))
            else:
                row.limit = limit
        s.flush()
        return actor_for_user(users[0], surface="web"), actor_for_user(users[1], surface="web"), org.id


def _in_bind(fqdn: str) -> bool:
    query = dns.message.make_query(fqdn, "A")
    try:
        answer = dns.query.udp(query, REAL_IP, timeout=0.3, source=L.GATEWAY)
    except (OSError, dns.exception.DNSException):
        return False
    return any(r.address == REAL_IP for rrset in answer.answer for r in rrset if rrset.rdtype == dns.rdatatype.A)


def _serves(url: str, fqdn: str, cafile: str | None = None) -> bool:
    try:
        page = http_get(url, host_header=fqdn, cafile=cafile, timeout=2)
    except (OSError, ssl.SSLError):
        return False
    return page.status == 200 and fqdn in page.text


def real_once(wm, op, org_id: int, fqdn: str, cafile: str) -> tuple[float, list[str]]:
    """One site on the real path: seconds from approval to the verified HTTPS 200, and its timeline."""
    req = sites_svc.site_request(wm, action="create", org_id=org_id, payload={"fqdn": fqdn, "plan": "small"})
    with db.unit_of_work() as s:
        last_job = s.scalar(select(func.max(Job.id))) or 0
    wall, started = db.utcnow(), time.monotonic()
    requests.request_approve(op, req.id)
    seen: dict[str, float] = {"approve returned": time.monotonic() - started}
    checks = {
        "A record in BIND": lambda: _in_bind(fqdn),
        "HTTP 200": lambda: _serves(f"http://{REAL_IP}/", fqdn),
        "HTTPS 200 (demo CA)": lambda: _serves(f"https://{REAL_IP}/", fqdn, cafile),
    }
    while "HTTPS 200 (demo CA)" not in seen:
        if time.monotonic() - started > 180:
            raise SystemExit(f"{fqdn}: no HTTPS 200 after 180 s; reached {seen}")
        for name, check in checks.items():
            if name not in seen and check():
                seen[name] = time.monotonic() - started
        time.sleep(0.02)
    total = seen["HTTPS 200 (demo CA)"]
    _jobs_ended(last_job)
    with db.unit_of_work() as s:
        # populate_existing: the approval left these jobs in this thread's session (expire_on_commit
        # is off) as `pending`; without it their loaded status stays stale while finished_at, never
        # loaded, comes fresh from the row (pending jobs with a finish time in the timeline).
        jobs = s.scalars(
            select(Job).where(Job.id > last_job).order_by(Job.id).execution_options(populate_existing=True)
        ).all()
        lines = []
        for job in jobs:
            at = [(x - wall).total_seconds() if x else None for x in (job.created_at, job.started_at, job.finished_at)]
            lines.append(
                f"  job {job.kind:<20} queued {at[0]:5.2f}  started "
                + (f"{at[1]:5.2f}" if at[1] is not None else "  -  ")
                + "  finished "
                + (f"{at[2]:5.2f}" if at[2] is not None else "  -  ")
                + f"  {job.status.value}"
            )
    lines += [f"  {name:<26} {when:5.2f}" for name, when in sorted(seen.items(), key=lambda kv: kv[1])]
    return total, lines


def _jobs_ended(after_id: int) -> None:
    """Wait (not counted) until every job since the approval has ended: the page answers from inside
    the create run, whose end is still to come, and the next run's create job would wait for it on
    the host (seen: each run's site job started only when the previous run's had ended, 0.5-1 s
    counted into the next figure)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with db.unit_of_work() as s:
            jobs = s.scalars(select(Job).where(Job.id > after_id).execution_options(populate_existing=True)).all()
            if all(j.finished for j in jobs):
                return
        time.sleep(0.05)
    raise SystemExit(f"jobs after {after_id} did not end within 180 s")


def real_path(tmp: Path) -> list[float]:
    """(r): the quick start's demo data center, then RUNS sites from approval to HTTPS 200."""
    tmp.mkdir(parents=True, exist_ok=True)
    L.hosts_down([REAL_HOST], forget=True)  # a pristine demo host, as the quick start gets
    t0 = time.monotonic()
    _govhost(tmp, "demo", "config", "--host", REAL_HOST, "--address", REAL_IP, "--acme-port", str(ACME_PORT))
    _govhost(tmp, "demo", "up", "--admin", "admin")
    print(f"real path: the quick start's demo data center is up in {time.monotonic() - t0:.1f} s")
    settings = Settings.load(tmp / "config.yaml")
    boot(settings)
    env = {**os.environ, "GOVHOST_CONFIG": str(tmp / "config.yaml"), "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "panel.cli.main", "worker"],
        cwd=tmp,
        env=env,
        stdout=open(tmp / "worker.log", "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wm, op, org_id = _real_users(DEMO_SLUG)
        cafile = settings.sites.acme_root_ca
        _total, lines = real_once(wm, op, org_id, f"warm.{MINISTRY_DOMAIN}", cafile)  # first php-fpm, ssh master
        print("real path warm-up (not counted):\n" + "\n".join(lines))
        out = []
        for n in range(1, RUNS + 1):
            total, lines = real_once(wm, op, org_id, f"real{n}.{MINISTRY_DOMAIN}", cafile)
            print(f"real path run {n}: approve -> HTTPS 200 in {total:.2f} s\n" + "\n".join(lines))
            out.append(total)
        return out
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        _govhost(
            tmp,
            "lab",
            "pebble",
            "--stop",
            "--dir",
            str(Path(settings.sites.acme_ca_bundle).parent),
            "--dns",
            REAL_IP,
            check=False,
        )
        db.remove()
        L.close_control_sockets(REAL_IP)
        L.hosts_down([REAL_HOST], forget=True)


def real_only() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-sites-"))
    L.build()
    L.net_up()
    try:
        real = real_path(tmp / "real")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"real path runs: {', '.join(f'{x:.2f}' for x in real)} s")
    print(f"figure: site_real_path_approve_to_200_s = {statistics.median(real):.2f} s")


# ---- (c) approvals under open requests -------------------------------------------------------------


def _bulk_request(ops, org_id: int, prefix: str):
    specs = [{"fqdn": f"{prefix}{i}.bench.test", "aliases": []} for i in range(BIG)]
    return sites_svc.site_request(
        ops[0], action="create", org_id=org_id, payload={"sites": specs, "plan": "basic", "tls": "none"}
    )


def _approve_timed(ops, org_id: int, prefix: str) -> float:
    req = _bulk_request(ops, org_id, prefix)
    started = time.perf_counter()
    requests.request_approve(ops[1], req.id)
    return time.perf_counter() - started


def approvals(tmp: Path) -> float:
    """(c): the ratio of a 300-site approval with OPEN other open 300-site requests to one with none.
    Rounds alternate the two (none open, OPEN filed, loaded, the OPEN withdrawn), so a machine whose
    load drifts during the run (2 cores shared) weighs on both sides alike; median of each side."""
    tmp.mkdir(parents=True, exist_ok=True)
    _settings, ops, _wm, org_id = setup(tmp)
    with db.unit_of_work() as s:  # a web host row only: no worker runs, the queued jobs are never taken
        host = Host(
            name=HOST,
            address=IP,
            host_key_type="ssh-ed25519",
            host_key="AAAA",
            fingerprint="SHA256:none",
            capacities={"sites": 10_000},
            facts={"php_versions": ["8.2"]},
        )
        host.roles = ["web"]
        s.add(host)
    alone, loaded, filing, withdrawing = [], [], 0.0, 0.0
    for r in range(APPROVALS):
        alone.append(_approve_timed(ops, org_id, f"a{r}x"))
        t0 = time.monotonic()
        held = [_bulk_request(ops, org_id, f"open{r}n{n}x") for n in range(OPEN)]
        t1 = time.monotonic()
        loaded.append(_approve_timed(ops, org_id, f"l{r}x"))
        t2 = time.monotonic()
        for req in held:  # out of the open states: their names are free again
            requests.request_cancel(ops[0], req.id)
        filing, withdrawing = filing + t1 - t0, withdrawing + time.monotonic() - t2
    print(
        f"approvals: {APPROVALS} rounds; {OPEN} open {BIG}-site requests filed in {filing / APPROVALS:.2f} s "
        f"and withdrawn in {withdrawing / APPROVALS:.2f} s a round (not counted)"
    )
    print(
        f"approve {BIG} sites, none open: {', '.join(f'{x:.3f}' for x in alone)} s; "
        f"{OPEN} open: {', '.join(f'{x:.3f}' for x in loaded)} s"
    )
    return statistics.median(loaded) / statistics.median(alone)


def approvals_only() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-sites-"))
    try:
        ratio = approvals(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"figure: approve_300_sites_with_10_open_ratio = {ratio:.2f} x")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-sites-"))
    ratio = approvals(tmp / "approvals")
    L.build()
    L.net_up()
    real = real_path(tmp / "real")
    L.hosts_up([f"{HOST}={IP}"], fresh=True)
    settings, ops, wm, org_id = setup(tmp)
    op = ops[0]
    consumer = tasks.consumer(settings, workers=2)
    consumer.start()
    try:
        fresh_host()
        approve_to_200(op, wm, org_id, 0)  # warm-up: first php-fpm/nginx start, ssh master
        one = [approve_to_200(op, wm, org_id, n) for n in range(1, RUNS + 1)]
        fresh_host()
        many = batch(ops, org_id)
        floors = [floor() for _ in range(3)]
    finally:
        consumer.stop(graceful=True)
        L.close_control_sockets(IP)
        L.hosts_down([HOST], forget=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"approve-to-200 runs: {', '.join(f'{x:.2f}' for x in one)} s; batch {many:.2f} s; "
        f"floor runs: {', '.join(f'{x:.2f}' for x in floors)} s"
    )
    print(f"real path runs: {', '.join(f'{x:.2f}' for x in real)} s (the benchmark-only path: HTTP, no DNS, no ACME)")
    print(f"figure: site_real_path_approve_to_200_s = {statistics.median(real):.2f} s")
    print(f"figure: site_approve_to_200_s = {statistics.median(one):.2f} s")
    print(f"figure: sites_100_batch_s = {many:.2f} s")
    print(f"figure: sites_100_floor_ratio = {many / statistics.median(floors):.1f} x")
    print(f"figure: approve_300_sites_with_10_open_ratio = {ratio:.2f} x")


if __name__ == "__main__":
    {"approvals": approvals_only, "real": real_only}.get(" ".join(sys.argv[1:]), main)()
