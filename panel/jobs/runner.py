"""Run one job: claim the row, build the playbook run, call the provisioner, record the end.

The claim locks the row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE takes the
write lock), re-reads it and refuses unless it is pending, then commits `running` before Ansible
starts: a second worker holding the same id finds it running and does nothing. The end is one
transaction: job status, the capability's hook and the request's move, all or nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback as tb
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db, events
from panel.config import Settings
from panel.jobs import capabilities
from panel.jobs.events import EventWriter
from panel.models.jobs import Job, JobStatus
from panel.models.requests import Request, RequestStatus
from provisioners.ansible import run_playbook
from provisioners.base import PlaybookSpec, Result
from provisioners.redact import redact

log = logging.getLogger("govhost.jobs")

OUTCOMES = {
    "successful": JobStatus.SUCCESSFUL,
    "failed": JobStatus.FAILED,
    "timeout": JobStatus.FAILED,
    "canceled": JobStatus.CANCELED,
}
ERROR_TEXT = "govhost could not run this job because of an internal error; the operators have the details."


def worker_id() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def locked(s: Session, job_id: int) -> Job | None:
    """The job row, locked for this transaction and re-read from the database."""
    stmt = select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    return s.scalars(stmt).first()


def claim(job_id: int) -> bool:
    with db.unit_of_work() as s:
        job = locked(s, job_id)
        if job is None or job.status != JobStatus.PENDING:
            return False
        job.move_to(JobStatus.RUNNING)
        job.worker = worker_id()
    return True


class CancelWatch:
    """cancel_callback for ansible-runner: reads the job's cancel flag at most once a second."""

    def __init__(self, job_id: int, every_s: float = 1.0):
        self.job_id, self.every_s = job_id, every_s
        self.next_check, self.canceled = 0.0, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.canceled and now >= self.next_check:
            self.next_check = now + self.every_s
            with db.unit_of_work() as s:
                self.canceled = bool(s.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)))
        return self.canceled


def control_dir(settings: Settings) -> str:
    """Every run shares one ControlPath dir (settings.ansible.control_dir, default under the data
    dir), so ssh masters outlive a run; the test lab points it at its own dir, which a lab reset clears."""
    cp = Path(settings.ansible.control_dir) if settings.ansible.control_dir else settings.path("ssh-cp")
    cp.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(cp)


def move_request(s: Session, job: Job, ok: bool) -> None:
    if job.request_id is None:
        return
    req = s.get(Request, job.request_id)
    target = RequestStatus.DONE if ok else RequestStatus.FAILED
    if req is not None and req.can_move_to(target):
        req.move_to(target)
    elif req is not None:
        log.warning("job %s finished but request %s is %s, not moved to %s", job.id, req.id, req.status, target)


def finish(job_id: int, result: Result, cap: capabilities.Capability) -> JobStatus:
    status = OUTCOMES.get(result.status, JobStatus.ERROR)
    with db.unit_of_work() as s:
        job = locked(s, job_id)
        if job is None or job.status != JobStatus.RUNNING:
            return job.status if job else JobStatus.ERROR
        job.move_to(status)
        job.rc, job.stats, job.data = result.rc, result.stats, result.data
        job.explanation = result.explanation if status != JobStatus.ERROR else ERROR_TEXT
        if status == JobStatus.ERROR:
            job.traceback = f"ansible-runner ended with status {result.status} rc {result.rc}: {result.explanation}"
        (cap.on_success if status == JobStatus.SUCCESSFUL else cap.on_failure)(job, s, result)
        events.job_finished.send(job, session=s, result=result, ok=status == JobStatus.SUCCESSFUL)
        move_request(s, job, status == JobStatus.SUCCESSFUL)
    return status


def fail_with_error(
    job_id: int, traceback_text: str, explanation: str = ERROR_TEXT, cap: capabilities.Capability | None = None
) -> None:
    """Mark a running job `error` (traceback for operators), run on_failure, fail its request."""
    with db.unit_of_work() as s:
        job = locked(s, job_id)
        if job is None or job.finished:
            return
        job.move_to(JobStatus.ERROR)
        job.explanation, job.traceback = explanation, traceback_text
        if cap is not None:
            try:
                with s.begin_nested():
                    cap.on_failure(job, s, Result(status="error", rc=None, explanation=explanation))
            except Exception:  # the hook itself may be what broke; the job still ends
                job.traceback += "\n\non_failure hook:\n" + tb.format_exc()
        events.job_finished.send(
            job, session=s, result=Result(status="error", rc=None, explanation=explanation), ok=False
        )
        move_request(s, job, ok=False)


def _prepare(job_id: int, settings: Settings):
    with db.unit_of_work() as s:
        job = s.get(Job, job_id)
        cap = capabilities.get(job.kind)
        extravars, secrets, targets = cap.build(job, s)
        known = {**capabilities.job_secrets(job), **secrets}
    spec = PlaybookSpec(
        playbook=cap.playbook_name,
        project_dir=cap.project_dir,
        ssh_key=settings.ansible.ssh_key,
        extravars=extravars,
        forks=settings.ansible.forks,
        control_dir=control_dir(settings),
        templates_dir=str(capabilities.TEMPLATES_DIR),
    )
    return cap, spec, targets, secrets, known


def execute(job_id: int, settings: Settings) -> JobStatus:
    """Run a claimed job to its end; never raises (an exception makes the job `error`)."""
    cap, known = None, {}
    writer = EventWriter(job_id)
    try:
        cap, spec, targets, secrets, known = _prepare(job_id, settings)
        result = run_playbook(
            spec,
            targets,
            on_event=writer.add,
            secrets=secrets,
            timeout=cap.timeout_s or settings.ansible.timeout_s,
            workdir_parent=settings.path("jobs"),
            cancel=CancelWatch(job_id),
        )
        writer.flush()
        return finish(job_id, result, cap)
    except Exception:
        text = redact(tb.format_exc(), known)
        log.error("job %s broke: %s", job_id, text)
        try:
            writer.flush()
        except Exception:
            log.exception("job %s: events could not be stored", job_id)
        fail_with_error(job_id, text, cap=cap)
        return JobStatus.ERROR


def run_job(job_id: int, settings: Settings) -> str:
    """The Huey task body: the job's final status, or "skipped" when it was not pending."""
    try:
        if not claim(job_id):
            log.info("job %s is not pending: not run by %s", job_id, worker_id())
            return "skipped"
        Path(settings.path("jobs")).mkdir(parents=True, exist_ok=True, mode=0o700)
        return execute(job_id, settings).value
    finally:
        db.remove()
