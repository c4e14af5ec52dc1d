"""Bulk provisioning benchmark, in one run:

(a) plan of 10,000 rows: 4,000 sites, 5,000 mailboxes and 1,000 DNS records in three CSV files of one
    ministry (claims, a mail domain and a hosted zone in place; SQLite in a temporary directory),
    through bulk_plan() (read, check every column, classify against the database, store the plan
    and its rows). Baseline in the same run: the same three files through the CSV reader alone
    (services.tabular.read_records), the floor of reading them at all.
(b) 1,000 sites across 2 lab hosts from file to all live: bulk_plan -> submit -> approve -> Huey
    worker (2 threads) -> ansible-runner -> nginx/php-fpm on both hosts, until all 1,000 sites are
    active and every one of them answers with its own page. Baseline in the same run: the plan+approval
    part alone (everything before the first job), so the rest is the jobs' time on the hosts.

Run as root with no arguments: `python bench/bulk.py`. Lab hosts bk1/bk2 = .243/.244 of the lab block
(GOVHOST_LAB_NET); everything is removed at the end. Figures:
  figure: bulk_plan_10000_s = N s
  figure: bulk_1000_sites_2_hosts_s = N s
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bench._common import boot_fresh, dc_ministry_users, lab_settings
from panel import capabilities, db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim, Zone, ZoneStatus
from panel.capabilities.mail.models import MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.jobs import tasks
from panel.models.hosts import Host
from panel.models.quotas import QuotaLimit
from panel.models.tenants import Membership, Organization, Role
from panel.models.users import User
from panel.services import bulk, requests
from panel.services.actor import actor_for_user
from panel.services.tabular import read_records
from provisioners import lab as L
from provisioners import probes
from tests.support.clients import http_get

HOSTS = {"bk1": L.lab_ip(243), "bk2": L.lab_ip(244)}
T0 = time.perf_counter()


def stage(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", flush=True)


def setup(tmp: Path):
    capabilities.load()
    settings = boot_fresh(lab_settings(tmp))
    with db.unit_of_work() as s:
        dc, org, users = dc_ministry_users(s, "op", "wm")
        mx = Host(
            name="mx",
            address="198.18.0.1",
            host_key_type="ssh-ed25519",
            host_key="AAAA",
            fingerprint="x",
            facts={"mail_server_at": "2026-01-01"},
            capacities={"mailboxes": 100_000},
        )
        mx.roles = ["mail"]
        s.add(mx)
        s.flush()
        s.add_all(
            [
                Membership(user_id=users[0].id, org_id=dc.id, role=Role.OPERATOR),
                Membership(user_id=users[1].id, org_id=org.id, role=Role.ORG_ADMIN),
                DomainClaim(
                    org_id=org.id, domain="bench.test", token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()
                ),
                MailDomain(
                    org_id=org.id,
                    name="bench.test",
                    host_id=mx.id,
                    dkim_selector="govhost",
                    status=MailDomainStatus.ACTIVE,
                    default_quota_mb=100,
                ),
                Zone(org_id=org.id, name="zone.bench.test", status=ZoneStatus.ACTIVE),
                Plan(name="basic", disk_mb=100),
                *(
                    QuotaLimit(org_id=org.id, resource=r, limit=10**9)
                    for r in ("sites", "disk_mb", "mailboxes", "mail_storage_mb")
                ),
            ]
        )
    with db.unit_of_work() as s:
        op, wm = (
            actor_for_user(s.scalars(select(User).where(User.username == n)).one(), surface="cli") for n in ("op", "wm")
        )
        return settings, op, wm, s.scalars(select(Organization.id).where(Organization.slug == "m")).one()


def files_10000() -> list[tuple[str, str]]:
    sites = "fqdn,plan,tls\n" + "".join(f"s{i}.bench.test,basic,none\n" for i in range(4000))
    boxes = "address,display_name,password\n" + "".join(
        f"u{i}@bench.test,ឈ្មោះ {i},Bench-Passw0rd-{i:05d}\n" for i in range(5000)
    )
    records = "zone,name,type,data\n" + "".join(f"zone.bench.test,h{i},A,192.0.2.{i % 250 + 1}\n" for i in range(1000))
    return [("sites.csv", sites), ("mailboxes.csv", boxes), ("dns_records.csv", records)]


def plan_10000(wm, org_id: int) -> tuple[float, float]:
    files = files_10000()
    started = time.perf_counter()
    for name, text in files:
        rk = bulk.row_kind(name.removesuffix(".csv"))
        read_records(text, rk.column_names, required=rk.required)
    floor = time.perf_counter() - started
    started = time.perf_counter()
    result = bulk.bulk_plan(wm, org_id=org_id, files=files)
    elapsed = time.perf_counter() - started
    assert result.plan.counts == {"create": 10_000}, result.plan.counts
    return elapsed, floor


def web_hosts() -> None:
    with db.unit_of_work() as s:
        for name, ip in HOSTS.items():
            L.close_control_sockets(ip)
            L.host_reset(name)
            kind, blob, fp = probes.fetch_host_key(ip, 22, bind=L.GATEWAY)
            host = Host(
                name=name,
                address=ip,
                host_key_type=kind,
                host_key=blob,
                fingerprint=fp,
                capacities={"sites": 500},
                facts={"php_versions": ["8.2"]},
            )
            host.roles = ["web"]
            s.add(host)


def diagnose(name: str, fqdn: str) -> None:
    """What the host says about a site that does not serve its page (printed before giving up)."""
    script = (
        f"ls -l /etc/nginx/sites-enabled/govhost-{fqdn}.conf /srv/www/{fqdn}/public 2>&1; "
        "ls /etc/nginx/sites-enabled | wc -l; grep -i 'open files' /proc/$(cat /run/nginx.pid)/limits; "
        "ls /proc/$(cat /run/nginx.pid)/fd | wc -l; nginx -T 2>/dev/null | grep -c 'server_name '; "
        "tail -n 20 /var/log/nginx/error.log"
    )
    print(L.host_exec(name, "sh", "-c", script, check=False).stdout, flush=True)


def sites_1000(settings, op, wm, org_id: int) -> tuple[float, float]:
    text = "fqdn,plan,tls\n" + "".join(f"w{i}.bench.test,basic,none\n" for i in range(1000))
    started = time.monotonic()
    plan = bulk.bulk_plan(wm, org_id=org_id, files=[("sites.csv", text)]).plan
    req = bulk.bulk_submit(wm, plan.id)
    requests.request_approve(op, req.id)
    before_jobs = time.monotonic() - started
    stage(f"1,000 sites planned, submitted and approved ({before_jobs:.2f} s); jobs run")
    while time.monotonic() - started < 1800:
        with db.unit_of_work() as s:
            counts = dict(
                s.execute(
                    select(Site.status, func.count()).where(Site.fqdn.like("w%.bench.test")).group_by(Site.status)
                ).all()
            )
        if counts.get(SiteStatus.ACTIVE, 0) == 1000:
            break
        if counts.get(SiteStatus.FAILED):
            raise SystemExit(f"a batch failed: {bulk.bulk_report(wm, plan.id)[:3]}")
        time.sleep(0.2)
    else:
        raise SystemExit("the 1,000 sites were not live in 1800 s")
    active_at = time.monotonic()
    stage(f"all 1,000 sites active ({active_at - started:.2f} s)")
    with db.unit_of_work() as s:
        placed = s.execute(
            select(Site.fqdn, Host.name).join(Host, Site.host_id == Host.id).where(Site.fqdn.like("w%.bench.test"))
        ).all()
    # live: every site answers with its own page (nginx takes a reload a moment after the job ends)
    waiting = list(placed)
    while waiting:
        fqdn, name = waiting[0]
        page = http_get(f"http://{HOSTS[name]}/", host_header=fqdn)
        if page.status == 200 and fqdn in page.text:
            waiting.pop(0)
            continue
        if time.monotonic() - active_at > 60:
            diagnose(name, fqdn)
            raise SystemExit(
                f"{fqdn} on {name} did not serve its own page 60 s after all were active: {page.status}"
                f" ({len(waiting)} of {len(placed)} not serving)"
            )
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    per_host = {n: sum(1 for _, h in placed if h == n) for n in HOSTS}
    stage(f"every site serves its own page (sites per host: {per_host})")
    return elapsed, before_jobs


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-bulk-"))
    settings, op, wm, org_id = setup(tmp)
    stage("database ready")
    plan_s, read_floor = plan_10000(wm, org_id)
    stage(f"plan of 10,000 rows: {plan_s:.2f} s (reading the files alone: {read_floor:.3f} s)")
    L.build()
    L.net_up()
    L.hosts_up([f"{n}={ip}" for n, ip in HOSTS.items()], fresh=True)
    stage("lab hosts up")
    consumer = tasks.consumer(settings, workers=2)
    consumer.start()
    try:
        web_hosts()
        live_s, before_jobs = sites_1000(settings, op, wm, org_id)
    finally:
        consumer.stop(graceful=True)
        for ip in HOSTS.values():
            L.close_control_sockets(ip)
        L.hosts_down(list(HOSTS), forget=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"plan 10,000 rows {plan_s:.2f} s vs reading them {read_floor:.3f} s ({plan_s / read_floor:.0f} x)")
    print(f"1,000 sites live in {live_s:.2f} s, of which plan+submit+approve {before_jobs:.2f} s")
    print(f"figure: bulk_plan_10000_s = {plan_s:.2f} s")
    print(f"figure: bulk_1000_sites_2_hosts_s = {live_s:.2f} s")


if __name__ == "__main__":
    main()
