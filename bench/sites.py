"""Web hosting benchmark on one lab host, through govhost's real path (request -> approve -> Huey
worker -> ansible-runner -> nginx/php-fpm), in one run:

(a) approve-to-first-200: from request_approve() until http://<fqdn>/ answers 200 from the host
    (the site is new: user, dirs, pool, SFTP, vhost); median of RUNS.
(b) 100 sites in ONE batch (one bulk request, one job, one playbook run), from approve until all
    100 are active, and its ratio to the shell floor: one `ssh host bash -s` script doing the same
    steps (user, dirs, index, pool, vhost, enable; one php-fpm and one nginx reload).

Run as root with no arguments: `python bench/sites.py`. Lab host sb1 = 10.77.0.227; SQLite
database and queue in a temporary directory; everything is removed at the end.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select

from panel import db
from panel.boot import boot
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.config import Settings
from panel.db import Base
from panel.jobs import tasks
from panel.models.hosts import Host, HostRole
from panel.models.quotas import QuotaLimit
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.services import requests
from panel.services.actor import actor_for_user
from provisioners import lab as L
from provisioners import probes
from tests.conftest import settings_dict
from tests.support.clients import http_get

HOST, IP = "sb1", L.lab_ip(227)  # .227 of the lab block (GOVHOST_LAB_NET)
RUNS = 5
BATCH = 100


def setup(tmp: Path) -> tuple:
    raw = settings_dict(tmp, f"sqlite:///{tmp / 'bench.db'}")
    raw["ansible"]["ssh_key"] = str(L.lab_key_path())
    settings = Settings.from_dict(raw)
    engine = create_engine(settings.database.url)
    Base.metadata.create_all(engine)
    engine.dispose()
    boot(settings)
    with db.unit_of_work() as s:
        dc, org = (
            Organization(slug="dc", name="DC", kind=OrgKind.DATACENTER),
            Organization(slug="m", name="M", kind=OrgKind.MINISTRY),
        )
        s.add_all([dc, org])
        s.flush()
        # No one logs in here: the password hash is a placeholder that matches nothing.
        users = [
            User(username=n, email=f"{n}@bench.invalid", full_name=n, password_hash="!")  # noqa: S106
            for n in ("op", "wm", "op2")
        ]
        s.add_all(users)
        s.flush()
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
                max_sites=10_000,
                facts={"php_versions": ["8.2"]},
            )
            old.roles = [HostRole.WEB]
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
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"{fqdn} never answered 200")


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


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-sites-"))
    L.build()
    L.net_up()
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
    print(f"figure: site_approve_to_200_s = {statistics.median(one):.2f} s")
    print(f"figure: sites_100_batch_s = {many:.2f} s")
    print(f"figure: sites_100_floor_ratio = {many / statistics.median(floors):.1f} x")


if __name__ == "__main__":
    main()
