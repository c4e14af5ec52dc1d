"""The worker side: enqueue a job id, reap jobs of dead workers, run the Huey consumer.

A worker killed with SIGKILL leaves its jobs `running` forever; the reaper, run at every worker
start, turns them into `error` so they can be retried (as new jobs: nothing runs twice). A job is
dead when its worker was on this machine and that process is gone; with the SQLite queue (one
machine by construction) a running job of any other worker host is dead too.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from huey import crontab
from huey.consumer import Consumer
from sqlalchemy import select

from panel import db
from panel.config import Settings
from panel.jobs import capabilities, queue, runner
from panel.models.jobs import Job, JobStatus

log = logging.getLogger("govhost.jobs")

REAPED = (
    "The worker running this job stopped before it finished (it was killed or its machine restarted). Retry the job."
)

enqueue = queue.enqueue


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie (a killed child not yet waited for)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def worker_dead(worker: str, settings: Settings) -> bool:
    pid, _, host = worker.partition("@")
    if host == socket.gethostname():
        return not (pid.isdigit() and pid_alive(int(pid)))
    return settings.queue.backend == "sqlite"


def reap(settings: Settings) -> list[int]:
    """Running jobs whose worker is dead -> error; returns their ids."""
    with db.unit_of_work() as s:
        stale = [
            j.id
            for j in s.scalars(select(Job).where(Job.status == JobStatus.RUNNING))
            if worker_dead(j.worker, settings)
        ]
    for job_id in stale:
        with db.unit_of_work() as s:
            job = s.get(Job, job_id)
            cap = capabilities.find(job.kind) if job else None
            note = f"worker {job.worker} is gone; reaped by {runner.worker_id()}" if job else ""
        runner.fail_with_error(job_id, note, REAPED, cap)
        log.warning("job %s: %s", job_id, note)
    db.remove()
    return stale


def consumer(settings: Settings, workers: int | None = None, periodic: bool = False) -> Consumer:
    """A Huey consumer for this process's queue. Redis blocks on the queue; SQLite is polled, so
    its poll interval stays short (the start latency budget is 100 ms)."""
    return queue.huey().create_consumer(
        workers=workers or settings.queue.workers,
        worker_type="thread",
        periodic=periodic,
        initial_delay=0.01,
        backoff=1.15,
        max_delay=0.05,
        check_worker_health=True,
    )


def run_worker(settings: Settings, workers: int | None = None, tick: Callable[[], object] | None = None) -> None:
    """`govhost worker`: private files only, reap, then consume until SIGINT/SIGTERM.

    `tick` (the services' schedule) runs once a minute as a Huey periodic task."""
    os.umask(0o077)
    Path(settings.path("jobs")).mkdir(parents=True, exist_ok=True, mode=0o700)
    reaped = reap(settings)
    if reaped:
        log.warning("reaped jobs of dead workers: %s", reaped)
    if tick is not None:
        queue.huey().periodic_task(crontab(), name="govhost.schedule_tick")(tick)
    consumer(settings, workers, periodic=tick is not None).run()
