"""What every live worker does every few seconds, beside running jobs: beat, reap, sweep.

- **Heartbeat**: the worker's registry row (hostname, pid, version) and the lease of each job it
  runs are pushed `queue.lease_s` ahead, on the database's clock (workers on several machines).
- **Reap**: a running job whose lease has passed belongs to a worker that died (SIGKILL, crash,
  machine lost) wherever it ran: any live worker fails it with that reason, and it is retryable. A
  job running past its kind's maximum run time is failed too (its worker's cancel check then stops
  the playbook). Jobs of a worker that exited cleanly are reaped at once.
- **Sweep** (the outbox): the pending job row is the message. A job still pending `queue.sweep_s`
  after it was last queued is queued again: the queue was down when it was approved, lost its
  messages (a Redis restart without persistence), or a worker took the message while the database
  was down. Tasks refuse anything not pending, so a duplicate message is harmless; the sweep backs
  off per job while the queue holds enough messages, and re-sends all at once when it holds fewer
  than there are stale jobs (it lost them). One worker sweeps per interval (a row in
  scheduled_runs), and never while a database transaction is open.
"""

from __future__ import annotations

import configparser
import datetime as dt
import importlib.metadata
import logging
import os
import socket
import threading
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from panel import db
from panel.config import Settings
from panel.jobs import capabilities, queue, resilience, runner
from panel.models.jobs import Job, JobStatus, Worker
from panel.models.schedule import ScheduledRun

log = logging.getLogger("govhost.worker")


def _version() -> str:
    """The installed package's version, else the clone's setup.cfg version."""
    try:
        return importlib.metadata.version("govhost")[:32]
    except importlib.metadata.PackageNotFoundError:
        cfg = configparser.ConfigParser()
        cfg.read(Path(__file__).resolve().parents[2] / "setup.cfg")
        return cfg.get("metadata", "version", fallback="unknown")[:32]


VERSION = _version()
MAX_BACKOFF_S = 300
SWEEP_BATCH = 1000
SWEEP_ROW = "jobs.sweep"


def beat_s(settings: Settings) -> float:
    return max(1.0, settings.queue.lease_s / 5)


def _ts(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "never"


# ---- the registry --------------------------------------------------------------------------------


def register(settings: Settings) -> str:
    with db.unit_of_work() as s:
        now = db.now(s)
        s.add(
            Worker(
                id=runner.worker_id(),
                hostname=socket.gethostname()[:255],
                pid=os.getpid(),
                version=VERSION,
                threads=settings.queue.workers,
                started_at=now,
                heartbeat_at=now,
            )
        )
    return runner.worker_id()


def mark(field: str) -> None:
    """stopping_at / stopped_at of this worker, now (best effort: the database may be down)."""
    try:
        with db.unit_of_work() as s:
            s.execute(update(Worker).where(Worker.id == runner.worker_id()).values({field: db.now(s)}))
    except Exception as e:
        log.warning("could not record %s: %s", field, resilience.describe(e))
    finally:
        db.remove()


def heartbeat(settings: Settings) -> None:
    with db.unit_of_work() as s:
        now = db.now(s)
        wid = runner.worker_id()
        if s.execute(update(Worker).where(Worker.id == wid).values(heartbeat_at=now)).rowcount == 0:
            s.add(Worker(id=wid, hostname=socket.gethostname()[:255], pid=os.getpid(), version=VERSION,
                         threads=settings.queue.workers, started_at=now, heartbeat_at=now))  # fmt: skip
        s.execute(
            update(Job)
            .where(Job.worker == wid, Job.status == JobStatus.RUNNING)
            .values(lease_until=now + dt.timedelta(seconds=settings.queue.lease_s))
        )


# ---- reaping -------------------------------------------------------------------------------------


def _lease_end(job: Job, lease_s: int) -> dt.datetime | None:
    if job.lease_until is not None:
        return job.lease_until
    return job.started_at + dt.timedelta(seconds=lease_s) if job.started_at else None


def reap(settings: Settings) -> list[int]:
    """Fail running jobs whose lease passed, whose worker exited, or that ran past their kind's
    maximum; returns their ids."""
    lease_s = settings.queue.lease_s
    with db.unit_of_work() as s:
        now = db.now(s)
        running = list(s.scalars(select(Job).where(Job.status == JobStatus.RUNNING)))
        workers = {w.id: w for w in s.scalars(select(Worker).where(Worker.id.in_({j.worker for j in running})))}
    reaped = []
    for job in running:
        worker = workers.get(job.worker)
        cap = capabilities.find(job.kind)
        limit = capabilities.max_run_s(cap, settings) if cap else settings.ansible.timeout_s + 60
        lease_end = _lease_end(job, lease_s)
        if worker is not None and worker.stopped_at is not None:
            why = _exited(job, worker)
        elif lease_end is not None and lease_end < now:
            why = _expired(job, worker, lease_end)
        elif job.started_at is not None and now - job.started_at > dt.timedelta(seconds=limit):
            why = _overtime(job, limit)
        else:
            continue
        status, explanation, still = why
        note = f"{explanation}\nreaped by {runner.worker_id()} at {_ts(now)}"
        if runner.end_job(job.id, status, explanation, note, cap, still=still):
            log.warning("job %s reaped: %s", job.id, explanation)
            reaped.append(job.id)
    return reaped


def _exited(job: Job, worker: Worker):
    explanation = (
        f"The worker running this job ({worker.id}) exited at {_ts(worker.stopped_at)} before the job "
        "finished. The job may be partly done; retry it (playbooks converge)."
    )
    return JobStatus.FAILED, explanation, lambda j, now: j.status == JobStatus.RUNNING and j.worker == job.worker


def _expired(job: Job, worker: Worker | None, lease_end: dt.datetime):
    last = _ts(worker.heartbeat_at) if worker else "never"
    explanation = (
        f"The worker running this job ({job.worker}) stopped sending heartbeats (last at {last}; lease "
        f"ended {_ts(lease_end)}): it was killed, crashed or lost its machine. The job may be partly "
        "done; retry it (playbooks converge)."
    )

    def still(j: Job, now: dt.datetime) -> bool:  # re-checked under the row lock
        end = j.lease_until or lease_end
        return j.status == JobStatus.RUNNING and j.worker == job.worker and end < now

    return JobStatus.FAILED, explanation, still


def _overtime(job: Job, limit: int):
    explanation = (
        f"The job ran longer than the maximum of {limit} s for {job.kind} and was stopped. "
        "The job may be partly done; retry it."
    )
    # A live worker's cancel check sees the job is no longer its own and stops the playbook.
    return JobStatus.FAILED, explanation, lambda j, now: j.status == JobStatus.RUNNING and j.worker == job.worker


def worker_gone(s, job: Job) -> bool:
    """For cancel: is the worker running this job gone (exited, or its lease has passed)?"""
    if job.status != JobStatus.RUNNING:
        return False
    worker = s.get(Worker, job.worker) if job.worker else None
    if worker is not None and worker.stopped_at is not None:
        return True
    end = job.lease_until or (
        job.started_at + dt.timedelta(seconds=queue.settings().queue.lease_s) if job.started_at else None
    )
    return end is not None and end < db.now(s)


# ---- sweeping (the outbox) -----------------------------------------------------------------------


def _take_sweep_slot(s, now: dt.datetime, every_s: float) -> bool:
    """One sweeper per interval across workers: move the row's time only if the interval passed."""
    dialect = s.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ScheduledRun)
    s.execute(ins.values(name=SWEEP_ROW, last_run_at=now - dt.timedelta(days=1)).on_conflict_do_nothing())
    done = s.execute(
        update(ScheduledRun)
        .where(ScheduledRun.name == SWEEP_ROW, ScheduledRun.last_run_at <= now - dt.timedelta(seconds=every_s))
        .values(last_run_at=now)
    )
    return done.rowcount == 1


