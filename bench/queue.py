"""Queue benchmark (issue 21; no arguments; root; PostgreSQL on 127.0.0.1:5432 and redis-server
installed). Production shape: a PostgreSQL database of its own, a Redis of its own, two
`govhost worker` processes (2 threads each). Jobs are `core.noop` (no SSH), so the queue itself is
measured.

1. Baseline: one job on the idle queue, submit to running.
2. 1,000 no-op jobs of one ministry through Redis with 2 workers: submit to all successful
   (goal <= 10 s).
3. Fair share: ministry A submits 1,000 no-op jobs (one unit of work, like a bulk approval), then
   ministry B one; B's wait from submission to running (goal <= 2 s), and how many of A's jobs
   were still pending when B's started.

Prints a stage timeline and ends with `figure: queue_1000_noop_2_workers_s = N s` and
`figure: fair_share_wait_s = N s`.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
# The script's own folder holds bench/dns.py, which would shadow dnspython: run from the repo root.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.faults import queue_world, stage, wait
from panel import capabilities, db
from panel.models.jobs import Job, JobStatus, Worker
from panel.models.tenants import Organization, OrgKind
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.jobs.faults import Workers

N = 1000
ACTOR = system_actor("cli", "bench")


def submit(org_id: int | None, n: int) -> list[int]:
    with db.unit_of_work():
        return [
            jobs_svc.job_submit(ACTOR, kind="core.noop", org_id=org_id, host_ids=[], params={}).id for _ in range(n)
        ]


def count(ids: list[int], *statuses: JobStatus) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Job).where(Job.id.in_(ids), Job.status.in_(statuses)))


def org(name: str) -> int:
    with db.unit_of_work() as s:
        o = Organization(name=name, slug=name.lower(), kind=OrgKind.MINISTRY)
        s.add(o)
        s.flush()
        return o.id


def main() -> None:
    capabilities.load()  # their settings sections are known before config.yaml is read
    with queue_world("govhost-bench-queue-") as (name, path, redis, workers):
        a, b = org("MinistryA"), org("MinistryB")
        stage(f"PostgreSQL database {name}, own redis-server on port {redis.port}")
        for _ in range(2):
            workers.start(path)
        wait(lambda: _alive() >= 2, 60, "two workers registered")
        stage("2 workers up (2 threads each)")

        t = time.monotonic()
        one = submit(None, 1)
        base = wait(lambda: count(one, JobStatus.RUNNING, JobStatus.SUCCESSFUL) == 1, 30, "baseline job")
        stage(f"baseline: one job on the idle queue running {base:.3f} s after its submission")

        t = time.monotonic()
        ids = submit(a, N)
        submitted = time.monotonic() - t
        stage(f"{N} jobs submitted in {submitted:.2f} s ({submitted / N * 1000:.1f} ms a job_submit, one transaction)")
        before = worker_counts(workers)
        first = wait(lambda: count(ids, JobStatus.RUNNING, JobStatus.SUCCESSFUL) > 0, 60, "first job running")
        stage(f"first of them running {first:.3f} s after the commit")
        half = wait(lambda: count(ids, JobStatus.SUCCESSFUL) >= N // 2, 300, "half done")
        stage(f"half of them successful {first + half:.2f} s after the commit")
        wait(lambda: count(ids, JobStatus.SUCCESSFUL) == N, 300, f"{N} jobs done")
        total = time.monotonic() - t
        run = total - submitted
        stage(f"{N} jobs successful {total:.2f} s after the first submission, {run:.2f} s after the commit")
        stage(f"throughput after the commit: {N / run:.0f} jobs/s")
        stage(worker_summary(before, worker_counts(workers), N))

        bulk = submit(a, N)
        t = time.monotonic()
        single = submit(b, 1)
        fair = wait(lambda: count(single, JobStatus.RUNNING, JobStatus.SUCCESSFUL) == 1, 120, "single job")
        behind = count(bulk, JobStatus.PENDING)
        stage(f"ministry B's single job running {fair:.3f} s after submission; {behind} of A's {N} still pending")
        wait(lambda: count(bulk, JobStatus.SUCCESSFUL) == N, 300, "bulk done")
        stage(f"A's {N} jobs all successful")
        workers.stop_all()
        stage("workers stopped (SIGTERM, drained)")
        print(f"figure: queue_1000_noop_2_workers_s = {total:.1f} s")
        print(f"figure: fair_share_wait_s = {fair:.2f} s")


def worker_counts(workers: Workers) -> dict[str, int]:
    """What the workers' logs say they did: jobs claimed, messages of jobs no longer pending (a
    duplicate message: a claim transaction for nothing), jobs the sweeper queued again."""
    logs = [workers.log(i) for i in range(len(workers.procs))]
    return {
        "claimed": sum(log.count(" claimed by ") for log in logs),
        "duplicates": sum(log.count(" is not pending: ") for log in logs),
        "re-queued": sum(int(n) for log in logs for n in re.findall(r"re-queued (\d+) pending", log)),
    }


def worker_summary(before: dict[str, int], after: dict[str, int], n: int) -> str:
    d = {k: after[k] - before[k] for k in after}
    return (
        f"workers: {d['claimed']} claims for {n} jobs, {d['duplicates']} duplicate messages taken, "
        f"{d['re-queued']} jobs re-queued by the sweeper"
    )


def _alive() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Worker).where(Worker.stopped_at.is_(None)))


if __name__ == "__main__":
    main()
