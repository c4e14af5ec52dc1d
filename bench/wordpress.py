"""WordPress benchmark (issue 16) on two lab hosts, through govhost's real requests and jobs, in one run:

(a) wp_approve_to_200_s: one instance, from the approval of its request until https://<site>/ answers
    200 with WordPress's front page (certificate verified against Pebble's roots): the database job
    on the DB host, then the install job on the web host, run by the job runner one after the other.
    The site and its certificate exist before (sites' own path, timed by bench/sites.py).
(b) wp_20_batch_s: 20 instances on 20 sites of the same web host, approved together, until all 20
    front pages answer 200; wp_batch_vs_single_ratio = 20 x (a) / (b), (a) being the one-at-a-time
    baseline measured in the same run. Approved before a worker starts their first database job,
    the 20 databases join that one job and its end submits one install job for the 20 sites (one
    playbook run: shared steps once, each site's files, config, install and cron in one module
    call, one pool and one vhost step over all).
(c) wp_update_plan_100_s: a mass update plan over 100 instances filed (the instances with an older
    version found, 100 plan rows written) and approved (its update jobs submitted) on the panel's
    database; the host side of an update (per site: probe, snapshot, update, probe) is not in it.

Run as root with no arguments: `python bench/wordpress.py`. Lab hosts wpbw (.208, web + BIND for
gov.test) and wpbdb (.209, MariaDB) of the lab block, Pebble on the lab gateway (ports 14090/15090);
SQLite database in a temporary directory; everything is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from bench._common import boot_fresh, lab_settings
from panel import capabilities, db
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import plugins, updates
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites.models import Plan, Site
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.quotas import QuotaLimit
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services import requests
from panel.services.actor import system_actor
from provisioners import lab as L
from provisioners import probes
from provisioners.lab.pebble import pebble_down, pebble_up
from tests.capabilities.cms.test_catalogue import plugin_zip
from tests.support import factories
from tests.support.clients import http_get

WEB, DBH = ("wpbw", L.lab_ip(208)), ("wpbdb", L.lab_ip(209))
PEBBLE_PORT, PEBBLE_MGMT = 14090, 15090
BATCH, PLAN = 20, 100
ZONE = """$TTL 60
@ IN SOA ns.gov.test. hostmaster.gov.test. 1 60 60 600 60
@ IN NS ns.gov.test.
ns IN A {ip}
* IN A {ip}
"""


def stage(t0: float, label: str) -> None:
    print(f"stage: {time.monotonic() - t0:8.3f} s  {label}", flush=True)


def start_bind() -> None:
    script = (
        f"cat > /var/lib/bind/db.gov.test <<'EOF'\n{ZONE.format(ip=WEB[1])}EOF\n"
        'echo \'zone "gov.test" { type master; file "/var/lib/bind/db.gov.test"; };\' '
        "> /etc/bind/named.conf.local\n"
        "/etc/init.d/named start </dev/null >/dev/null 2>&1; sleep 0.3\n"
    )
    L.host_exec(WEB[0], "bash", "-c", script)


def host_row(name: str, ip: str, roles: set[str], **fields) -> Host:
    kind, blob, fp = probes.fetch_host_key(ip, 22, bind=L.GATEWAY)
    with db.unit_of_work() as s:
        host = Host(name=name, address=ip, port=22, ssh_user="root", host_key_type=kind, host_key=blob, fingerprint=fp)
        for k, v in fields.items():
            setattr(host, k, v)
        host.roles = roles
        s.add(host)
        s.flush()
        return host


def _objects(job: Job) -> str:
    p = job.params or {}
    for key in ("instance_ids", "database_ids", "site_ids"):
        if key in p:
            return f"{len(p[key])} {key.removesuffix('_ids')}(s)"
    return ""


def run_pending(settings, limit: int = 200, t0: float | None = None) -> list[Job]:
    """Every pending job, oldest first, as the worker runs them (chained jobs too), until none;
    with t0, one timeline line per job (kind, what it carried, seconds)."""
    done: list[Job] = []
    for _ in range(limit):
        with db.unit_of_work() as s:
            ids = list(s.scalars(select(Job.id).where(Job.status == "pending").order_by(Job.id)))
        if not ids:
            return done
        for job_id in ids:
            started = time.monotonic()
            if run_job(job_id, settings) != "successful":
                with db.unit_of_work() as s:
                    job = s.get(Job, job_id)
                    raise SystemExit(f"job {job.kind} failed: {job.explanation} {(job.traceback or '')[-1500:]}")
            with db.unit_of_work() as s:
                job = s.get(Job, job_id)
                done.append(job)
                if t0 is not None:
                    took = time.monotonic() - started
                    stage(t0, f"  job {job.id} {job.kind} ({_objects(job)}) ran {took:.2f} s")
    raise SystemExit("jobs kept coming")


def setup(tmp: Path, pebble):
    capabilities.load()  # every capability's tables, before they are created
    sites = {"acme_directory": pebble.directory, "acme_ca_bundle": str(pebble.tls_cert)}
    settings = boot_fresh(lab_settings(tmp, sites=sites))
    web = host_row(*WEB, {"web"}, capacities={"sites": 500}, facts={"php_versions": ["8.2"]})
    dbh = host_row(*DBH, {"db"})
    org = factories.make_org("Bench Ministry", slug="bench")
    dc = factories.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcbench")
    wm = factories.actor_of(factories.make_user(Role.WEBMASTER, org))
    op = factories.actor_of(factories.make_user(Role.OPERATOR, dc))
    op2 = factories.actor_of(factories.make_user(Role.ADMIN, dc))
    with db.unit_of_work() as s:
        s.add(
            DomainClaim(
                org_id=org.id, domain="a.gov.test", token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()
            )
        )
        s.add(Plan(name="basic", disk_mb=100, memory_mb=128, max_children=2, upload_mb=16))
        for resource in ("sites", "disk_mb", "databases", "db_storage_mb", "cms_instances"):
            s.add(QuotaLimit(org_id=org.id, resource=resource, limit=1_000_000))
    return settings, web, dbh, org, wm, op, op2


def make_sites(settings, op, op2, org, names: list[str]) -> None:
    """Sites with their Pebble certificates, by the sites capability's own requests (10 a request)."""
    for i in range(0, len(names), 10):
        chunk = names[i : i + 10]
        payload = {"sites": [{"fqdn": n} for n in chunk], "plan": "basic"}
        req = requests.request_create(op, kind="sites.site_create", org_id=org.id, payload=payload)
        if req.status.value == "submitted":
            requests.request_approve(op2, req.id)
    run_pending(settings)