def _backoff(settings: Settings, enqueues: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(settings.queue.sweep_s * 2 ** max(0, enqueues - 1), MAX_BACKOFF_S))


def sweep(settings: Settings, force: bool = False) -> list[int]:
    """Queue again the pending jobs the queue may have lost; returns their ids."""
    with db.unit_of_work() as s:
        now = db.now(s)
        if not force and not _take_sweep_slot(s, now, beat_s(settings) * 0.9):
            return []
        cutoff = now - dt.timedelta(seconds=settings.queue.sweep_s)
        stale = s.execute(
            select(Job.id, Job.enqueued_at, Job.enqueues)
            .where(Job.status == JobStatus.PENDING, or_(Job.enqueued_at.is_(None), Job.enqueued_at <= cutoff))
            .order_by(Job.id)
            .limit(SWEEP_BATCH)
        ).all()
    if not stale:
        return []
    lost = queue.length() < len(stale)  # fewer messages than stale jobs: the queue lost some
    due = [
        r.id for r in stale if lost or r.enqueued_at is None or r.enqueued_at <= now - _backoff(settings, r.enqueues)
    ]
    sent: list[int] = []
    try:
        for job_id in due:
            queue.enqueue(job_id)
            sent.append(job_id)
    finally:
        if sent:
            with db.unit_of_work() as s:
                s.execute(
                    update(Job)
                    .where(Job.id.in_(sent), Job.status == JobStatus.PENDING)
                    .values(enqueued_at=now, enqueues=Job.enqueues + 1)
                )
            log.info("re-queued %d pending job(s): %s", len(sent), _ids(sent))
    return sent


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:20])) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


# ---- the thread ----------------------------------------------------------------------------------


class Supervisor(threading.Thread):
    """Beats, reaps and sweeps every lease_s/5 seconds until stopped; outages are logged once per
    interval and healed by the next round."""

    def __init__(self, settings: Settings):
        super().__init__(name="govhost-supervisor", daemon=True)
        self.settings = settings
        self.halt = threading.Event()
        self.stopping_marked = False

    def run(self) -> None:
        while True:
            self.round()
            if self.halt.wait(beat_s(self.settings)):
                return

    def round(self) -> None:
        if runner.DRAIN.started.is_set() and not self.stopping_marked:
            mark("stopping_at")
            self.stopping_marked = True
        for name, step in (("heartbeat", heartbeat), ("reaper", reap), ("sweeper", sweep)):
            try:
                step(self.settings)
                if resilience.throttle.clear(f"supervisor:{name}"):
                    log.info("%s: database and queue reachable again", name)
            except Exception as e:
                if resilience.is_transient(e):
                    resilience.throttle.log(
                        log, logging.WARNING, f"supervisor:{name}", "%s: %s", name, resilience.describe(e)
                    )
                else:
                    log.exception("%s failed", name)
            finally:
                db.remove()


def wait_for_services(settings: Settings) -> None:
    """At start, wait (logging once per interval) until the database and the queue answer."""
    Path(settings.path("jobs")).mkdir(parents=True, exist_ok=True, mode=0o700)

    def database() -> None:
        with db.unit_of_work() as s:
            db.now(s)

    resilience.retry_transient(database, "waiting for the database", log=log)
    db.remove()
    resilience.retry_transient(queue.ping, "waiting for the queue", log=log)
