"""The Huey instance, chosen by the settings (SqliteHuey embedded default, or RedisHuey), and the
one task: run a job by id.

The task is registered on the configured instance at boot, so every process that booted (web, CLI,
worker) can enqueue and the worker can run; a task message carries the job id only.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from huey import PriorityRedisHuey, SqliteHuey
from huey.api import Huey, TaskWrapper
from sqlalchemy import update

from panel.config import Settings
from panel.jobs import capabilities, resilience, runner

TASK_NAME = "govhost.run_job"
log = logging.getLogger("govhost.queue")
_deferred = threading.local()

_huey: Huey | None = None
_task: TaskWrapper | None = None
_settings: Settings | None = None


def configure(settings: Settings) -> Huey:
    global _huey, _task, _settings
    if settings.queue.backend == "redis":
        # Priorities (a sorted set, not a list) carry the fair share between ministries. Messages a
        # RedisHuey left in the old list are not read; the sweeper queues their pending jobs again.
        _huey = PriorityRedisHuey(queue_name(settings), url=settings.queue.redis_url, results=False)
    else:
        _huey = SqliteHuey("govhost", filename=settings.queue.sqlite_path, results=False)
    _settings = settings
    capabilities.configure(settings)

    def run_job(job_id: int) -> str:
        return runner.run_job(int(job_id), settings)

    # retries=0: a job that broke is `error` and is retried by a person, as a new job.
    _task = _huey.task(name=TASK_NAME, retries=0)(run_job)
    return _huey


def queue_name(settings: Settings) -> str:
    """Panels (or test sessions) that share one Redis but not one database must never take each
    other's job ids: the queue is named after the database."""
    return "govhost." + hashlib.sha256(settings.database.url.encode()).hexdigest()[:12]


def huey() -> Huey:
    if _huey is None:
        raise RuntimeError("job queue not configured")
    return _huey


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("job queue not configured")
    return _settings


def enqueue(job_id: int, priority: int = 0) -> None:
    """Queue the job id (raises if the queue is unreachable). Higher priority is taken first."""
    if _task is None:
        raise RuntimeError("job queue not configured")
    _task(int(job_id), priority=int(priority))


def fair_priorities(session, job_ids) -> dict[int, int]:
    """Fair share between ministries: a pending job's priority is minus its rank among its
    ministry's pending jobs (data-center work counts as one more ministry), so one ministry's
    1,000-job run holds back another ministry's single request by one job at most, not 1,000."""
    from sqlalchemy import func, select

    from panel.models.jobs import Job, JobStatus

    ids = sorted({int(i) for i in job_ids})
    if not ids:
        return {}
    rank = func.row_number().over(partition_by=Job.org_id, order_by=Job.id).label("rank")
    ranked = select(Job.id, rank).where(Job.status == JobStatus.PENDING).subquery()
    rows = session.execute(select(ranked.c.id, ranked.c.rank).where(ranked.c.id.in_(ids))).all()
    return {i: -(r - 1) for i, r in rows}


def enqueue_after_commit(job_id: int, priority: int = 0) -> bool:
    """Queue a committed job id; never raises. The committed pending row is the outbox: if the
    queue is down now, a worker's sweeper queues the job again once the queue is back."""
    try:
        enqueue(job_id, priority)
        return True
    except Exception as e:
        resilience.throttle.log(
            log,
            logging.WARNING,
            "enqueue",
            "job %s saved, but the queue is unreachable (%s); it will start when the queue is back",
            job_id,
            resilience.describe(e),
        )
        _deferred.ids = [*getattr(_deferred, "ids", []), job_id]
        _mark_unqueued(job_id)
        return False


def _mark_unqueued(job_id: int) -> None:
    """Never queued: the sweeper takes it at its next round, not `sweep_s` later."""
    from panel import db
    from panel.models.jobs import Job, JobStatus

    try:
        with db.unit_of_work() as s:
            s.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.PENDING).values(enqueued_at=None))
    except Exception as e:  # the database may be down too: then the sweep_s bound applies
        log.info("job %s: could not mark it unqueued (%s)", job_id, resilience.describe(e))


def take_deferred() -> list[int]:
    """Job ids this thread saved but could not queue since the last call (the CLI tells the user)."""
    ids, _deferred.ids = getattr(_deferred, "ids", []), []
    return ids


def length() -> int:
    """Messages waiting in the queue (raises if the queue is unreachable)."""
    return huey().pending_count()


def ping() -> None:
    """Raise if the queue cannot be reached."""
    storage = huey().storage
    if hasattr(storage, "conn") and hasattr(storage.conn, "ping"):
        storage.conn.ping()
    else:
        storage.queue_size()
