"""DNS benchmark against a real BIND on a lab host: 1,000 record changes.

Run as root with no arguments: `python bench/dns.py`. Starts its own lab host dnsbench
(10.77.0.46), sets BIND up with the govhost playbook, makes fresh zones with the zone playbook, and
compares, each on its own fresh zone:
  - govhost's service path: `dns_apply` submits a `dns.records_apply` job, run here as the worker
    would: AXFR plan against the live zone, one batched RFC 2136 update with the SOA prerequisite,
    AXFR read-back, rows marked applied (median of 3);
  - one bare dnspython update message with the same 1,000 records (median of 3);
  - 1,000 single updates, one message per record (one run).
The 1,000 rows are written by `records_publish`'s validation path first (timed and shown apart).
Each service run prints a stage timeline (ms from the call to dns_apply): job submitted, claimed,
zone rows read, the plan's AXFR, the update built and sent, the read-back AXFR, rows marked, job
finished; wrappers around the service's own functions record it (nothing else changes).
"""

from __future__ import annotations

import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named dns.py: drop its own folder from the path, or it would shadow dnspython.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import dns.query
import dns.rcode
import dns.tsig
import dns.update

import panel.models  # noqa: F401  (the core's tables)
from panel import capabilities, db, security
from panel.boot import boot
from panel.capabilities.dns import jobs as dns_jobs
from panel.capabilities.dns import service as svc
from panel.capabilities.dns.models import DnsKey, Zone, ZoneStatus
from panel.config import Settings
from panel.db import Base
from panel.jobs import runner
from panel.models.hosts import Host
from panel.models.tenants import Organization, OrgKind
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import ansible, base
from provisioners import dns as D
from provisioners import lab as L

capabilities.load()  # every enabled capability's tables, kinds and jobs

HOST = ("dnsbench", L.lab_ip(46))  # .46 of the lab block (GOVHOST_LAB_NET)
N = 1000
REPS = 3
ROOT = Path(__file__).resolve().parent.parent


def target() -> base.Target:
    return base.Target(
        HOST[0], HOST[1], host_key_type="ssh-ed25519", host_key=L.base_host_key(), source_address=L.GATEWAY
    )


def playbook(name: str, extravars: dict, secrets: dict, work: str) -> None:
    spec = base.PlaybookSpec(
        playbook=name,
        project_dir=str(ROOT / "playbooks"),
        ssh_key=str(L.lab_key_path()),
        extravars=extravars,
        templates_dir=str(ROOT / "templates"),
    )
    r = ansible.run_playbook(spec, [target()], timeout=300, secrets=secrets, workdir_parent=work)
    if not r.ok:
        sys.exit(f"{name} failed: {r.explanation}")


def settings_for(work: str) -> Settings:
    return Settings.from_dict(
        {
            "secret_key": "bench-secret-key-0123456789",
            "data_dir": f"{work}/data",
            "secret_keys": [security.new_fernet_key()],
            "database": {"url": f"sqlite:///{work}/bench.db"},
            "queue": {
                "backend": "sqlite",
                "sqlite_path": f"{work}/queue.db",
                "redis_url": "",
                "workers": 1,
                "sweep_s": 5,
                "lease_s": 20,
                "drain_s": 60,
            },
            "web": {"session_minutes": 30, "secure_cookies": False, "default_locale": "en", "page_size": 20},
            "auth": {
                "max_failures_per_account": 5,
                "max_failures_per_address": 20,
                "failure_window_minutes": 15,
                "lockout_minutes": 15,
                "staff_require_2fa": False,
                "token_max_days": 30,
            },
            "smtp": {
                "host": "",
                "port": 25,
                "sender": "b@localhost",
                "starttls": False,
                "username": "",
                "password": "",
            },
            "ansible": {
                "timeout_s": 300,
                "forks": 5,
                "ssh_key": str(L.lab_key_path()),
                "control_dir": str(L.lab_paths().cp),
            },
            "network": {"source_network": str(L.SUBNET), "source_address": L.GATEWAY},
            "dns": {
                "primary_host": HOST[0],
                "key_name": "govhost",
                "nameservers": ["ns1.govhost.test"],
                "default_ttl": 3600,
                "min_ttl": 60,
                "max_ttl": 604800,
                "resolver": HOST[1],
            },
            "sites": {
                "acme_directory": "",
                "acme_ca_bundle": "",
                "acme_email": "b@localhost",
                "acme_root_ca": "",
                "renew_days_before": 30,
                "archive_days": 30,
                "usage_interval_minutes": 60,
            },
            "mail": {"archive_days": 30, "dkim_selector": "govhost"},
            "lab": {"dir": str(L.lab_paths().cache), "demo_host": "", "demo_address": ""},
        }
    )


MARKS: list[tuple[str, float]] = []


def _timed(module, name: str, label: str) -> None:
    """Record when module.name starts and ends (for the stage timeline)."""
    fn = getattr(module, name)

    def wrapper(*args, **kwargs):
        MARKS.append((f"{label} start", time.perf_counter()))
        try:
            return fn(*args, **kwargs)
        finally:
            MARKS.append((f"{label} end", time.perf_counter()))

    setattr(module, name, wrapper)


def instrument() -> None:
    for module, name, label in (
        (svc, "dns_apply", "dns_apply (job submitted)"),
        (runner, "claim", "job claimed"),
        (dns_jobs, "zone_state", "zone rows read"),
        (D, "axfr", "AXFR"),
        (D, "update_message", "update built"),
        (D, "send", "update sent (bare: this alone)"),
        (dns_jobs, "mark_applied", "rows marked applied"),
        (runner, "finish", "job finished"),
    ):
        _timed(module, name, label)


