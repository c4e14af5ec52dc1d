"""Windows (IIS) hosting benchmark against the NOT-Windows recording endpoint, in one run:

(a) 50 Windows sites in ONE batch: an operator's bulk request of 50 sites on an IIS plan, from
    request_approve() until the one sites.site_create job ended (Huey worker, ansible-runner,
    ansible-playbook site_create_iis.yml over SSH with PowerShell), every site active; median of
    RUNS, each on a fresh record. The endpoint (provisioners/lab/notwindows.py) answers each module
    call at once: the figure measures govhost and Ansible, not IIS.
(b) the baseline, measured in the same run: the same playbook with the same 50 sites' extravars run
    by provisioners.ansible.run_playbook alone (no request, approval, queue or job rows), so the
    difference is what the panel adds around Ansible.

Each run prints its timeline (approval, job queued, started, ended, sites active) and how many
module calls reached the endpoint. Run as root with no arguments: `python bench/windows.py`. Lab
host wbench = .217 of the lab block (its network namespace holds the endpoint on port 2222);
SQLite database and queue in a temporary directory; everything is removed at the end.
"""

from __future__ import annotations

import json
import os
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

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select

from bench._common import boot_fresh, dc_ministry_users, lab_settings
from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites import iis
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.jobs import capabilities, runner, tasks
from panel.models.hosts import Host, HostOS
from panel.models.jobs import Job
from panel.models.quotas import QuotaLimit
from panel.models.tenants import Membership, Organization, Role
from panel.models.users import User
from panel.services import requests
from panel.services.actor import actor_for_user
from provisioners import lab as L
from provisioners import probes
from provisioners.ansible import run_playbook
from provisioners.base import PlaybookSpec

HOST, IP, PORT, USER = "wbench", L.lab_ip(217), 2222, "govhost"  # .217 of the lab block (GOVHOST_LAB_NET)
REPO = Path(__file__).resolve().parent.parent
BATCH, RUNS = 50, 3


def stage(t0: float, label: str) -> None:
    print(f"stage: {time.monotonic() - t0:8.3f} s  {label}", flush=True)


