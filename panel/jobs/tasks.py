"""The worker side: the Huey consumer, the supervisor beside it, and a stop that drains.

`govhost worker` waits for the database and the queue (a worker started during an outage does not
exit), registers itself, reaps what dead workers left, then consumes. SIGTERM (what systemctl stop
sends) and SIGINT drain: no new job is taken, running jobs get `queue.drain_s` to finish, then their
playbooks are stopped and the jobs handed back (pending; another worker reruns them), and the
process exits. A second signal stops at once (the leases then let another worker reap the jobs).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from huey import crontab
from huey.consumer import Consumer, Worker

from panel import db
from panel.config import Settings
from panel.jobs import queue, resilience, runner, supervise

log = logging.getLogger("govhost.worker")

enqueue = queue.enqueue


def reap(settings: Settings, expired: bool = True) -> list[int]:
    """Reap jobs of dead workers now (the supervisor does it every few seconds)."""
    try:
        return supervise.reap(settings, expired=expired)
    finally:
        db.remove()


class PatientWorker(Worker):
    """Huey's worker thread, but an unreachable queue is logged once per interval (not a traceback
    per poll) and polled again after a second, not 50 ms."""

    def loop(self, now=None):
        if runner.PAUSED.is_set():  # drained by an operator: leave messages to the other workers
            self.stop_flag.wait(1.0)
            return
        try:
            task = self.huey.dequeue()
        except Exception as e:
            resilience.throttle.log(
                log, logging.WARNING, "dequeue", "queue unreachable: %s; waiting", resilience.describe(e)
            )
            self.stop_flag.wait(1.0)
            return
        if resilience.throttle.clear("dequeue"):
            log.info("queue reachable again")
        if task is None:
            if not self.huey.storage.blocking:
                self.sleep()
            return
        self.delay = self.default_delay
        try:
            self.huey.execute(task, now)
        except Exception:
            log.exception("task %s broke", task.id)


class DrainingConsumer(Consumer):
    """SIGTERM and SIGINT both drain (Huey's default makes SIGTERM immediate); draining starts the
    clock after which running playbooks are stopped and handed back."""

    worker_class = PatientWorker

    def __init__(self, huey, settings: Settings, **options):
        drain_s = settings.queue.drain_s
        super().__init__(huey, graceful_signal="TERM", shutdown_timeout=drain_s + 30, **options)
        self.settings, self.drain_s = settings, drain_s
        self._signal_actions[signal.SIGINT] = (False, True)

    def start(self):
        """Huey's start, plus the supervisor (heartbeats, reaping, sweeping) of this process: an
        in-process consumer (tests, benchmarks) beats for its jobs like `govhost worker` does."""
        if getattr(self, "fresh", True):  # run_worker registered this process's identity already
            runner.new_identity()
        runner.DRAIN.reset()
        self.supervisor = supervise.Supervisor(self.settings)
        self.supervisor.start()
        super().start()

    def stop(self, graceful=False):
        super().stop(graceful=graceful)
        supervisor = getattr(self, "supervisor", None)
        if supervisor is not None:
            supervisor.halt.set()
            supervisor.join(5)
            supervise.mark("stopped_at")

    def _handle_signal(self, signum, frame):
        first = self._signum is None
        super()._handle_signal(signum, frame)
        if signum in (signal.SIGTERM, signal.SIGINT) and first:
            runner.DRAIN.begin(self.drain_s)


def consumer(settings: Settings, workers: int | None = None, periodic: bool = False) -> Consumer:
    """A Huey consumer for this process's queue. Redis blocks on the queue; SQLite is polled, so
    its poll interval stays short (the start latency budget is 100 ms)."""
    return DrainingConsumer(
        queue.huey(),
        settings,
        workers=workers or settings.queue.workers,
        worker_type="thread",
        periodic=periodic,
        initial_delay=0.01,
        backoff=1.15,
        max_delay=0.05,
        check_worker_health=True,
    )


def run_worker(settings: Settings, workers: int | None = None, tick: Callable[[], object] | None = None) -> None:
    """`govhost worker`: private files only, wait for services, register, reap, then consume with
    the supervisor beating beside it until SIGTERM/SIGINT, then drain and exit.

    `tick` (the services' schedule) runs once a minute as a Huey periodic task."""
    os.umask(0o077)
    resilience.configure_logging(fmt=settings.log.format)
    Path(settings.path("jobs")).mkdir(parents=True, exist_ok=True, mode=0o700)
    supervise.wait_for_services(settings)
    wid = resilience.retry_transient(lambda: supervise.register(settings), "registering the worker", log=log)
    log.info("worker %s started (%s threads, lease %s s, drain %s s)", wid, workers or settings.queue.workers,
             settings.queue.lease_s, settings.queue.drain_s)  # fmt: skip
    # Jobs of workers that exited, at once; expired leases only from the supervisor, a lease after
    # this worker reached the database (the outage that just ended may have stopped live workers' beats).
    reaped = reap(settings, expired=False)
    if reaped:
        log.warning("reaped jobs of dead workers: %s", reaped)
    if tick is not None:
        queue.huey().periodic_task(crontab(), name="govhost.schedule_tick")(tick)
    c = consumer(settings, workers, periodic=tick is not None)
    c.fresh = False
    started = time.monotonic()
    try:
        c.run()  # returns after a drain (SIGTERM/SIGINT); stop() has halted the supervisor
    finally:
        log.info("worker %s stopped after %.0f s", wid, time.monotonic() - started)
