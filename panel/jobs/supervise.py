"""What every live worker does every few seconds, beside running jobs: beat, reap, sweep.

- **Heartbeat**: the worker's registry row (hostname, pid, version) and the lease of each job it
  runs are pushed `queue.lease_s` ahead, on the database's clock (workers on several machines).
- **Reap**: a running job whose lease has passed belongs to a worker that died (SIGKILL, crash,
  machine lost) wherever it ran: any live worker fails it with that reason, and it is retryable
  (but only once that worker itself has reached the database for a whole lease: after an outage
  longer than the lease, live workers renew first and are not mistaken for dead ones). A
  job running past its kind's maximum run time is failed too (its worker's cancel check then stops
  the playbook). Jobs of a worker that exited cleanly are reaped at once.
- **Sweep** (the outbox): the pending job row is the message. A job still pending `queue.sweep_s`
  after it was last queued is queued again: the queue was down when it was approved, lost its
  messages (a Redis restart without persistence), or a worker took the message while the database
  was down. Tasks refuse anything not pending, so a duplicate message is harmless; the sweep backs
  off per job while the queue holds enough messages, and re-sends all at once when it holds fewer
  than there are stale jobs (it lost them). A job waiting for another on its host is not stale: the
  end of that job queues it (per-host serialization). One worker sweeps per interval (a row in
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
import time
from pathlib import Path

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from panel import db
from panel.config import Settings
from panel.jobs import capabilities, queue, resilience, runner
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job, JobHost, JobStatus, Worker
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
        drained = s.execute(
            update(Worker).where(Worker.id == wid).values(heartbeat_at=now).returning(Worker.drain_requested_at)
        ).first()
        if drained is None:
            s.add(Worker(id=wid, hostname=socket.gethostname()[:255], pid=os.getpid(), version=VERSION,
                         threads=settings.queue.workers, started_at=now, heartbeat_at=now))  # fmt: skip
        s.execute(
            update(Job)
            .where(Job.worker == wid, Job.status == JobStatus.RUNNING)
            .values(lease_until=now + dt.timedelta(seconds=settings.queue.lease_s))
        )
    paused = drained is not None and drained[0] is not None
    if paused != runner.PAUSED.is_set():
        (runner.PAUSED.set if paused else runner.PAUSED.clear)()
        log.warning("drained by an operator: no new jobs" if paused else "drain lifted: taking jobs again")


# ---- reaping -------------------------------------------------------------------------------------


def _lease_end(job: Job, lease_s: int) -> dt.datetime | None:
    if job.lease_until is not None:
        return job.lease_until
    return job.started_at + dt.timedelta(seconds=lease_s) if job.started_at else None


def reap(settings: Settings, expired: bool = True) -> list[int]:
    """Fail running jobs whose lease passed (only if `expired`), whose worker exited, or that ran
    past their kind's maximum; returns their ids."""
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
        elif expired and lease_end is not None and lease_end < now:
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


def waiting_for_host():
    """The pending job shares a host with a running job (per-host serialization) or one of its
    hosts is in maintenance: it waits, and is queued when that ends."""
    mine, theirs = aliased(JobHost), aliased(JobHost)
    running = aliased(Job)
    behind_job = exists(
        select(1)
        .select_from(mine)
        .join(theirs, theirs.host_id == mine.host_id)
        .join(running, running.id == theirs.job_id)
        .where(mine.job_id == Job.id, running.status == JobStatus.RUNNING)
    )
    in_maintenance = exists(
        select(1)
        .select_from(mine)
        .join(Host, Host.id == mine.host_id)
        .where(mine.job_id == Job.id, Host.state == HostState.MAINTENANCE)
    )
    return behind_job | in_maintenance


def _backoff(settings: Settings, enqueues: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(settings.queue.sweep_s * 2 ** max(0, enqueues - 1), MAX_BACKOFF_S))


