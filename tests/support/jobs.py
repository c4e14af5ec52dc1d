"""Running a test's jobs in its own process, with the real runner, as the worker would."""

from __future__ import annotations

from sqlalchemy import select

from panel import db
from panel.jobs.runner import run_job
from panel.models.jobs import Job, JobStatus


def run_pending_jobs(settings, request_id: int | None = None, *, limit: int = 100) -> list[Job]:
    """Run every pending job (of the request), oldest first, and the jobs they chain, until none is
    left; the jobs as they ended. More than `limit` rounds fails the test (jobs that keep coming)."""
    done: list[Job] = []
    for _ in range(limit):
        with db.unit_of_work() as s:
            stmt = select(Job.id).where(Job.status == JobStatus.PENDING).order_by(Job.id)
            if request_id is not None:
                stmt = stmt.where(Job.request_id == request_id)
            ids = list(s.scalars(stmt))
        if not ids:
            return done
        for job_id in ids:
            run_job(job_id, settings)
            with db.unit_of_work() as s:
                done.append(s.get(Job, job_id, populate_existing=True))
    raise AssertionError(f"jobs kept coming after {limit} rounds")
