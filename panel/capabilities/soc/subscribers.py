"""Receivers of the core's signals: job failures join the audit chain (and so the feed), and a
commit that appended to the chain wakes a shipper running in this process."""

from __future__ import annotations

from panel import db, events
from panel.capabilities.soc import ship
from panel.models.jobs import JobStatus
from panel.services.audit import append

FAILED = (JobStatus.FAILED, JobStatus.ERROR)


@events.audit_appended.connect
def _wake_after_commit(entry, session, **_) -> None:
    if session.info.get("uow_depth") and ship.wake not in session.info.get("on_commit", ()):
        db.on_commit(ship.wake)


@events.job_finished.connect
def _job_failed(job, session, result=None, ok=True, **_) -> None:
    if ok or job.status not in FAILED:
        return
    append(
        None,
        "job.failed",
        object_type="job",
        object_id=job.id,
        org_id=job.org_id,
        summary={"kind": job.kind, "status": job.status.value, "rc": getattr(result, "rc", None)},
    )