def timeline(t0: float) -> None:
    for label, at in MARKS:
        print(f"stage: {(at - t0) * 1000:8.1f} ms  {label}")
    MARKS.clear()


def records(tag: str) -> list[dict]:
    return [{"name": f"{tag}{i}", "type": "A", "data": f"10.{i // 250}.{i % 250}.{7}", "ttl": 300} for i in range(N)]


def service_run(org_id: int, zone_id: int, zone_name: str) -> tuple[float, float]:
    actor = system_actor("cli", "bench")
    with db.unit_of_work() as s:  # rows through the publish path, without its after-commit push
        s.get(Zone, zone_id).status = ZoneStatus.PENDING
    t0 = time.perf_counter()
    svc.records_publish(actor, org_id=org_id, fqdn=zone_name, source="bench:1", records=records("h"))
    t1 = time.perf_counter()
    with db.unit_of_work() as s:
        s.get(Zone, zone_id).status = ZoneStatus.ACTIVE
    MARKS.clear()
    t2 = time.perf_counter()
    job = jobs_svc.job_run_here(actor, svc.dns_apply(actor, zone_id).id)  # the worker's path, here
    t3 = time.perf_counter()
    timeline(t2)
    print(f"stage: {(t3 - t2) * 1000:8.1f} ms  job_run_here returned")
    assert job.status.value == "successful" and job.explanation.startswith(f"{N} added,"), job.explanation
    return t1 - t0, t3 - t2


def bare_run(zone: str, key: dns.tsig.Key) -> float:
    upd = dns.update.UpdateMessage(zone + ".", keyring=key)
    for i in range(N):
        upd.add(f"h{i}.{zone}.", 300, "A", f"10.{i // 250}.{i % 250}.7")
    t0 = time.perf_counter()
    resp = dns.query.tcp(upd, HOST[1], timeout=10, source=L.GATEWAY)
    elapsed = time.perf_counter() - t0
    assert resp.rcode() == dns.rcode.NOERROR
    return elapsed


def singles_run(zone: str, key: dns.tsig.Key) -> float:
    t0 = time.perf_counter()
    for i in range(N):
        upd = dns.update.UpdateMessage(zone + ".", keyring=key)
        upd.add(f"h{i}.{zone}.", 300, "A", f"10.{i // 250}.{i % 250}.7")
        assert dns.query.tcp(upd, HOST[1], timeout=10, source=L.GATEWAY).rcode() == dns.rcode.NOERROR
    return time.perf_counter() - t0


def main() -> None:
    work = tempfile.mkdtemp(prefix="govhost-bench-dns-")
    L.build()
    L.net_up()
    L.hosts_up([f"{HOST[0]}={HOST[1]}"], fresh=True)
    try:
        L.assert_pinned(HOST[1])
        secret = base64.b64encode(os.urandom(32)).decode()
        playbook("dns_server.yml", {"bind_server_key_name": "govhost"}, {"tsig_secret": secret}, work)
        names = [f"b{i}.bench.test" for i in range(2 * REPS + 1)]
        for name in names:
            playbook(
                "zone_create.yml",
                {"zone_name": name, "zone_nameservers": ["ns1.govhost.test"], "zone_hostmaster": f"hostmaster.{name}"},
                {},
                work,
            )
        settings = boot(settings_for(work))
        Base.metadata.create_all(db.engine())
        with db.unit_of_work() as s:
            org = Organization(slug="bench", name="Bench", kind=OrgKind.MINISTRY)
            t = target()
            host = Host(
                name=HOST[0], address=HOST[1], host_key_type=t.host_key_type, host_key=t.host_key, fingerprint="bench"
            )
            host.roles = {"dns"}
            s.add_all([org, host, DnsKey(name="govhost", secret_sealed=security.seal(secret))])
            s.flush()
            zones = [Zone(org_id=org.id, name=n, status=ZoneStatus.ACTIVE, host_id=host.id) for n in names[:REPS]]
            s.add_all(zones)
            s.flush()
            org_id, zone_ids = org.id, [z.id for z in zones]
        del settings
        instrument()
        runs = [service_run(org_id, zid, n) for zid, n in zip(zone_ids, names[:REPS], strict=True)]
        key = dns.tsig.Key("govhost", secret, "hmac-sha256")
        bare = [bare_run(n, key) for n in names[REPS : 2 * REPS]]
        single = singles_run(names[-1], key)
    finally:
        L.hosts_down([HOST[0]])
    batch, publish, bare_s = (
        statistics.median(r[1] for r in runs),
        statistics.median(r[0] for r in runs),
        statistics.median(bare),
    )
    print(f"service dns_apply runs (s): {[round(r[1], 4) for r in runs]}; bare: {[round(b, 4) for b in bare]}")
    print(f"records_publish of {N} rows (validation + rows + audit, not in the figure): {publish:.3f} s")
    print(f"{N} single updates: {single:.3f} s")
    print(f"figure: dns_1000_batch_s = {batch:.3f} s")
    print(f"figure: dns_vs_bare_ratio = {batch / bare_s:.1f} x")
    print(f"figure: dns_single_vs_batch_ratio = {single / batch:.1f} x")


if __name__ == "__main__":
    main()
