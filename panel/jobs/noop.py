"""`core.noop`: a job kind that does nothing on any host, for tests and benchmarks of the queue
itself (outbox, leases, reaping, draining) without SSH or Ansible in the measurement.

params: `sleep_s` (0-3600, default 0): how long it "works", checking for cancel ten times a second;
`fail` (bool): end `failed` instead of `successful`.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from panel.jobs.capabilities import N_, Capability, register
from panel.models.jobs import Job
from provisioners.base import Result

MAX_SLEEP_S = 3600


def _build(job: Job, session: Session):
    return {}, {}, []


def _event(counter: int, event: str, status: str | None) -> dict:
    return {"counter": counter, "event": event, "task": "No operation", "host": "", "status": status, "stdout": ""}


def _run(params: dict, cancelled, on_event) -> Result:
    sleep_s = params.get("sleep_s", 0)
    if isinstance(sleep_s, bool) or not isinstance(sleep_s, (int, float)) or not 0 <= sleep_s <= MAX_SLEEP_S:
        return Result("failed", 2, explanation=f"sleep_s must be a number of seconds from 0 to {MAX_SLEEP_S}.")
    on_event(_event(1, "playbook_on_task_start", None))
    end = time.monotonic() + sleep_s
    while time.monotonic() < end:
        if cancelled():
            return Result("canceled", None, explanation="The job was canceled before it finished.")
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    if params.get("fail"):
        on_event(_event(2, "runner_on_failed", "failed"))
        return Result("failed", 1, explanation="The no-op job was asked to fail.")
    on_event(_event(2, "runner_on_ok", "ok"))
    return Result("successful", 0, explanation="")


register(
    Capability(
        "core.noop",
        "",
        _build,
        timeout_s=MAX_SLEEP_S,
        description=N_("Do nothing (tests and benchmarks of the job queue)"),
        local=_run,
    )
)