def sweep(settings: Settings, force: bool = False) -> list[int]:
    """Queue again the pending jobs the queue may have lost; returns their ids.

    Three cases, by the queue's length against the jobs that should have a message:
    - fewer messages than stale jobs (Redis restarted empty, a web died between commit and send):
      every stale job is queued again at once;
    - fewer messages than queued pending jobs (some lost, or just taken by a worker that has not
      claimed them yet): as many stale jobs as messages are missing, oldest first, each with a
      per-job backoff (later rounds reach the others);
    - a message for every one of them (a backlog being worked through): only never-queued jobs and
      jobs pending longer than the longest backoff. Before, every job of a long backlog still
      waiting its turn sweep_s after its submission was queued a second time: a 1,000-job run made
      about 700 duplicate messages, each a claim transaction for nothing (bench/queue.py).

    The queue's length is read before the database: a message taken meanwhile is a job no longer
    pending, not a message missing (the other order saw every job claimed in between as lost)."""
    length = queue.length()
    with db.unit_of_work() as s:
        now = db.now(s)
        if not force and not _take_sweep_slot(s, now, beat_s(settings) * 0.9):
            return []
        cutoff = now - dt.timedelta(seconds=settings.queue.sweep_s)
        stale = s.execute(
            select(Job.id, Job.enqueued_at, Job.enqueues)
            .where(
                Job.status == JobStatus.PENDING,
                or_(Job.enqueued_at.is_(None), Job.enqueued_at <= cutoff),
                ~waiting_for_host(),  # queued again by the end of the job on its host, not here
            )
            .order_by(Job.id)
            .limit(SWEEP_BATCH)
        ).all()
        if not stale:
            return []
        queued = s.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.status == JobStatus.PENDING, Job.enqueued_at.is_not(None), ~waiting_for_host())
        )
    if length < len(stale):  # fewer messages than stale jobs: the queue lost some
        due = [r.id for r in stale]
    else:
        never = [r.id for r in stale if r.enqueued_at is None]  # their send failed: no message at all
        sent_once = [r for r in stale if r.enqueued_at is not None]
        if length < queued:  # maybe some lost: at most as many as are missing, each with its backoff
            late = [r.id for r in sent_once if r.enqueued_at <= now - _backoff(settings, r.enqueues)]
            due = never + late[: queued - length]
        else:  # every queued pending job can have its message: leave the backlog alone
            longest = dt.timedelta(seconds=MAX_BACKOFF_S)
            due = never + [r.id for r in sent_once if r.enqueued_at <= now - longest]
    if not due:
        return []
    sent: list[int] = []
    with db.unit_of_work() as s:
        prio = queue.fair_priorities(s, due)
    try:
        for job_id in due:
            queue.enqueue(job_id, prio.get(job_id, 0))
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
        self.reachable_since: float | None = None  # monotonic; None while the database is away

    def may_reap_expired(self) -> bool:
        """Leases are judged only after this worker has reached the database for a whole lease:
        an outage longer than the lease stopped every worker's heartbeat, not only dead ones'; the
        live ones renew within a beat of its end, and then only the dead ones' leases stay expired."""
        since = self.reachable_since
        return since is not None and time.monotonic() - since >= self.settings.queue.lease_s

    def run(self) -> None:
        while True:
            self.round()
            if self.halt.wait(beat_s(self.settings)):
                return

    def round(self) -> None:
        if runner.DRAIN.started.is_set() and not self.stopping_marked:
            mark("stopping_at")
            self.stopping_marked = True
        steps = (
            ("heartbeat", heartbeat),
            ("reaper", lambda settings: reap(settings, expired=self.may_reap_expired())),
            ("sweeper", sweep),
        )
        for name, step in steps:
            try:
                step(self.settings)
                if name == "heartbeat" and self.reachable_since is None:
                    self.reachable_since = time.monotonic()
                if resilience.throttle.clear(f"supervisor:{name}"):
                    log.info("%s: database and queue reachable again", name)
            except Exception as e:
                if name == "heartbeat":
                    self.reachable_since = None
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