def site_id(fqdn: str) -> int:
    with db.unit_of_work() as s:
        site = s.scalars(select(Site).where(Site.fqdn == fqdn)).one()
        if site.certificate is None:
            raise SystemExit(f"{fqdn} has no certificate")
        return site.id


def serves(fqdn: str, roots: Path, title: str) -> bool:
    page = http_get(f"https://{WEB[1]}/", host_header=fqdn, cafile=str(roots))
    return page.status == 200 and f"<title>{title}" in page.text


def ask(wm, org, fqdn: str) -> int:
    issued = cms_svc.instance_create(
        wm,
        org_id=org.id,
        site_id=site_id(fqdn),
        title=f"Bench {fqdn}",
        admin_user="webadmin",
        admin_email="w@a.gov.test",
    )
    return issued.request.id


def instances(settings, wm, op, org, fqdns: list[str], roots: Path, t0: float) -> float:
    """Approval of every request until every front page answers 200 over HTTPS."""
    req_ids = [ask(wm, org, f) for f in fqdns]
    started = time.monotonic()
    for rid in req_ids:
        requests.request_approve(op, rid)
    stage(t0, f"  {len(req_ids)} request(s) approved in {time.monotonic() - started:.2f} s")
    run_pending(settings, t0=t0)
    missing = [f for f in fqdns if not serves(f, roots, f"Bench {f}")]
    elapsed = time.monotonic() - started
    if missing:
        raise SystemExit(f"no WordPress front page on {missing[:3]}")
    return elapsed


