"""Giving up a failed site.create request (no lab: the jobs are only submitted here; the lab test
test_lab_faults.py runs them): the budget is freed at once, a site.delete clean-up job is queued
for the failed sites, and a failed site can be deleted on request like a live one."""

from __future__ import annotations

from sqlalchemy import select

from panel import db
from panel.capabilities.sites.models import Site, SiteStatus
from panel.jobs import capabilities, runner
from panel.models.jobs import Job, JobStatus
from panel.models.requests import RequestStatus
from panel.models.tenants import Role
from panel.services import quotas, requests
from tests.capabilities.sites.test_surfaces import host  # noqa: F401 - fixture

NAMES = ["f1.a.gov.test", "f2.a.gov.test"]


def failed_batch(world, make):
    req = requests.request_create(
        world.op, kind="sites.site_create", org_id=world.a.id,
        payload={"plan": "basic", "tls": "none", "sites": [{"fqdn": n} for n in NAMES]},
    )  # fmt: skip
    requests.request_approve(make.actor_of(make.make_user(Role.OPERATOR)), req.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
    runner.fail_with_error(job.id, "test: the create job broke", cap=capabilities.get("sites.site_create"))
    return req, job


def sites_used(world) -> int:
    return {r.resource: r.used for r in quotas.quota_usage(world.wa, world.a.id)}["sites"]


def test_cancelling_a_failed_request_queues_the_clean_up(world, host, make):
    req, _create = failed_batch(world, make)
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(Site).where(Site.fqdn.in_(NAMES))))
        assert {r.status for r in rows} == {SiteStatus.FAILED}
    assert sites_used(world) == 2
    assert requests.request_cancel(world.op, req.id).status == RequestStatus.CANCELLED
    assert sites_used(world) == 0
    with db.unit_of_work() as s:
        cleanup = s.scalars(select(Job).where(Job.kind == "sites.site_delete")).one()
        rows = list(s.scalars(select(Site).where(Site.fqdn.in_(NAMES))))
    assert cleanup.status == JobStatus.PENDING and cleanup.host_ids == [host.id]
    assert sorted(cleanup.params["site_ids"]) == sorted(r.id for r in rows)
    assert cleanup.params["previous"] == "failed" and cleanup.request_id is None
    assert {r.status for r in rows} == {SiteStatus.DELETING} and {r.busy_job_id for r in rows} == {cleanup.id}


def test_a_failed_site_can_be_deleted_on_request(world, host, make):
    _req, _job = failed_batch(world, make)
    with db.unit_of_work() as s:
        site = s.scalars(select(Site).where(Site.fqdn == NAMES[0])).one()
    delete = requests.request_create(
        world.wa, kind="sites.site_delete", org_id=world.a.id, payload={"site_id": site.id}
    )
    requests.request_approve(world.op, delete.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == delete.id)).one()
        assert s.get(Site, site.id).status == SiteStatus.DELETING
    assert job.kind == "sites.site_delete" and job.params["previous"] == "failed"
    # a failed clean-up puts the site back to failed (not active)
    runner.fail_with_error(job.id, "test: host unreachable", cap=capabilities.get("sites.site_delete"))
    with db.unit_of_work() as s:
        assert s.get(Site, site.id, populate_existing=True).status == SiteStatus.FAILED