def start_endpoint(tmp: Path, ns: str) -> tuple[subprocess.Popen, Path]:
    """The recording endpoint in wbench's network namespace, with a host key of its own."""
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp / "host_key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    (tmp / "host_key").chmod(0o600)
    record = tmp / "calls.jsonl"
    argv = [
        "ip", "netns", "exec", ns, sys.executable, "-m", "provisioners.lab.notwindows",
        "--listen", f"{IP}:{PORT}", "--host-key", str(tmp / "host_key"),
        "--authorized-key", f"{L.lab_key_path()}.pub", "--user", USER, "--record", str(record),
    ]  # fmt: skip
    log = (tmp / "endpoint.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 15
    while not L.port_open(IP, PORT):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the recording endpoint did not start: {(tmp / 'endpoint.log').read_text()}")
        time.sleep(0.1)
    return proc, record


def setup(tmp: Path) -> tuple:
    settings = boot_fresh(lab_settings(tmp))
    kind, blob, fp = probes.fetch_host_key(IP, PORT, bind=L.GATEWAY)  # pinned like any host's key
    with db.unit_of_work() as s:
        dc, org, users = dc_ministry_users(s, "op", "op2")
        host = Host(
            name=HOST,
            address=IP,
            port=PORT,
            ssh_user=USER,
            os=HostOS.WINDOWS,
            host_key_type=kind,
            host_key=blob,
            fingerprint=fp,
            capacities={"sites": 10_000},
        )
        host.roles = ["web"]
        s.add_all(
            [
                host,
                Membership(user_id=users[0].id, org_id=dc.id, role=Role.OPERATOR),
                Membership(user_id=users[1].id, org_id=dc.id, role=Role.OPERATOR),
                DomainClaim(
                    org_id=org.id, domain="bench.test", token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()
                ),
                Plan(name="iis", disk_mb=100, os=HostOS.WINDOWS, managed_runtime="v4.0"),
                QuotaLimit(org_id=org.id, resource="sites", limit=10_000),
                QuotaLimit(org_id=org.id, resource="disk_mb", limit=10**9),
            ]
        )
    with db.unit_of_work() as s:
        ops = tuple(
            actor_for_user(s.scalars(select(User).where(User.username == n)).one(), surface="cli")
            for n in ("op", "op2")
        )
        return settings, ops, s.scalars(select(Organization.id).where(Organization.slug == "m")).one()


def module_calls(record: Path) -> int:
    return sum(1 for line in record.read_text().splitlines() if '"module"' in line)


def batch(ops, org_id: int, prefix: str, record: Path, t0: float) -> tuple[float, list[int]]:
    """From approval until the batch's job ended with all sites active; the timeline printed."""
    asker, op = ops
    record.write_text("")
    specs = [{"fqdn": f"{prefix}{i}.bench.test", "aliases": [f"www.{prefix}{i}.bench.test"]} for i in range(BATCH)]
    payload = {"sites": specs, "plan": "iis", "tls": "none"}
    req = sites_svc.site_request(asker, action="create", org_id=org_id, payload=payload)
    started = time.monotonic()
    requests.request_approve(op, req.id)
    approved = time.monotonic() - started
    while time.monotonic() - started < 600:
        with db.unit_of_work() as s:
            jobs = list(
                s.scalars(select(Job).where(Job.request_id == req.id).execution_options(populate_existing=True))
            )
            done = [j for j in jobs if j.finished_at is not None]
            if jobs and len(done) == len(jobs):
                elapsed = time.monotonic() - started
                counts = dict(
                    s.execute(
                        select(Site.status, func.count()).where(Site.fqdn.like(f"{prefix}%")).group_by(Site.status)
                    ).all()
                )
                if [j.status for j in jobs] != ["successful"] or counts.get(SiteStatus.ACTIVE) != BATCH:
                    raise SystemExit(f"the batch failed: {[(j.kind, j.status, j.explanation) for j in jobs]} {counts}")
                job = jobs[0]
                queued = (job.started_at - job.created_at).total_seconds()
                ran = (job.finished_at - job.started_at).total_seconds()
                stage(t0, f"{prefix}: approval returned after {approved:.3f} s (the job queued in it)")
                stage(t0, f"{prefix}: job {job.id} waited {queued:.3f} s for a worker, ran {ran:.3f} s")
                stage(
                    t0, f"{prefix}: {BATCH} sites active, {module_calls(record)} module calls recorded: {elapsed:.2f} s"
                )
                with db.unit_of_work() as s2:
                    ids = list(s2.scalars(select(Site.id).where(Site.fqdn.like(f"{prefix}%")).order_by(Site.id)))
                return elapsed, ids
        time.sleep(0.02)
    raise SystemExit("the batch did not finish in 600 s")


def bare(settings, ids: list[int], record: Path, tmp: Path) -> float:
    """The baseline: the same playbook and extravars (the job's own build) by run_playbook alone."""
    record.write_text("")
    with db.unit_of_work() as s:
        job = Job(kind="sites.site_create", params={"site_ids": ids})  # never added: a build's input only
        job.id = 0
        cap = capabilities.get("sites.site_create")
        host = s.scalars(select(Host).where(Host.name == HOST)).one()
        targets = [capabilities.target_of(host)]
        sites = list(s.scalars(select(Site).where(Site.id.in_(ids)).order_by(Site.id)))
        extravars, secrets, _ = iis.build(job, s, sites, targets)
    spec = PlaybookSpec(
        playbook=cap.playbook_for(targets),
        project_dir=cap.project_dir,
        ssh_key=settings.ansible.ssh_key,
        extravars=extravars,
        forks=settings.ansible.forks,
        control_dir=runner.control_dir(settings),  # the worker's ssh masters, as the batch had them
        templates_dir=str(capabilities.TEMPLATES_DIR),
    )
    started = time.monotonic()
    result = run_playbook(spec, targets, timeout=600, secrets=secrets, workdir_parent=str(tmp / "bare"))
    elapsed = time.monotonic() - started
    if not result.ok or module_calls(record) == 0:
        raise SystemExit(f"the bare run failed: {result.explanation}")
    return elapsed


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-windows-"))
    t0 = time.monotonic()
    proc = None
    try:
        L.build()
        L.net_up()
        (lab_host,) = L.hosts_up([f"{HOST}={IP}"], fresh=True)
        proc, record = start_endpoint(tmp, lab_host.netns)
        stage(t0, f"lab host {HOST} up, NOT-Windows recording endpoint on {IP}:{PORT}")
        settings, ops, org_id = setup(tmp)
        consumer = tasks.consumer(settings, workers=2)
        consumer.start()
        try:
            batch(ops, org_id, "warm", record, t0)  # first ssh master, Ansible's caches
            runs, last_ids = [], []
            for n in range(RUNS):
                elapsed, last_ids = batch(ops, org_id, f"r{n}x", record, t0)
                runs.append(elapsed)
        finally:
            consumer.stop(graceful=True)
        bares = [bare(settings, last_ids, record, tmp) for _ in range(RUNS)]
        stage(t0, f"baseline: the same playbook and extravars by run_playbook alone: {json.dumps(bares)} s")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        L.close_control_sockets(IP)
        L.hosts_down([HOST], forget=True)
        shutil.rmtree(tmp, ignore_errors=True)
    batch_s, bare_s = statistics.median(runs), statistics.median(bares)
    print(f"batch runs: {', '.join(f'{x:.2f}' for x in runs)} s; bare runs: {', '.join(f'{x:.2f}' for x in bares)} s")
    print(f"figure: windows_50_batch_s = {batch_s:.2f} s")
    print(f"figure: windows_50_batch_vs_bare_ansible_ratio = {batch_s / bare_s:.2f} x")


if __name__ == "__main__":
    main()
