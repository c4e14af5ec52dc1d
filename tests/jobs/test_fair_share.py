"""Fair share between ministries (issue 21): one ministry's long run of jobs does not hold back
another ministry's single request. Priorities come from each job's rank among its ministry's
pending jobs; one worker thread takes them, so the order is what the queue decides."""

from __future__ import annotations

from panel import db
from panel.jobs import queue, tasks
from panel.models.jobs import Job, JobStatus
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.jobs.conftest import wait_job

ACTOR = system_actor("cli", "test")


def submit(org_id: int, n: int, sleep_s: float = 0.05) -> list[int]:
    with db.unit_of_work():  # one unit of work, like a bulk approval
        return [
            jobs_svc.job_submit(ACTOR, kind="core.noop", org_id=org_id, host_ids=[], params={"sleep_s": sleep_s}).id
            for _ in range(n)
        ]


def test_a_single_request_is_not_held_behind_another_ministrys_long_run(booted, make):
    big, small = make.make_org("Big"), make.make_org("Small")
    bulk = submit(big.id, 40)
    single = submit(small.id, 1)[0]
    with db.unit_of_work() as s:
        prio = queue.fair_priorities(s, [*bulk, single])
    assert prio[single] == 0 and prio[bulk[0]] == 0 and prio[bulk[-1]] == -39
    c = tasks.consumer(booted, workers=1)
    c.start()
    try:
        done = wait_job(single, timeout=60)
        with db.unit_of_work() as s:
            before = s.query(Job).filter(Job.id.in_(bulk), Job.finished_at <= done.started_at).count()
        assert done.status == JobStatus.SUCCESSFUL and before <= 2, before  # not 40
        assert wait_job(bulk[-1], timeout=120).status == JobStatus.SUCCESSFUL
    finally:
        c.stop(graceful=True)
