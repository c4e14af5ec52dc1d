"""Two `govhost worker` processes on Redis (issue 21: "two workers and a batch of jobs: each runs
exactly once and the split is visible"). Run it on PostgreSQL too (GOVHOST_TEST_DATABASE), the
production shape: each job is claimed by one worker, runs once (its events once), and both
workers took a share, as the jobs' `worker` column and `govhost jobs workers` show."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from panel import db
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.services import jobs as jobs_svc
from tests.jobs.conftest import wait_job
from tests.jobs.test_outages import ACTOR, noop, redis_server, settings, wait_until, workers  # noqa: F401


def test_a_batch_runs_exactly_once_split_over_two_workers(workers):
    workers.start(workers.config("w1"))
    workers.start(workers.config("w2", workers=1))
    wait_until(lambda: len([w for w in jobs_svc.worker_list(ACTOR) if w["state"] == "alive"]) >= 2, 60, "2 workers")
    ids = [noop(0.3).id for _ in range(30)]
    done = [wait_job(i, timeout=120) for i in ids]
    assert {j.status for j in done} == {JobStatus.SUCCESSFUL}
    with db.unit_of_work() as s:
        events = dict(
            s.execute(
                select(JobEvent.job_id, func.count()).where(JobEvent.job_id.in_(ids)).group_by(JobEvent.job_id)
            ).all()
        )
        attempts = {j.id: j.attempt for j in s.scalars(select(Job).where(Job.id.in_(ids)))}
    assert set(events.values()) == {2} and set(attempts.values()) == {1}  # each ran once, no rerun
    split = Counter(j.worker.split("/")[0] for j in done)
    assert len(split) == 2 and min(split.values()) >= 3, split  # both took a visible share
    for i in (0, 1):
        assert "Traceback" not in workers.log(i)
