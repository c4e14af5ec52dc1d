"""Run one job: claim the row, build the playbook run, call the provisioner, record the end.

The claim locks the row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE takes the
write lock), re-reads it and refuses unless it is pending, then commits `running` with a lease
before Ansible starts: a second worker holding the same id finds it running and does nothing. A
job whose host another running job is changing waits (stays pending, not queued); the end of that
job queues the oldest waiting job of each of its hosts (per-host serialization). The
end is one transaction: job status, the capability's hook and the request's move, all or nothing.

The database may go away while a playbook runs: the cancel check then assumes "not canceled" and
the playbook goes on; events wait in memory; the claim and the end are retried with backoff until
the database is back. A stopping worker (SIGTERM) lets a job run for `queue.drain_s`, then stops
the playbook and hands the job back (pending again; it reruns, playbooks converge).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets as _secrets
import socket
import threading
import time
import traceback as tb
from pathlib import Path

from sqlalchemy import case, func, literal, select, true
from sqlalchemy.orm import Session

from panel import db, events, logs
from panel.config import Settings
from panel.jobs import capabilities, resilience
from panel.jobs.events import EventWriter
from panel.jobs.resilience import retry_transient
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job, JobEvent, JobHost, JobStatus
from panel.models.requests import Request, RequestStatus
from provisioners.ansible import run_playbook
from provisioners.base import PlaybookSpec, ProvisionError, Result
from provisioners.redact import redact

log = logging.getLogger("govhost.jobs")

OUTCOMES = {
    "successful": JobStatus.SUCCESSFUL,
    "failed": JobStatus.FAILED,
    "timeout": JobStatus.FAILED,
    "canceled": JobStatus.CANCELED,
}
ERROR_TEXT = "govhost could not run this job because of an internal error; the operators have the details."


_identity: tuple[int, str] | None = None


def new_identity() -> str:
    """A fresh registry id for a consumer starting in this process (a process that ran a consumer
    before, e.g. a test session, must not inherit that one's `stopped` row)."""
    global _identity
    _identity = None
    return worker_id()


def worker_id() -> str:
    """This process in the worker registry: "pid@hostname/tag" (the tag tells apart a restarted
    process that got the same pid, e.g. pid 1 in a container)."""
    global _identity
    if _identity is None or _identity[0] != os.getpid():
        _identity = (os.getpid(), f"{os.getpid()}@{socket.gethostname()}/{_secrets.token_hex(3)}")
    return _identity[1]


class Drain:
    """Set when the worker was told to stop: no new claims; after the deadline the running
    playbooks are stopped and their jobs handed back."""

    def __init__(self):
        self.started = threading.Event()
        self.deadline = float("inf")

    def reset(self) -> None:
        self.started.clear()
        self.deadline = float("inf")

    def begin(self, seconds: float) -> None:
        if not self.started.is_set():
            self.deadline = time.monotonic() + seconds
            self.started.set()

    def expired(self) -> bool:
        return self.started.is_set() and time.monotonic() >= self.deadline


DRAIN = Drain()
# Set while an operator has drained this worker (`govhost jobs worker-drain`): it takes no message
# from the queue and claims nothing; its running jobs finish. The supervisor follows the registry.
PAUSED = threading.Event()


def locked(s: Session, job_id: int) -> Job | None:
    """The job row, locked for this transaction and re-read from the database."""
    stmt = select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    return s.scalars(stmt).first()


CLAIMED, NOT_PENDING, WAITING = "claimed", "not pending", "waiting"


def busy_host(s: Session, job: Job) -> tuple[int | None, str] | None:
    """(job id, host name) of another running job on one of this job's hosts or, when none runs,
    of an older job of them still pending; (None, host name) of one of its hosts in maintenance;
    or None: the job may run.

    Per-host serialization: two jobs never change one host at the same time (a site's `nginx -t`
    must not read half-written mail TLS files). The job's host rows are locked first, in id order
    (PostgreSQL: FOR UPDATE; SQLite's claim holds the write lock anyway), so two workers claiming
    two jobs of one host cannot both see it free."""
    ids = job.host_ids
    if not ids:
        return None
    hosts = s.execute(
        select(Host.id, Host.name, Host.state).where(Host.id.in_(ids)).order_by(Host.id).with_for_update()
    )
    held = next((h.name for h in hosts if h.state == HostState.MAINTENANCE), None)
    if held is not None:
        return None, held
    lane = same_lane(job.kind)
    row = s.execute(
        select(JobHost.job_id, JobHost.host_name)
        .join(Job, Job.id == JobHost.job_id)
        .where(JobHost.host_id.in_(ids), Job.status == JobStatus.RUNNING, Job.id != job.id, lane)
        .limit(1)
    ).first()
    if row is None:
        # First come, first served: an older job of these hosts that is still pending goes first. A
        # job queued at once (a chained certificate job) must not overtake one that waited for the
        # host: a site's certificate was ordered before its DNS record, queued earlier, was published.
        # One waiting for maintenance of another host holds no one back.
        row = s.execute(
            select(JobHost.job_id, JobHost.host_name)
            .join(Job, Job.id == JobHost.job_id)
            .where(
                JobHost.host_id.in_(ids),
                Job.status == JobStatus.PENDING,
                Job.id < job.id,
                ~Job.explanation.startswith(MAINTENANCE_PREFIX),
                lane,
            )
            .order_by(JobHost.job_id)
            .limit(1)
        ).first()
    return (row.job_id, row.host_name) if row else None


def same_lane(kind: str):
    """The jobs that share a host's lane with a job of `kind`: the kinds that hold their hosts, or
    those that do not (Capability.holds_hosts; one job at a time in each)."""
    side = capabilities.side_lane_kinds()
    if not side:
        return true()
    return Job.kind.in_(side) if kind in side else Job.kind.notin_(side)


def wake_waiting(s: Session, job: Job) -> None:
    """The job no longer holds its hosts: after commit, queue the oldest pending job of each of
    them (it waited for this one; one per host, first come first served)."""
    wake_hosts(s, job.host_ids, exclude=job.id)


def wake_hosts(s: Session, ids: list[int], exclude: int | None = None) -> None:
    """After commit, queue the oldest pending job of each host (a host came out of maintenance, or
    its running job ended)."""
    if not ids:
        return
    from panel.jobs import queue  # queue imports this module

    side = capabilities.side_lane_kinds()
    lane = case((Job.kind.in_(side), 1), else_=0) if side else literal(0)
    nxt = s.scalars(  # the oldest of each host's lane (a waiting DNS update never hides a site job)
        select(func.min(JobHost.job_id))
        .join(Job, Job.id == JobHost.job_id)
        .where(JobHost.host_id.in_(ids), Job.status == JobStatus.PENDING, Job.id != (exclude or 0))
        .group_by(JobHost.host_id, lane)
    ).all()
    prio = queue.fair_priorities(s, nxt)
    for job_id in sorted(set(nxt)):
        db.on_commit(lambda job_id=job_id: queue.enqueue_after_commit(job_id, prio.get(job_id, 0)))


def claim(job_id: int, lease_s: int = 20) -> str:
    """Pending -> running with a lease (CLAIMED); NOT_PENDING; or WAITING when another job is
    running on one of its hosts (it stays pending and is queued again when that one ends). A
    database outage is waited out (up to three leases); after that the job stays pending and the
    sweeper queues it again."""

    def attempt() -> str:
        with db.unit_of_work() as s:
            job = locked(s, job_id)
            if job is None or job.status != JobStatus.PENDING:
                return NOT_PENDING
            busy = busy_host(s, job)
            if busy is not None:
                text = WAIT_TEXT if busy[0] is not None else MAINTENANCE_TEXT
                job.explanation = text.format(job=busy[0], host=busy[1])
                return WAITING
            logs.request_id.set(job.trace_id or "")  # this job's log lines and audit entries (job_context resets it)
            now = db.now(s)  # read before the changes: one UPDATE, not a flush before this read and another
            if job.explanation.startswith((WAIT_PREFIX, MAINTENANCE_PREFIX)):
                job.explanation = ""
            job.move_to(JobStatus.RUNNING)
            job.worker = worker_id()
            job.lease_until = now + dt.timedelta(seconds=lease_s)
        return CLAIMED

    return retry_transient(attempt, f"claim of job {job_id}", deadline_s=3 * lease_s, log=log)


WAIT_PREFIX = "Waiting for job "
WAIT_TEXT = WAIT_PREFIX + "{job} to finish on host {host}: one job changes a host at a time."
MAINTENANCE_PREFIX = "Waiting for host "
MAINTENANCE_TEXT = MAINTENANCE_PREFIX + "{host} to come out of maintenance; the job starts then."


class CancelWatch:
    """cancel_callback for ansible-runner: reads the job's cancel flag at most once a second.

    Also stops the playbook when the job is no longer this worker's (reaped), or when the worker's
    drain time is over. An unreachable database means "not canceled": the playbook goes on."""

    def __init__(self, job_id: int, every_s: float = 1.0):
        self.job_id, self.every_s = job_id, every_s
        self.next_check, self.canceled, self.reason = 0.0, False, ""

    def __call__(self) -> bool:
        if not self.canceled and DRAIN.expired():
            self.canceled, self.reason = True, "drain"
        now = time.monotonic()
        if not self.canceled and now >= self.next_check:
            self.next_check = now + self.every_s
            try:
                self._check()
            except Exception as e:
                if not resilience.is_transient(e):
                    raise
                resilience.throttle.log(
                    log,
                    logging.WARNING,
                    f"cancel:{self.job_id}",
                    "cancel check: database unreachable (%s); the playbook goes on",
                    resilience.describe(e),
                )
        return self.canceled

    def _check(self) -> None:
        with db.unit_of_work() as s:
            row = s.execute(select(Job.cancel_requested, Job.status, Job.worker).where(Job.id == self.job_id)).first()
        if row is None or row.status != JobStatus.RUNNING or row.worker != worker_id():
            self.canceled, self.reason = True, "lost"
        elif row.cancel_requested:
            self.canceled, self.reason = True, "cancel"


control_dir = capabilities.control_dir  # where the other modules look it up


def move_request(s: Session, job: Job, ok: bool) -> None:
    if job.request_id is None:
        return
    req = s.get(Request, job.request_id)
    target = RequestStatus.DONE if ok else RequestStatus.FAILED
    if req is not None and req.can_move_to(target):
        req.move_to(target)
    elif req is not None:
        log.warning("job %s finished but request %s is %s, not moved to %s", job.id, req.id, req.status, target)


def _ours(job: Job | None) -> bool:
    return job is not None and job.status == JobStatus.RUNNING and job.worker == worker_id()


def finish(job_id: int, result: Result, cap: capabilities.Capability, writer: EventWriter | None = None) -> JobStatus:
    """Record the outcome, with the events the writer still holds (one transaction, one commit
    fewer per job); retried until the database answers (the hosts already did the work)."""
    status = OUTCOMES.get(result.status, JobStatus.ERROR)

    def attempt() -> JobStatus:
        with db.unit_of_work() as s:
            if writer is not None:
                writer.write(s)  # the job's events are stored whatever its row says
            job = locked(s, job_id)
            if not _ours(job):  # reaped while the database was away: the reaper's word stands
                return job.status if job else JobStatus.ERROR
            job.move_to(status)
            job.rc, job.stats, job.data = result.rc, result.stats, result.data
            job.explanation = result.explanation if status != JobStatus.ERROR else ERROR_TEXT
            job.lease_until = None
            if status == JobStatus.ERROR:
                job.traceback = f"ansible-runner ended with status {result.status} rc {result.rc}: {result.explanation}"
            (cap.on_success if status == JobStatus.SUCCESSFUL else cap.on_failure)(job, s, result)
            events.job_finished.send(job, session=s, result=result, ok=status == JobStatus.SUCCESSFUL)
            move_request(s, job, status == JobStatus.SUCCESSFUL)
            wake_waiting(s, job)
        return status

    status = retry_transient(attempt, f"recording the end of job {job_id}", log=log)
    if writer is not None:
        writer.stored()
    return status


def end_job(
    job_id: int,
    status: JobStatus,
    explanation: str,
    traceback_text: str = "",
    cap: capabilities.Capability | None = None,
    still=None,
) -> bool:
    """End an active job that no playbook will finish (dead worker, over time, broken runner):
    status and explanation, on_failure, request failed. `still(job, now)` re-checks under the row
    lock that the reason holds (a heartbeat may have come in meanwhile). True if it ended it."""
    with db.unit_of_work() as s:
        job = locked(s, job_id)
        if job is None or job.finished or (still is not None and not still(job, db.now(s))):
            return False
        end_locked(s, job, status, explanation, traceback_text, cap)
    return True


def end_locked(
    s: Session, job: Job, status: JobStatus, explanation: str, traceback_text: str, cap: capabilities.Capability | None
) -> None:
    """end_job's body, for a caller that holds the row lock (job_cancel)."""
    job.move_to(status)
    job.explanation, job.traceback, job.lease_until = explanation, traceback_text, None
    result = Result(status=status.value, rc=None, explanation=explanation)
    if cap is not None:
        try:
            with s.begin_nested():
                cap.on_failure(job, s, result)
        except Exception:  # the hook itself may be what broke; the job still ends
            job.traceback += "\n\non_failure hook:\n" + tb.format_exc()
    events.job_finished.send(job, session=s, result=result, ok=False)
    move_request(s, job, ok=False)
    wake_waiting(s, job)


def fail_with_error(
    job_id: int, traceback_text: str, explanation: str = ERROR_TEXT, cap: capabilities.Capability | None = None
) -> None:
    """Mark a running job `error` (traceback for operators), run on_failure, fail its request."""
    end_job(job_id, JobStatus.ERROR, explanation, traceback_text, cap)


def hand_back(job_id: int) -> bool:
    """running -> pending: this worker is stopping before the job ended; another worker reruns it."""
    from panel.jobs import queue  # queue imports this module

    def attempt() -> bool:
        with db.unit_of_work() as s:
            job = locked(s, job_id)
            if not _ours(job):
                return False
            job.move_to(JobStatus.PENDING)
            job.cancel_requested = False
            job.explanation = f"Handed back by a stopping worker ({worker_id()}); it runs again on another worker."
            job.enqueued_at, job.enqueues = db.now(s), job.enqueues + 1
            wake_waiting(s, job)  # an older job of its hosts may run first
        return True

    handed = retry_transient(attempt, f"handing back job {job_id}", log=log)
    if handed:
        queue.enqueue_after_commit(job_id)
    return handed


def _prepare(job_id: int, settings: Settings):
    def read():
        with db.unit_of_work() as s:
            job = s.get(Job, job_id, populate_existing=True)
            cap = capabilities.get(job.kind)
            try:
                extravars, secrets, targets = cap.build(job, s)
            except ProvisionError as e:  # refused before anything is sent (a name Windows cannot hold)
                return cap, {}, {}, [], {}, dict(job.params or {}), 0, str(e)
            known = {**capabilities.job_secrets(job), **secrets}
            first = s.scalar(select(func.max(JobEvent.counter)).where(JobEvent.job_id == job_id)) or 0
            return cap, extravars, secrets, targets, known, dict(job.params or {}), first, ""

    cap, extravars, secrets, targets, known, params, first, refused = retry_transient(
        read, f"reading job {job_id}", log=log
    )
    if cap.local is not None or refused:
        return cap, None, targets, secrets, known, params, first, refused
    try:
        playbook = cap.playbook_for(targets)
    except ProvisionError as e:
        return cap, None, targets, secrets, known, params, first, str(e)
    spec = PlaybookSpec(
        playbook=playbook,
        project_dir=cap.project_dir,
        ssh_key=settings.ansible.ssh_key,
        extravars=extravars,
        forks=settings.ansible.forks,
        control_dir=control_dir(settings),
        templates_dir=str(capabilities.TEMPLATES_DIR),
    )
    return cap, spec, targets, secrets, known, params, first, ""


def execute(job_id: int, settings: Settings) -> JobStatus:
    """Run a claimed job to its end; never raises (an exception makes the job `error`)."""
    cap, known = None, {}
    writer = EventWriter(job_id)
    try:
        cap, spec, targets, secrets, known, params, first, refused = _prepare(job_id, settings)
        writer.offset = first  # a handed-back job's rerun numbers its events after the first run's
        watch = CancelWatch(job_id)
        if refused:  # nothing was sent to any host: a failure with its reason, not a crash
            result = Result("failed", None, explanation=refused)
        elif cap.local is not None:
            result = cap.local(params, lambda: writer.tick() or watch(), writer.add)
        else:
            result = run_playbook(
                spec,
                targets,
                on_event=writer.add,
                secrets=secrets,
                timeout=cap.timeout_s or settings.ansible.timeout_s,
                workdir_parent=settings.path("jobs"),
                cancel=watch,
                also_redact=list(known.values()),
            )
        if result.status == "canceled" and watch.reason == "drain":
            writer.flush(wait=True)
            if hand_back(job_id):
                log.warning("job %s handed back: the worker is stopping and its drain time is over", job_id)
                return JobStatus.PENDING
        if result.status == "canceled" and watch.reason == "lost":
            log.warning("job %s was reaped or taken over while it ran; its playbook was stopped", job_id)
        return finish(job_id, result, cap, writer)
    except Exception:
        text = redact(tb.format_exc(), known)
        log.error("job %s broke: %s", job_id, text)
        try:
            writer.flush(wait=True)
        except Exception:
            log.exception("job %s: events could not be stored", job_id)
        retry_transient(lambda: fail_with_error(job_id, text, cap=cap), f"recording the error of job {job_id}", log=log)
        return JobStatus.ERROR


def run_job(job_id: int, settings: Settings) -> str:
    """The Huey task body: the job's final status, "skipped" when it was not pending, "deferred"
    when the database stayed unreachable (the job stays pending; the sweeper queues it again)."""
    with resilience.job_context(job_id):
        try:
            if DRAIN.started.is_set() or PAUSED.is_set():
                return "deferred"  # stopping or drained: leave it pending for another worker (the sweeper re-queues)
            try:
                claimed = claim(job_id, settings.queue.lease_s)
            except Exception as e:
                if not resilience.is_transient(e):
                    raise
                log.warning("database unreachable (%s): job left pending for the sweeper", resilience.describe(e))
                return "deferred"
            if claimed == WAITING:
                log.info("job %s waits: another job is running on one of its hosts", job_id)
                return "waiting"
            if claimed != CLAIMED:
                log.info("job %s is not pending: not run by %s", job_id, worker_id())
                return "skipped"
            log.info("job %s claimed by %s", job_id, worker_id())
            Path(settings.path("jobs")).mkdir(parents=True, exist_ok=True, mode=0o700)
            status = execute(job_id, settings).value
            log.info("job %s ended %s", job_id, status)
            return status
        finally:
            db.remove()
