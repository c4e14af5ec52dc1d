"""The job engine end to end: real lab hosts, real ansible-runner, real Huey consumers."""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from panel import db
from panel.jobs import queue, runner
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.jobs.conftest import wait_job

pytestmark = pytest.mark.lab
ACTOR = system_actor("cli", "test")


def submit(kind: str, host, **kw) -> Job:
    return jobs_svc.job_submit(
        ACTOR, kind=kind, org_id=kw.pop("org_id", None), host_ids=[host.id], params=kw.pop("params", {}), **kw
    )


def on_host(name: str, cmd: str) -> str:
    return L.host_exec(name, "sh", "-c", cmd, check=False).stdout.strip()


def provisioning_request(make) -> Request:
    org = make.make_org()
    with db.unit_of_work() as s:
        req = Request(kind="test.work", org_id=org.id, status=RequestStatus.PROVISIONING, summary="test")
        s.add(req)
        s.flush()
        return req


@pytest.mark.parametrize("queue_backend", ["sqlite", "redis"])
def test_ping_succeeds_and_records_facts(lab_host, consumer, queue_backend):
    host = lab_host("jb1")
    job = wait_job(submit("host.ping", host).id, timeout=60)
    assert job.status == JobStatus.SUCCESSFUL, job.explanation
    assert job.worker and job.started_at and job.finished_at >= job.started_at
    assert job.stats["jb1"]["ok"] == 3 and job.stats["jb1"]["failed"] == 0
    with db.unit_of_work() as s:
        events = s.scalars(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.counter)).all()
        h = s.get(type(host), host.id, populate_existing=True)
        assert h.last_probe_ok is True and h.facts["os"].startswith("Debian")
    assert [e.task for e in events if e.status] == [
        "Reach the host over SSH",
        "Read the minimal facts",
        "Publish the facts for the panel",
    ]


def test_bootstrap_prepares_the_host(lab_host, consumer):
    host = lab_host("jb2")
    job = wait_job(submit("host.bootstrap", host).id, timeout=240)
    assert job.status == JobStatus.SUCCESSFUL, job.explanation
    assert on_host("jb2", "id -nG govhost") == "govhost"
    assert on_host("jb2", "hostname; cat /etc/timezone; stat -c %a /srv/www") == "jb2\nEtc/UTC\n755"
    # the service account logs in with the panel's key and has sudo
    opts = {**L.ssh_options(), "User": "govhost"}
    argv = ["ssh", *[f"-o{k}={v}" for k, v in opts.items()], host.address, "sudo -n id -u"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "0", out.stderr


def test_link_down_fails_with_explanation_and_request_is_retryable(lab_host, consumer, make):
    host = lab_host("jb1")
    req = provisioning_request(make)
    subprocess.run(["ip", "link", "set", L.Host("jb1", "").veth, "down"], check=True)
    try:
        job = wait_job(submit("host.ping", host, org_id=req.org_id, request_id=req.id).id, timeout=90)
    finally:
        subprocess.run(["ip", "link", "set", L.Host("jb1", "").veth, "up"], check=True)
    assert job.status == JobStatus.FAILED
    assert "jb1 could not be reached over SSH" in job.explanation
    assert job.traceback == ""
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.FAILED
    L.close_control_sockets(host.address)
    again = jobs_svc.job_retry(ACTOR, job.id)
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.PROVISIONING
    assert wait_job(again.id, timeout=90).status == JobStatus.SUCCESSFUL
    with db.unit_of_work() as s:
        r = s.get(Request, req.id, populate_existing=True)
        assert (r.status, r.retries) == (RequestStatus.DONE, 1)


def test_killed_worker_is_reaped_and_retry_converges(lab_host, worker_process, make, booted):
    host = lab_host("jb2")
    req = provisioning_request(make)
    proc = worker_process()
    job = submit("host.bootstrap", host, org_id=req.org_id, request_id=req.id)
    wait_job(job.id, {JobStatus.RUNNING}, timeout=60, events=3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    subprocess.run(["pkill", "-KILL", "-g", str(proc.pid)], check=False)  # its ansible children
    with db.unit_of_work() as s:
        assert s.get(Job, job.id).status == JobStatus.RUNNING  # nobody knows yet
    worker_process()  # a live worker reaps the job when its lease passes
    dead = wait_job(job.id, timeout=40)
    assert dead.status == JobStatus.FAILED and "stopped sending heartbeats" in dead.explanation
    assert str(proc.pid) in dead.traceback
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.FAILED
    retry = jobs_svc.job_retry(ACTOR, job.id)
    done = wait_job(retry.id, timeout=240)
    assert done.status == JobStatus.SUCCESSFUL, done.explanation
    assert done.attempt == 2 and done.retry_of_id == job.id
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.DONE
    assert on_host("jb2", "grep -c '^govhost:' /etc/passwd") == "1"  # converged, nothing twice


@pytest.mark.parametrize("queue_backend", ["sqlite", "redis"])
def test_two_workers_racing_run_the_job_once(lab_host, booted, queue_backend):
    host = lab_host("jb1")
    with db.unit_of_work():
        job = submit("host.ping", host)
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: runner.run_job(job.id, booted), range(2)))
    assert outcomes == ["skipped", "successful"]
    with db.unit_of_work() as s:
        plays = s.scalar(
            select(func.count()).where(JobEvent.job_id == job.id, JobEvent.event == "playbook_on_play_start")
        )
    assert plays == 1


@pytest.mark.parametrize("queue_backend", ["sqlite", "redis"])
def test_two_consumers_given_the_same_id_twice_run_it_once(lab_host, consumer, worker_process, queue_backend):
    host = lab_host("jb1")
    worker_process()
    job = submit("host.ping", host)
    queue.enqueue(job.id)  # a duplicate message: both consumers get one
    assert wait_job(job.id, timeout=60).status == JobStatus.SUCCESSFUL
    time.sleep(1.0)  # give the second message time to be taken and refused
    with db.unit_of_work() as s:
        plays = s.scalar(
            select(func.count()).where(JobEvent.job_id == job.id, JobEvent.event == "playbook_on_play_start")
        )
    assert plays == 1


def test_cancel_running_job(lab_host, consumer, make):
    host = lab_host("jb2")
    req = provisioning_request(make)
    job = submit("host.bootstrap", host, org_id=req.org_id, request_id=req.id)
    wait_job(job.id, {JobStatus.RUNNING}, timeout=60, events=3)
    assert jobs_svc.job_cancel(ACTOR, job.id).status == JobStatus.RUNNING
    started = time.monotonic()
    done = wait_job(job.id, timeout=30)
    assert done.status == JobStatus.CANCELED and done.explanation == "The job was canceled before it finished."
    assert time.monotonic() - started < 15
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.FAILED


def test_cancel_pending_job_is_immediate(lab_host, booted):
    host = lab_host("jb1")
    job = submit("host.ping", host)  # no consumer: it stays pending
    assert jobs_svc.job_cancel(ACTOR, job.id).status == JobStatus.CANCELED
    assert runner.run_job(job.id, booted) == "skipped"
