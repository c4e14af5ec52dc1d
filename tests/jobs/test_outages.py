"""No job lost or stuck: the outbox sweeper, leases and the worker registry, draining on SIGTERM,
with a private Redis we stop and restart without persistence and two or more `govhost worker`
processes (one in another UTS namespace, i.e. with another hostname). Jobs are `core.noop`, so the
queue itself is measured; tests/jobs/test_lab_faults.py does the same with real sites on lab hosts."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from panel import db
from panel.jobs import queue
from panel.models.jobs import Job, JobEvent, JobStatus, Worker
from panel.models.requests import Request, RequestStatus
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.conftest import settings_dict
from tests.jobs.conftest import wait_job
from tests.jobs.faults import ROOT, RedisServer, Workers, worker_config

ACTOR = system_actor("cli", "test")
LEASE_S, SWEEP_S = 6, 1


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings, redis_server):
    queue_ = dataclasses.replace(
        settings.queue, backend="redis", redis_url=redis_server.url, sweep_s=SWEEP_S, lease_s=LEASE_S, drain_s=30
    )
    return dataclasses.replace(settings, queue=queue_)


@pytest.fixture
def workers(booted, tmp_path):
    pool = Workers(tmp_path)
    key = Path(booted.ansible.ssh_key)  # a real key, so jobs on the unreachable host fail for that reason
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)

    def config(name: str = "w", **queue_overrides):
        raw = settings_dict(tmp_path, booted.database.url)
        raw["data_dir"] = booted.data_dir
        raw["ansible"]["ssh_key"] = booted.ansible.ssh_key
        raw["queue"].update(dataclasses.asdict(booted.queue), **queue_overrides)
        return worker_config(tmp_path / f"{name}.yaml", raw)

    pool.config = config
    yield pool
    pool.stop_all()


def noop(sleep_s: float = 0, **kw) -> Job:
    return jobs_svc.job_submit(ACTOR, kind="core.noop", org_id=None, host_ids=[], params={"sleep_s": sleep_s}, **kw)


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def job(job_id: int) -> Job:
    with db.unit_of_work() as s:
        return s.get(Job, job_id, populate_existing=True)


def test_noop_kind_is_registered_and_runs(workers):
    assert "core.noop" in jobs_svc.job_kinds()
    workers.start(workers.config())
    done = wait_job(noop(0.2).id, timeout=30)
    assert done.status == JobStatus.SUCCESSFUL and done.worker.split("@")[0].isdigit()
    failed = wait_job(
        jobs_svc.job_submit(ACTOR, kind="core.noop", org_id=None, host_ids=[], params={"fail": True}).id, timeout=30
    )
    assert failed.status == JobStatus.FAILED and failed.explanation == "The no-op job was asked to fail."


def make_token(make, user):
    from panel.services.tokens import token_create

    _, plain = token_create(make.actor_of(user, "api"), name="t", scope="write", days=1)
    return {"Authorization": f"Bearer {plain}"}


def unreachable_host(make):
    """A host row on loopback port 1: its jobs fail (unreachable) without traffic leaving the machine."""
    from panel.models.hosts import Host

    with db.unit_of_work() as s:
        key = "AAAAC3NzaC1lZDI1NTE5AAAAIOhJ0f1m3n8p4qk1d2z3v4b5n6m7q8w9e0r1t2y3u4i5"
        host = Host(name="nowhere1", address="127.0.0.1", port=1, host_key_type="ssh-ed25519", host_key=key)
        host.fingerprint = "SHA256:x"
        s.add(host)
        s.flush()
        return host


def bootstrap_request(make, host, requester):
    from panel.services import requests as requests_svc

    return requests_svc.request_create(
        make.actor_of(requester, "api"), kind="host.bootstrap", org_id=None, payload={"host_id": host.id}
    )


def test_approvals_while_redis_is_down_succeed_and_their_jobs_run_when_it_is_back(
    workers, redis_server, app, make, cli
):
    """The API answers an approval that committed with success although the queue is down; the
    CLI says so in one line; nothing is lost when Redis comes back empty (no persistence)."""
    from panel.models.tenants import Role

    workers.start(workers.config("a"))
    workers.start(workers.config("b"))
    host = unreachable_host(make)
    requester, approver = make.make_user(Role.ADMIN), make.make_user(Role.ADMIN)
    by_api, by_cli = (bootstrap_request(make, host, requester) for _ in range(2))
    redis_server.stop()
    resp = app.test_client().post(
        f"/api/v1/requests/{by_api.id}/approve", json={"comment": ""}, headers=make_token(make, approver)
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = cli("requests", "approve", str(by_cli.id), "--as", approver.username)
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output and "queue is unreachable" in out.output
    out = cli("jobs", "run", "core.noop")
    assert out.exit_code == 0 and "queue is unreachable" in out.output, out.output
    with db.unit_of_work() as s:
        ids = list(s.scalars(select(Job.id).order_by(Job.id)))
    assert len(ids) == 3
    time.sleep(2 * SWEEP_S + 1)
    assert {job(i).status for i in ids} == {JobStatus.PENDING}
    redis_server.start()  # empty: restarted without persistence
    # started, or taken and waiting for the other bootstrap of the same host (per-host serialization)
    taken = lambda j: j.status != JobStatus.PENDING or j.explanation.startswith("Waiting for job")  # noqa: E731
    # By themselves, within a few sweeps; how fast is bench/faults.py's stranded_jobs_recovery_s (a
    # timed bound here failed at load 20+ on 2 cores, which is not what this test is about).
    wait_until(lambda: all(taken(job(i)) for i in ids), 60, "stranded jobs started")
    ended = [wait_job(i, timeout=60) for i in ids]
    # The fake host cannot be reached: the bootstrap jobs end with that reason (not lost, not stuck).
    assert [j.status for j in ended][2] == JobStatus.SUCCESSFUL
    assert all(j.status == JobStatus.FAILED and j.explanation for j in ended[:2]), ended[0].explanation
    for i in (0, 1):
        log = workers.log(i)
        assert "Traceback" not in log, log
        assert log.count("queue unreachable") <= 3, log  # once per interval, not per poll


def test_messages_lost_by_a_redis_restart_are_swept(workers, redis_server):
    ids = [noop().id for _ in range(5)]  # queued, no worker yet
    assert queue.length() == 5
    redis_server.stop()
    redis_server.start()  # restarted without persistence: the queue is empty
    assert queue.length() == 0
    workers.start(workers.config())
    for job_id in ids:
        assert wait_job(job_id, timeout=30).status == JobStatus.SUCCESSFUL


def test_killed_worker_on_another_machine_is_reaped_by_a_live_worker(workers, make):
    """SIGKILL of a worker in another UTS namespace (another hostname) mid-job: the live worker
    here reaps it when its lease passes, failed with the true reason, and the retry runs."""
    org = make.make_org()
    with db.unit_of_work() as s:
        req = Request(kind="test.work", org_id=org.id, status=RequestStatus.PROVISIONING, summary="t")
        s.add(req)
        s.flush()
    far = workers.start(workers.config("far", workers=1), hostname="far-machine")
    wait_until(lambda: _workers_up() >= 1, 30, "far worker registered")
    victim = noop(120, request_id=None).id
    with db.unit_of_work() as s:
        s.get(Job, victim).request_id = req.id
        s.get(Job, victim).org_id = org.id
    running = wait_job(victim, {JobStatus.RUNNING}, timeout=30)
    assert "@far-machine/" in running.worker
    workers.start(workers.config("near"))  # the live worker, on this machine's hostname
    wait_until(lambda: _workers_up() >= 2, 30, "near worker registered")
    workers.kill(far)
    killed = time.monotonic()
    reaped = wait_job(victim, timeout=LEASE_S + 15)
    assert time.monotonic() - killed <= LEASE_S + 2 * LEASE_S / 5 + 2
    assert reaped.status == JobStatus.FAILED
    assert "stopped sending heartbeats" in reaped.explanation and running.worker in reaped.explanation
    assert "reaped by" in reaped.traceback and "far-machine" not in reaped.traceback.split("reaped by")[1]
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.FAILED
    with db.unit_of_work() as s:  # before the retry (which copies them): the live worker takes it at once
        s.get(Job, victim).params = {"sleep_s": 0}
    retry = jobs_svc.job_retry(ACTOR, victim)
    assert wait_job(retry.id, timeout=30).status == JobStatus.SUCCESSFUL
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.DONE


def _workers_up() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Worker).where(Worker.stopped_at.is_(None)))


def test_cancel_of_a_job_whose_worker_is_gone_ends_it(workers):
    far = workers.start(workers.config("far", workers=1, lease_s=3600), hostname="gone-machine")
    victim = noop(120).id
    wait_job(victim, {JobStatus.RUNNING}, timeout=30)
    workers.kill(far)
    assert jobs_svc.job_cancel(ACTOR, victim).status == JobStatus.RUNNING  # lease still valid: flag only
    with db.unit_of_work() as s:
        s.get(Job, victim).lease_until = db.utcnow()  # the lease ran out (an hour, shortened)
    ended = jobs_svc.job_cancel(ACTOR, victim)
    assert ended.status == JobStatus.CANCELED and "was gone" in ended.explanation
    assert jobs_svc.job_retry(ACTOR, victim).status == JobStatus.PENDING


def test_sigterm_drains_a_running_job_then_exits(workers):
    proc = workers.start(workers.config())
    short = noop(3).id
    wait_job(short, {JobStatus.RUNNING}, timeout=30)
    proc.send_signal(signal.SIGTERM)
    assert wait_job(short, timeout=30).status == JobStatus.SUCCESSFUL  # finished, not abandoned
    assert proc.wait(30) == 0
    log = workers.log(0)
    assert "Traceback" not in log and " INFO " in log and "stopped after" in log
    with db.unit_of_work() as s:
        (w,) = s.scalars(select(Worker)).all()
        assert w.stopping_at is not None and w.stopped_at is not None


def test_sigterm_hands_back_a_long_job_after_the_drain_bound(workers):
    stopping = workers.start(workers.config("stopping", drain_s=2))
    long = noop(8).id
    wait_job(long, {JobStatus.RUNNING}, timeout=30)
    stopping.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    assert stopping.wait(30) == 0
    assert time.monotonic() - t0 < 2 + 10
    handed = job(long)
    assert handed.status == JobStatus.PENDING and "Handed back" in handed.explanation
    workers.start(workers.config("other"))
    done = wait_job(long, timeout=40)
    assert done.status == JobStatus.SUCCESSFUL
    with db.unit_of_work() as s:
        counters = list(s.scalars(select(JobEvent.counter).where(JobEvent.job_id == long)))
    assert len(counters) == 3 and len(set(counters)) == 3  # the rerun's events follow the first run's


def test_two_workers_starting_together_log_no_duplicate_key(workers, cli):
    cfg = workers.config()
    for _ in range(2):
        workers.start(cfg)
    wait_until(lambda: _workers_up() >= 2, 30, "two workers registered")
    time.sleep(3)
    out = cli("jobs", "workers")
    assert out.exit_code == 0 and out.output.count("alive") == 2, out.output
    for i in (0, 1):
        log = workers.log(i)
        assert "Traceback" not in log and "duplicate key" not in log.lower() and "IntegrityError" not in log, log


WEB_WITH_PAUSE = """
import sys, time
from pathlib import Path
from panel.app import create_app
from panel.config import Settings
from panel.jobs import queue

