"""Job engine benchmark (no arguments; root, lab available).

1. Enqueue-to-start latency with the local worker (SQLite queue, in-process Huey consumer):
   from just before job_submit (row + audit + commit + enqueue) to the worker's started_at, median.
2. Overhead of a govhost job running playbooks/noop.yml against one lab host (submit to finished)
   versus a bare ansible_runner.run of the same playbook, alternated in the same run: the ratio of
   the medians of ROUNDS alternations, measured SETS times; the figure is the median of the SETS
   ratios (one set's ratio moves by +-0.1 on this shared machine). The bare run starts
   ansible-playbook the way govhost does (provisioners/playbook_launcher.py, no interpreter teardown
   at exit), so the ratio is the panel's own overhead; the first set also times the stock
   `ansible-playbook` command each round and prints what the launcher saves per run.

Prints `figure: job_start_latency_ms = N ms` and `figure: job_overhead_ratio = N x`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ansible_runner
import yaml
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parents[1]
# The script's own folder holds bench/dns.py, which would shadow dnspython: run from the repo root.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from panel import capabilities as enabled_capabilities
from panel import db
from panel.boot import boot
from panel.config import Settings
from panel.db import Base
from panel.jobs import capabilities, tasks
from panel.jobs.capabilities import Capability, host_targets
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from provisioners import probes
from provisioners.ansible import LAUNCHER

enabled_capabilities.load()  # the capabilities' settings sections, tables and kinds (config.example.yaml has them)
HOST, IP = "jbench", L.lab_ip(223)  # .223 of the lab block (GOVHOST_LAB_NET)
ROUNDS = 9
SETS = 5
ACTOR = system_actor("cli", "bench")


def settings_for(tmp: Path) -> Settings:
    """config.example.yaml with a private database, queue and data dir, and the lab key."""
    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    raw["database"]["url"] = f"sqlite:///{tmp / 'govhost.db'}"
    raw["queue"].update(backend="sqlite", sqlite_path=str(tmp / "queue.db"), workers=2)
    raw["ansible"].update(ssh_key=str(L.lab_key_path()), timeout_s=120, control_dir=str(L.lab_paths().cp))
    raw["lab"]["dir"] = str(L.lab_paths().cache)
    return Settings.from_dict(raw, base=ROOT)


def add_host() -> Host:
    kind, blob, fp = probes.fetch_host_key(IP, 22, bind=L.GATEWAY)
    with db.unit_of_work() as s:
        host = Host(name=HOST, address=IP, host_key_type=kind, host_key=blob, fingerprint=fp)
        s.add(host)
        s.flush()
        return host


def run_job(host: Host) -> tuple[float, float]:
    """(enqueue-to-start s, submit-to-finished s) of one bench.noop job."""
    t0 = dt.datetime.now(dt.UTC)
    job = jobs_svc.job_submit(ACTOR, kind="bench.noop", org_id=None, host_ids=[host.id], params={})
    while True:
        with db.unit_of_work() as s:
            j = s.get(Job, job.id, populate_existing=True)
            if j.finished:
                break
        time.sleep(0.005)
    if j.status != JobStatus.SUCCESSFUL:
        raise SystemExit(f"bench job failed: {j.explanation} {j.traceback}")
    return (j.started_at - t0).total_seconds(), (j.finished_at - t0).total_seconds()


def run_bare(tmp: Path, host: Host, stock: bool = False) -> float:
    """The same playbook with ansible_runner.run and nothing else: inventory, key, pinned key file;
    started through govhost's launcher, or as the stock `ansible-playbook` when `stock`."""
    pdd = Path(tempfile.mkdtemp(dir=tmp))
    kh = tmp / "known_hosts"
    kh.write_text(f"{IP} {host.host_key_type} {host.host_key}\n")
    inventory = {
        "all": {
            "hosts": {
                HOST: {
                    "ansible_host": IP,
                    "ansible_user": "root",
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "ansible_ssh_private_key_file": str(L.lab_key_path()),
                    "ansible_ssh_common_args": f"-o UserKnownHostsFile={kh} -o BindAddress={L.GATEWAY}",
                }
            }
        }
    }
    how = {"playbook": "noop.yml"} if stock else {"binary": sys.executable, "cmdline": f"{LAUNCHER} noop.yml"}
    start = time.perf_counter()
    r = ansible_runner.run(
        private_data_dir=str(pdd),
        project_dir=str(ROOT / "playbooks"),
        **how,
        inventory=inventory,
        quiet=True,
        envvars={
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        },
        cancel_callback=lambda: False,
    )
    elapsed = time.perf_counter() - start
    shutil.rmtree(pdd, ignore_errors=True)
    if r.status != "successful":
        raise SystemExit(f"bare run failed: {r.status}")
    return elapsed


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-jobs-"))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    L.build()
    L.net_up()
    L.hosts_up([f"{HOST}={IP}"], fresh=True)
    consumer = None
    try:
        settings = boot(settings_for(tmp))
        Base.metadata.create_all(create_engine(settings.database.url))
        capabilities.register(Capability("bench.noop", "noop.yml", lambda job, s: ({}, {}, host_targets(job, s))))
        host = add_host()
        consumer = tasks.consumer(settings, workers=2)
        consumer.start()
        run_job(host), run_bare(tmp, host)  # warm up: ssh masters, imports, caches
        latencies, ratios, stock_s, first_bare = [], [], [], []
        for n in range(1, SETS + 1):
            job_s, bare_s = [], []
            for _ in range(ROUNDS):
                start, total = run_job(host)
                latencies.append(start)
                job_s.append(total)
                bare_s.append(run_bare(tmp, host))
                if n == 1:
                    stock_s.append(run_bare(tmp, host, stock=True))
            if n == 1:
                first_bare = bare_s
            ratios.append(statistics.median(job_s) / statistics.median(bare_s))
            print(
                f"set {n}: job runs (s) {[round(x, 3) for x in job_s]}; bare runs (s) {[round(x, 3) for x in bare_s]}"
            )
            print(
                f"set {n}: job {statistics.median(job_s):.3f} s / bare {statistics.median(bare_s):.3f} s"
                f" = {ratios[-1]:.2f} x"
            )
        print(
            f"set 1, bare run per start-up: stock ansible-playbook {statistics.median(stock_s):.3f} s, "
            f"govhost's launcher {statistics.median(first_bare):.3f} s (medians of {ROUNDS})"
        )
        print(f"ratios of the {SETS} sets: {', '.join(f'{r:.2f}' for r in ratios)}")
        print(f"figure: job_start_latency_ms = {statistics.median(latencies) * 1000:.0f} ms")
        print(f"figure: job_overhead_ratio = {statistics.median(ratios):.2f} x")
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        L.close_control_sockets(IP)
        L.hosts_down([HOST], forget=True)
        db.remove()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