def plan_world(org, web: Host, op, op2) -> tuple[int, int]:
    """PLAN instances (rows only: the plan reads rows) with a catalogue plugin at 1.0, and 1.1 approved."""
    old = cat.catalogue_approve(op2, cat.catalogue_upload(op, kind="plugin", data=plugin_zip(version="1.0")).id)
    new = cat.catalogue_approve(op2, cat.catalogue_upload(op, kind="plugin", data=plugin_zip(version="1.1")).id)
    with db.unit_of_work() as s:
        for i in range(PLAN):
            inst = Instance(
                org_id=org.id,
                site_id=1_000_000 + i,
                fqdn=f"plan{i:03d}.a.gov.test",
                host_id=web.id,
                title="t",
                admin_user="webadmin",
                admin_email="w@a.gov.test",
                status=InstanceStatus.ACTIVE,
            )
            s.add(inst)
            s.flush()
            s.add(
                plugins.InstanceItem(
                    instance_id=inst.id,
                    org_id=org.id,
                    kind="plugin",
                    slug=old.slug,
                    item_id=old.id,
                    version=old.version,
                    state=plugins.ItemState.INSTALLED,
                    active=True,
                )
            )
    return old.id, new.id


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-wpbench-"))
    t0 = time.monotonic()
    try:
        L.build()
        L.net_up()
        L.hosts_up([f"{WEB[0]}={WEB[1]}", f"{DBH[0]}={DBH[1]}"], fresh=True)
        start_bind()
        pebble = pebble_up(tmp / "pebble", port=PEBBLE_PORT, mgmt_port=PEBBLE_MGMT, dns_server=WEB[1])
        stage(t0, "lab hosts up, BIND for gov.test on the web host, Pebble")
        settings, web, dbh, org, wm, op, op2 = setup(tmp, pebble)
        jobs_svc.job_submit(
            system_actor("cli", "bench"),
            kind="databases.server",
            org_id=None,
            host_ids=[dbh.id],
            params={"engines": ["mariadb"]},
        )
        run_pending(settings)
        stage(t0, "MariaDB set up by databases.server")
        single = "one.a.gov.test"
        names = [f"b{i:02d}.a.gov.test" for i in range(BATCH)]
        make_sites(settings, op, op2, org, [single, *names])
        stage(t0, f"{1 + BATCH} sites with Pebble certificates (sites' own jobs)")
        one_s = instances(settings, wm, op, org, [single], pebble.roots, t0)
        stage(t0, f"(a) one instance: approval -> https 200 in {one_s:.2f} s")
        batch_s = instances(settings, wm, op, org, names, pebble.roots, t0)
        stage(t0, f"(b) {BATCH} instances approved together -> all https 200 in {batch_s:.2f} s")
        _old_id, new_id = plan_world(org, web, op, op2)
        stage(t0, f"{PLAN} instances with a catalogue plugin at 1.0 (rows)")
        started = time.monotonic()
        req = updates.update_plan(wm, org_id=org.id, item_id=new_id)
        filed = time.monotonic() - started
        requests.request_approve(op, req.id)
        plan_s = time.monotonic() - started
        with db.unit_of_work() as s:
            rows = s.scalars(select(updates.UpdateTarget).where(updates.UpdateTarget.request_id == req.id)).all()
            queued = sum(1 for r in rows if r.status == updates.TargetStatus.QUEUED)
        if len(rows) < PLAN or queued != len(rows):
            raise SystemExit(f"the plan holds {len(rows)} rows, {queued} queued")
        stage(
            t0,
            f"(c) plan over {len(rows)} instances filed in {filed:.2f} s, approved (jobs submitted) at {plan_s:.2f} s",
        )
        print(f"single: approval -> front page 200 over HTTPS in {one_s:.2f} s (database job + install job)")
        each = batch_s / BATCH
        print(
            f"batch: {BATCH} instances in {batch_s:.2f} s ({each:.2f} s each;"
            f" one-at-a-time x{BATCH}: {one_s * BATCH:.1f} s)"
        )
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print(f"figure: wp_approve_to_200_s = {one_s:.2f} s")
        print(f"figure: wp_20_batch_s = {batch_s:.2f} s")
        print(f"figure: wp_batch_vs_single_ratio = {one_s * BATCH / batch_s:.2f} x")
        print(f"figure: wp_update_plan_100_s = {plan_s:.2f} s")
    finally:
        db.remove()
        pebble_down(tmp / "pebble")
        for _, ip in (WEB, DBH):
            L.close_control_sockets(ip)
        L.hosts_down([WEB[0], DBH[0]], forget=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
