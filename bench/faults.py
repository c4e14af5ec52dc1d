"""Fault benchmark of the job engine (no arguments; root; PostgreSQL on 127.0.0.1:5432 and redis-server
installed). Production shape: PostgreSQL, a Redis of our own (stopped and restarted without persistence;
the shared one is never touched), two `govhost worker` processes with the default timings
(queue.sweep_s 5, lease_s 20), one of them in its own UTS namespace (another hostname, as on another
machine). Jobs are `core.noop`, so the queue itself is measured.

1. Baseline: 20 jobs submitted with Redis up, time until all are running or done.
2. Stranded jobs: Redis stopped, 20 jobs approved (saved, not queued), Redis restarted empty;
   time from Redis answering again to all 20 running or done (goal <= 10 s).
3. Dead worker: the far worker runs a long job and is SIGKILLed; time from the kill to the job
   failed and retryable, and to its retry running on the other worker (goal <= 30 s).

Prints a stage timeline and ends with `figure: stranded_jobs_recovery_s = N s` and
`figure: dead_worker_reap_s = N s`.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
# The script's own folder holds bench/dns.py, which would shadow dnspython: run from the repo root.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench._common import boot_fresh, scratch_postgres
from panel import capabilities, db
from panel.config import Settings
from panel.models.jobs import Job, JobStatus
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.jobs.faults import RedisServer, Workers

PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
N = 20
ACTOR = system_actor("cli", "bench")
T0 = time.monotonic()


def stage(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.2f} s] {msg}", flush=True)


def noop(sleep_s: float = 0) -> int:
    return jobs_svc.job_submit(ACTOR, kind="core.noop", org_id=None, host_ids=[], params={"sleep_s": sleep_s}).id


def statuses(ids: list[int]) -> list[JobStatus]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Job.status).where(Job.id.in_(ids))))


def wait(check, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise SystemExit(f"bench: {what} not within {timeout} s")


def started(ids: list[int]) -> bool:
    return all(st != JobStatus.PENDING for st in statuses(ids))


def config(tmp: Path, url: str, redis: RedisServer) -> tuple[Settings, Path]:
    capabilities.load()  # their settings sections are known before the config is read
    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    raw["data_dir"] = str(tmp / "data")
    raw["database"]["url"] = url
    raw["queue"].update(backend="redis", redis_url=redis.url, workers=2)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return Settings.load(str(path)), path


@contextlib.contextmanager
def queue_world(prefix: str):
    """A booted panel on a scratch PostgreSQL database and its own redis-server, workers to start:
    (database name, config path, redis, workers); at the end undone in reverse (workers, redis, the
    database, the temporary folder)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    redis = RedisServer(tmp / "redis")
    workers = Workers(tmp)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        url = cleanup.enter_context(scratch_postgres(PG))
        cleanup.callback(redis.stop)
        cleanup.callback(workers.stop_all)
        redis.start()
        settings, path = config(tmp, url, redis)
        boot_fresh(settings)
        yield url.rsplit("/", 1)[1], path, redis, workers


def main() -> None:
    with queue_world("govhost-bench-faults-") as (name, path, redis, workers):
        stage(f"PostgreSQL database {name}, own redis-server on port {redis.port} (no persistence)")
        near = workers.start(path)
        far = workers.start(path, hostname="far-machine")
        wait(lambda: _alive() >= 2, 60, "two workers registered")
        stage(f"2 workers up: pid {near.pid} (this hostname), pid {far.pid} (hostname far-machine)")

        ids = [noop() for _ in range(N)]
        base = wait(lambda: started(ids), 60, "baseline jobs started")
        stage(f"baseline: {N} jobs submitted with Redis up, all started in {base:.2f} s")

        redis.stop()
        stage("Redis stopped (killed; nothing saved)")
        stranded = [noop() for _ in range(N)]
        time.sleep(3)
        assert all(st == JobStatus.PENDING for st in statuses(stranded))
        stage(f"{N} jobs approved while Redis was down: saved pending, none lost, none started")
        redis.start()  # returns once it answers PING: the clock starts there
        stage("Redis restarted without persistence (empty queue)")
        recovery = wait(lambda: started(stranded), 60, "stranded jobs started")
        stage(f"all {N} stranded jobs running or done {recovery:.2f} s after Redis came back")
        wait(lambda: all(st == JobStatus.SUCCESSFUL for st in statuses(stranded)), 60, "stranded jobs done")
        stage(f"all {N} stranded jobs successful; job rows: {_count()} (no duplicates)")

        victim = _on_far(far)
        workers.kill(far)
        killed = time.monotonic()
        stage(f"far worker SIGKILLed while running job {victim}")
        reap = wait(lambda: statuses([victim]) == [JobStatus.FAILED], 120, "dead worker's job reaped")
        with db.unit_of_work() as s:
            why = s.get(Job, victim).explanation
        stage(f"job {victim} failed {reap:.2f} s after the kill: {why[:90]}...")
        retry = jobs_svc.job_retry(ACTOR, victim)
        wait(lambda: statuses([retry.id]) != [JobStatus.PENDING], 60, "retry started")
        stage(f"retry job {retry.id} running on the live worker {time.monotonic() - killed:.2f} s after the kill")
        jobs_svc.job_cancel(ACTOR, retry.id)
        workers.stop_all()
        stage("workers stopped (SIGTERM, drained)")
        print(f"figure: stranded_jobs_recovery_s = {recovery:.1f} s")
        print(f"figure: dead_worker_reap_s = {reap:.1f} s")


def _alive() -> int:
    from panel.models.jobs import Worker

    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Worker).where(Worker.stopped_at.is_(None)))


def _count() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Job))


def _on_far(far) -> int:
    """Long jobs until one runs on the far worker (the near one may take some first)."""
    for _ in range(10):
        job_id = noop(600)
        wait(lambda j=job_id: statuses([j]) == [JobStatus.RUNNING], 60, "long job started")
        with db.unit_of_work() as s:
            if f"{far.pid}@far-machine/" in s.get(Job, job_id).worker:
                return job_id
        jobs_svc.job_cancel(ACTOR, job_id)  # landed on the near worker: free its thread again
        wait(lambda j=job_id: statuses([j]) == [JobStatus.CANCELED], 30, "near job canceled")
    raise SystemExit("bench: no job ran on the far worker")


if __name__ == "__main__":
    main()
