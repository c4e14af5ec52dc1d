"""Giving up a failed site.create request (no lab: the jobs are only submitted here; the lab test
test_lab_faults.py runs them): the budget is freed at once, a site.delete clean-up job is queued
for the failed sites, and a failed site can be deleted on request like a live one."""

from __future__ import annotations

from sqlalchemy import select

from panel import db
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.jobs import capabilities, runner
from panel.models.jobs import Job, JobStatus
from panel.models.quotas import RequestQuota
from panel.models.requests import RequestStatus
from panel.models.tenants import Role
from panel.services import quotas, requests
from provisioners.base import Result
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


def disk_used(world) -> int:
    return {r.resource: r.used for r in quotas.quota_usage(world.wa, world.a.id)}["disk_mb"]


def test_cancelling_a_partly_applied_batch_keeps_its_live_site_held(world, host, make):
    """The run applied f1 and failed f2 (the per-site outcome govhost_iis_sites reports): giving up
    frees f2's budget only; f1 is active and still counts against the ministry's quota."""
    req = requests.request_create(
        world.op, kind="sites.site_create", org_id=world.a.id,
        payload={"plan": "basic", "tls": "none", "sites": [{"fqdn": n} for n in NAMES]},
    )  # fmt: skip
    requests.request_approve(make.actor_of(make.make_user(Role.OPERATOR)), req.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        plan_mb = s.scalars(select(Plan.disk_mb).where(Plan.name == "basic")).one()
    assert runner.claim(job.id)
    outcome = {"site_outcome": {"applied": [NAMES[0]], "failed": {NAMES[1]: "test: the pool did not start"}}}
    result = Result(status="failed", rc=2, data=outcome, explanation="one site failed")
    assert runner.finish(job.id, result, capabilities.get("sites.site_create")) == JobStatus.FAILED
    with db.unit_of_work() as s:
        assert {r.fqdn: r.status for r in s.scalars(select(Site).where(Site.fqdn.in_(NAMES)))} == {
            NAMES[0]: SiteStatus.ACTIVE,
            NAMES[1]: SiteStatus.FAILED,
        }
    assert (sites_used(world), disk_used(world)) == (2, 2 * plan_mb)
    assert requests.request_cancel(world.op, req.id).status == RequestStatus.CANCELLED
    assert (sites_used(world), disk_used(world)) == (1, plan_mb)
    with db.unit_of_work() as s:
        cleanup = s.scalars(select(Job).where(Job.kind == "sites.site_delete")).one()
        live = s.scalars(select(Site).where(Site.fqdn == NAMES[0])).one()
    assert live.status == SiteStatus.ACTIVE and live.id not in cleanup.params["site_ids"]
    # the clean-up deletes the failed site: the live one still counts
    assert runner.claim(cleanup.id)
    ok = Result(status="successful", rc=0, data={})
    assert runner.finish(cleanup.id, ok, capabilities.get("sites.site_delete")) == JobStatus.SUCCESSFUL
    assert (sites_used(world), disk_used(world)) == (1, plan_mb)


def test_cancelling_a_submitted_request_holds_nothing(world, host, make):
    payload = {"plan": "basic", "tls": "none", "fqdn": NAMES[0]}
    req = requests.request_create(world.wa, kind="sites.site_create", org_id=world.a.id, payload=payload)
    assert req.status == RequestStatus.SUBMITTED and sites_used(world) == 0
    requests.request_cancel(world.wa, req.id)
    assert sites_used(world) == 0
    with db.unit_of_work() as s:
        released = s.scalars(select(RequestQuota.released_at).where(RequestQuota.request_id == req.id)).all()
    assert len(released) == 2 and None not in released  # sites and disk_mb, both released by the cancel


def test_deleting_one_site_of_a_batch_frees_that_site_only(world, host, make):
    """A create request of two sites, both made: deleting one frees one site's budget; the other
    still counts until it is deleted too."""
    req = requests.request_create(
        world.op, kind="sites.site_create", org_id=world.a.id,
        payload={"plan": "basic", "tls": "none", "sites": [{"fqdn": n} for n in NAMES]},
    )  # fmt: skip
    requests.request_approve(make.actor_of(make.make_user(Role.OPERATOR)), req.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        plan_mb = s.scalars(select(Plan.disk_mb).where(Plan.name == "basic")).one()
    assert runner.claim(job.id)
    ok = Result(status="successful", rc=0, data={})
    assert runner.finish(job.id, ok, capabilities.get("sites.site_create")) == JobStatus.SUCCESSFUL
    assert (sites_used(world), disk_used(world)) == (2, 2 * plan_mb)
    with db.unit_of_work() as s:
        ids = {r.fqdn: r.id for r in s.scalars(select(Site).where(Site.fqdn.in_(NAMES)))}
    for n, left in ((NAMES[0], (1, plan_mb)), (NAMES[1], (0, 0))):
        delete = requests.request_create(
            world.wa, kind="sites.site_delete", org_id=world.a.id, payload={"site_id": ids[n]}
        )
        requests.request_approve(world.op, delete.id)
        with db.unit_of_work() as s:
            job = s.scalars(select(Job).where(Job.request_id == delete.id)).one()
        assert runner.claim(job.id)
        assert runner.finish(job.id, ok, capabilities.get("sites.site_delete")) == JobStatus.SUCCESSFUL
        assert (sites_used(world), disk_used(world)) == left


def test_cancelling_a_failed_plan_change_keeps_the_bigger_plan_held(world, host, make):
    """The plan change is applied to the site at approval; its job fails and the request is given
    up: the site is still on the bigger plan, so the extra disk stays counted (it was freed)."""
    make.make_plan("big", disk_mb=5000)
    site = make.make_site(world.a, "p1.a.gov.test", host=host)
    before = disk_used(world)
    req = requests.request_create(
        world.wa, kind="sites.site_change_plan", org_id=world.a.id, payload={"site_id": site.id, "plan": "big"}
    )
    requests.request_approve(world.op, req.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        assert s.get(Site, site.id).plan.name == "big"  # applied at approval
        delta = 5000 - s.scalars(select(Plan.disk_mb).where(Plan.name == "basic")).one()
    runner.fail_with_error(job.id, "test: the converge broke", cap=capabilities.get("sites.site_update"))
    assert disk_used(world) == before + delta
    assert requests.request_cancel(world.op, req.id).status == RequestStatus.CANCELLED
    assert disk_used(world) == before + delta
