"""Drain a worker, and a host in maintenance (issue 21), with a real in-process consumer and
`core.noop` jobs on Host rows. A drained worker finishes its running job and takes no new one until
the drain is lifted; a host in maintenance gets no new placement (an operator's choice is refused
too) and its jobs wait, explained, until it is active again, then start by themselves."""

from __future__ import annotations

import time

import pytest

from panel import db
from panel.errors import PanelError
from panel.jobs import runner
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus, Worker
from panel.services import hosts as hosts_svc
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.jobs.conftest import wait_job
from tests.jobs.test_host_serial import host, noop

ACTOR = system_actor("cli", "test")


def test_a_drained_worker_finishes_its_job_and_takes_no_new_one(consumer, booted):
    h = host("drainh", 203)
    first = noop(h, 3)
    wait_job(first, {JobStatus.RUNNING}, timeout=20)
    jobs_svc.worker_drain(ACTOR, runner.worker_id())
    assert {w["id"]: w["state"] for w in jobs_svc.worker_list(ACTOR)}[runner.worker_id()] == "draining"
    deadline = time.monotonic() + 15
    while not runner.PAUSED.is_set() and time.monotonic() < deadline:  # within one heartbeat
        time.sleep(0.1)
    assert runner.PAUSED.is_set()
    later = jobs_svc.job_submit(ACTOR, kind="core.noop", org_id=None, host_ids=[], params={}).id
    assert wait_job(first, timeout=20).status == JobStatus.SUCCESSFUL  # its running job finished
    time.sleep(2)
    with db.unit_of_work() as s:
        assert s.get(Job, later).status == JobStatus.PENDING  # and it took no new one
    jobs_svc.worker_drain(ACTOR, runner.worker_id(), drain=False)
    assert wait_job(later, timeout=30).status == JobStatus.SUCCESSFUL
    with db.unit_of_work() as s:
        assert s.get(Worker, runner.worker_id()).drain_requested_at is None


def test_jobs_of_a_host_in_maintenance_wait_and_it_gets_no_placement(consumer, booted):
    h = host("mainth", 204)
    hosts_svc.host_update(ACTOR, h, state="maintenance")
    with db.unit_of_work() as s:
        row = s.get(Host, h)
        with pytest.raises(PanelError) as exc:  # an operator's choice of host is refused too
            hosts_svc.host_room(row, resource="sites", used=0, count=1, exceed=True)
    assert exc.value.key == "host.not_active" and "maintenance" in exc.value.text()
    job = noop(h, 0)
    waiting = wait_job(job, {JobStatus.PENDING}, timeout=20, note="Waiting for host mainth to come out of maintenance")
    assert waiting.status == JobStatus.PENDING
    hosts_svc.host_update(ACTOR, h, state="active")
    done = wait_job(job, timeout=20)
    assert done.status == JobStatus.SUCCESSFUL and done.explanation == ""