def paused(job_id, priority=0):  # injected: the web process dies after the commit, before the message is sent
    Path(sys.argv[2]).write_text(str(job_id))
    time.sleep(3600)

queue.enqueue = paused
app = create_app(Settings.load(sys.argv[1]))
resp = app.test_client().post(sys.argv[3], json={"comment": ""}, headers={"Authorization": sys.argv[4]})
print("web answered", resp.status_code)
"""


def test_web_killed_between_commit_and_enqueue_loses_nothing(workers, make, tmp_path):
    from panel.models.tenants import Role

    host = unreachable_host(make)
    requester, approver = make.make_user(Role.ADMIN), make.make_user(Role.ADMIN)
    req = bootstrap_request(make, host, requester)
    marker = tmp_path / "committed"
    cfg = workers.config("web")
    url, auth = f"/api/v1/requests/{req.id}/approve", make_token(make, approver)["Authorization"]
    web = subprocess.Popen(
        [sys.executable, "-c", WEB_WITH_PAUSE, str(cfg), str(marker), url, auth],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    wait_until(marker.exists, 60, "the approval committed")
    web.kill()  # SIGKILL between commit and enqueue
    web.wait()
    job_id = int(marker.read_text())
    assert job(job_id).status == JobStatus.PENDING
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.PROVISIONING
    workers.start(workers.config())
    ended = wait_job(job_id, timeout=SWEEP_S + 30)
    assert ended.status == JobStatus.FAILED and ended.explanation  # the host's true reason, not lost
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1  # no duplicate


def test_in_process_consumer_beats_and_a_restarted_one_is_not_reaped(booted):
    """Tests and benchmarks run consumers in-process: each start is a fresh registry entry whose
    supervisor renews its leases, so a job longer than the lease is not reaped."""
    from panel.jobs import tasks

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for _ in range(2):
            c = tasks.consumer(booted, workers=1)
            c.start()
            try:
                done = wait_job(noop(LEASE_S + 3).id, timeout=LEASE_S + 30)
                assert done.status == JobStatus.SUCCESSFUL, done.explanation
            finally:
                c.stop(graceful=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Worker).where(Worker.stopped_at.is_not(None))) == 2
