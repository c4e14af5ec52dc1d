"""Faults of the job engine with real sites on a lab host (issue 13), with `govhost worker` processes
on our own Redis: a worker in another UTS namespace (another hostname, as on another machine)
SIGKILLed mid-batch is reaped by the live worker with the true reason, and giving the request up
removes everything it created on the host, frees the names and the budget; a worker stopped with
SIGTERM mid-batch hands the batch back and another worker finishes it. Every time: the jobs end
with no human action within the stated bound, the host matches the rows, no duplicates."""

from __future__ import annotations

import dataclasses
import time

import pytest
import yaml
from sqlalchemy import func, select

from panel import db
from panel.capabilities.sites.models import Site, SiteStatus
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from panel.services import quotas, requests
from tests.capabilities.sites.conftest import wait_for
from tests.capabilities.sites.test_lab_sites import host_sh
from tests.jobs.faults import RedisServer, Workers

pytestmark = pytest.mark.lab
LEASE_S = 6
NAMES = [f"b{i}.a.gov.test" for i in range(5)]  # the default budget: 5 sites


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings, redis_server):
    q = dataclasses.replace(settings.queue, backend="redis", redis_url=redis_server.url, sweep_s=2, lease_s=LEASE_S)
    return dataclasses.replace(settings, queue=q)


@pytest.fixture
def workers(booted, tmp_path):
    pool = Workers(tmp_path)

    def config(name: str, **queue_overrides):
        raw = _plain(dataclasses.asdict(booted))
        raw.pop("source")
        raw["queue"].update(queue_overrides)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    pool.config = config
    yield pool
    pool.stop_all()


def _plain(value):
    """Settings as YAML-safe data (tuples become lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def batch_request(world, make) -> Request:
    """An operator's batch of sites for ministry A, approved by a second operator."""
    req = requests.request_create(
        world.op,
        kind="sites.site_create",
        org_id=world.a.id,
        payload={"plan": "basic", "tls": "none", "sites": [{"fqdn": n} for n in NAMES]},
    )
    second = make.actor_of(make.make_user(Role.OPERATOR))
    return requests.request_approve(second, req.id)


def request_job(req_id: int) -> Job:
    with db.unit_of_work() as s:
        stmt = select(Job).where(Job.request_id == req_id).order_by(Job.id.desc())
        return s.scalars(stmt.execution_options(populate_existing=True)).first()


CREATE_TASK = "Create sites in one call (users, SFTP, pools, vhosts; the new ACME sites' certificates and HTTPS)"


def task_started(job_id: int, task: str) -> bool:
    with db.unit_of_work() as s:
        return (
            s.scalar(select(func.count()).select_from(JobEvent).where(JobEvent.job_id == job_id, JobEvent.task == task))
            > 0
        )


def leftovers() -> str:
    return host_sh(
        "ls -d /srv/www/b*.a.gov.test /etc/nginx/sites-*/govhost-b*.a.gov.test.conf "
        "/etc/php/*/fpm/pool.d/b*.a.gov.test.conf* 2>/dev/null; getent passwd | grep -c '^site' || true"
    ).strip()


def sites_used(world) -> int:
    return {r.resource: r.used for r in quotas.quota_usage(world.wa, world.a.id)}["sites"]


def test_sigkill_on_another_machine_mid_batch_then_give_up_leaves_the_host_clean(world, web_host, workers, make):
    web_host("st1")
    far = workers.start(workers.config("far", workers=1), hostname="far-machine")
    req = batch_request(world, make)
    job = wait_for(lambda: (j := request_job(req.id)) and j.status == JobStatus.RUNNING and j, 60)
    assert "@far-machine/" in job.worker
    # mid-batch: the site users exist on the host, the rest of the play is still to come
    wait_for(lambda: host_sh("getent passwd | grep -c '^site' || true").strip() not in ("", "0"), 120, 0.05)
    workers.kill(far)
    killed = time.monotonic()
    workers.start(workers.config("near"))
    reaped = wait_for(lambda: (j := request_job(req.id)).finished and j, LEASE_S + 30)
    assert time.monotonic() - killed <= LEASE_S + 30  # stated bound: lease + one beat + start-up
    assert reaped.status == JobStatus.FAILED and "stopped sending heartbeats" in reaped.explanation
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.FAILED
        rows = list(s.scalars(select(Site).where(Site.fqdn.in_(NAMES))))
    assert sorted(r.fqdn for r in rows) == sorted(NAMES) and {r.status for r in rows} == {SiteStatus.FAILED}
    assert sites_used(world) == len(NAMES)  # a failed request still holds its budget (retry is never refused)

    requests.request_cancel(world.op, req.id)  # give up
    assert sites_used(world) == 0  # the budget is exact at once
    wait_for(lambda: all(r.status == SiteStatus.DELETED for r in _rows()), 180)
    assert leftovers() == "0", leftovers()  # no user, pool, vhost or folder of the batch left
    again = requests.request_create(world.wa, kind="sites.site_create", org_id=world.a.id,
                                    payload={"fqdn": NAMES[0], "plan": "basic", "tls": "none"})  # fmt: skip
    assert again.status == RequestStatus.SUBMITTED  # the name is free again
    with db.unit_of_work() as s:
        live = s.scalar(select(func.count()).select_from(Site).where(Site.status != SiteStatus.DELETED))
    assert live == 0


def _rows() -> list[Site]:
    with db.unit_of_work() as s:
        s.expire_all()
        return list(s.scalars(select(Site).where(Site.fqdn.in_(NAMES))))


def test_sigterm_mid_batch_hands_back_and_another_worker_finishes(world, web_host, workers, make):
    web_host("st1")
    # drain_s 0: stop and hand back at once (a 5-site batch would finish within any real drain time;
    # finishing within the bound is tests/jobs/test_outages.py's SIGTERM test)
    stopping = workers.start(workers.config("stopping", workers=1, drain_s=0))
    req = batch_request(world, make)
    job = wait_for(lambda: (j := request_job(req.id)) and j.status == JobStatus.RUNNING and j, 60)
    # mid-batch: the run's one create call has started (the whole batch is that one task)
    wait_for(lambda: task_started(job.id, CREATE_TASK), 120, 0.05)
    stopping.terminate()  # SIGTERM, as systemctl stop sends
    assert stopping.wait(60) == 0
    handed = request_job(req.id)
    assert handed.id == job.id and handed.status == JobStatus.PENDING and "Handed back" in handed.explanation
    workers.start(workers.config("other"))
    done = wait_for(lambda: (j := request_job(req.id)).finished and j, 240)
    assert done.id == job.id and done.status == JobStatus.SUCCESSFUL, done.explanation
    with db.unit_of_work() as s:
        assert s.get(Request, req.id, populate_existing=True).status == RequestStatus.DONE
    rows = _rows()
    assert len(rows) == len(NAMES) and {r.status for r in rows} == {SiteStatus.ACTIVE}
    users = host_sh("getent passwd | grep '^site' | cut -d: -f1 | sort").split()
    assert users == sorted(r.system_user for r in rows)  # each exactly once, no more
    vhosts = host_sh("ls /etc/nginx/sites-enabled/ | grep -c 'govhost-b.*a.gov.test.conf'").strip()
    assert vhosts == str(len(NAMES))
    assert sites_used(world) == len(NAMES)
