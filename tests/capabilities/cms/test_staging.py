"""Staging copies and their push to live without hosts (the jobs' ends are sent as the runner sends
them): a staging copy is a new site beside the live one with its own database and an instance whose
install job copies the live one (`clone_from`) and gives the copy its own administrator, whose
one-time password is handed back once (the live site's users are locked out of the copy);
it counts against the budget; one per live instance; the push is one approved request whose job
holds both instances; a rolled-back push says so; another ministry gets 404 on every surface. The
hosts' side is test_staging_lab.py."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from panel import db, events
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.sites.models import Site
from panel.errors import Conflict, NotFound, PanelError
from panel.jobs import capabilities as job_kinds
from panel.jobs.runner import move_request
from panel.models.jobs import Job, JobStatus
from panel.models.quotas import RequestQuota
from panel.models.requests import Request, RequestStatus
from panel.services import requests as req_svc
from provisioners.base import Result
from tests.capabilities.cms.test_new_site import ask, world  # noqa: F401  (fixture)
from tests.support.fixtures import csrf_from, login_as, token_for  # noqa: F401  (fixtures)

STAGING_NAME = "staging.a.gov.test"


def finish(s, job: Job, ok: bool = True, data: dict | None = None, explanation: str = "") -> None:
    """What the runner does at a job's end: the kind's hook, job_finished, the job's request."""
    result = Result("successful" if ok else "failed", 0 if ok else 2, explanation=explanation, data=data or {})
    job.status = JobStatus.SUCCESSFUL if ok else JobStatus.FAILED
    cap = job_kinds.get(job.kind)
    (cap.on_success if ok else cap.on_failure)(job, s, result)
    events.job_finished.send(job, session=s, result=result, ok=ok)
    move_request(s, job, ok)


def _installed(s, job: Job) -> None:
    finish(s, job, data={"wordpress_results": {str(i): {"version": "6.1.1"} for i in job.params["instance_ids"]}})


def _through(s, req_id: int) -> Instance:
    """The request's site job, database job and install job, each ending well."""
    inst = s.scalars(select(Instance).where(Instance.request_id == req_id)).one()
    site_job = s.scalars(
        select(Job).where(Job.kind == "sites.site_create", Job.status == JobStatus.PENDING).order_by(Job.id)
    ).first()
    finish(s, site_job)
    finish(s, s.get(Job, inst.db_job_id))
    _installed(s, s.scalars(select(Job).where(Job.kind == "cms.instance_install").order_by(Job.id.desc())).first())
    return inst


def live_instance(w) -> int:
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = _through(s, issued.request.id)
        assert inst.status == InstanceStatus.ACTIVE
        return inst.id


def test_staging_copy_is_a_new_site_whose_install_copies_the_live_one(world):
    w = world
    live_id = live_instance(w)
    issued = cms_svc.staging_create(w.wa, instance_id=live_id, fqdn="staging.a.gov.test")
    req = issued.request
    assert req.kind == "cms.staging_create" and req.status == RequestStatus.SUBMITTED
    assert req.payload["admin_user"] == "webadmin-staging" and len(issued.password) == 24
    assert issued.password not in json.dumps(req.payload) and issued.password not in req.summary
    assert req.payload["live_fqdn"] == "www.a.gov.test" and req.payload["plan"] == "basic"
    with db.unit_of_work() as s:  # it counts against the budget like any site with WordPress
        drawn = {q.resource: q.amount for q in s.scalars(select(RequestQuota).where(RequestQuota.request_id == req.id))}
        assert drawn["sites"] == 1 and drawn["cms_instances"] == 1 and drawn["databases"] == 1
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        live = s.get(Instance, live_id)
        staging = s.scalars(select(Instance).where(Instance.request_id == req.id)).one()
        site = s.get(Site, staging.site_id)
        assert staging.staging_of_id == live.id and staging.host_id == live.host_id == site.host_id
        assert site.fqdn == "staging.a.gov.test" and site.app == "wordpress"
        finish(s, s.scalars(select(Job).where(Job.kind == "sites.site_create").order_by(Job.id.desc())).first())
        finish(s, s.get(Job, staging.db_job_id))
        install = s.scalars(select(Job).where(Job.kind == "cms.instance_install").order_by(Job.id.desc())).first()
        extra, secrets, _ = job_kinds.get(install.kind).build(install, s)
        (entry,) = extra["wordpress_sites"]
        live_user = s.get(Site, live.site_id).system_user
        assert entry["clone_from"] == {"fqdn": "www.a.gov.test", "user": live_user, "url": "http://www.a.gov.test"}
        assert entry["admin_user"] == "webadmin-staging"
        mine = json.loads(secrets["wordpress_secrets"])[str(staging.id)]
        assert mine["admin_password"] == issued.password and len(mine["db_password"]) == 32  # its own login
        assert issued.password not in json.dumps([extra, install.params])
        _installed(s, install)
        assert staging.status == InstanceStatus.ACTIVE and s.get(Request, req.id).status == RequestStatus.DONE
        assert s.get(Request, req.id).secrets is None  # the password is on the host only
        staging_id = staging.id
    for fqdn, key in (("staging2.a.gov.test", "cms.staging_exists"), ("staging.b.gov.test", "cms.staging_exists")):
        with pytest.raises(PanelError) as e:
            cms_svc.staging_create(w.wa, instance_id=live_id, fqdn=fqdn)
        assert e.value.key == key
    with pytest.raises(Conflict) as e:
        cms_svc.staging_create(w.wa, instance_id=staging_id, fqdn="staging3.a.gov.test")
    assert e.value.key == "cms.staging_of_staging"
    with pytest.raises(NotFound):  # another ministry's instance, on every path
        cms_svc.staging_create(w.wb, instance_id=live_id, fqdn="staging.b.gov.test")
    with pytest.raises(NotFound):
        cms_svc.staging_push(w.wb, instance_id=staging_id)


def test_push_is_one_approved_job_holding_both_and_a_rollback_fails_the_request(world):
    w = world
    live_id = live_instance(w)
    req = cms_svc.staging_create(w.wa, instance_id=live_id, fqdn="staging.a.gov.test").request
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        staging_id = _through(s, req.id).id
    with pytest.raises(Conflict) as e:
        cms_svc.staging_push(w.wa, instance_id=live_id)
    assert e.value.key == "cms.not_staging"
    push = cms_svc.staging_push(w.wa, instance_id=staging_id)
    assert push.status == RequestStatus.SUBMITTED  # nothing moves before the approval
    with db.unit_of_work() as s:
        assert not s.scalars(select(Job).where(Job.kind == "cms.staging_push")).all()
    req_svc.request_approve(w.op, push.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "cms.staging_push")).one()
        live, staging = s.get(Instance, live_id), s.get(Instance, staging_id)
        assert job.request_id == push.id and job.host_ids == [live.host_id]
        assert live.busy_job_id == staging.busy_job_id == job.id
        extra, secrets, _ = job_kinds.get(job.kind).build(job, s)
        assert extra["wordpress_push"]["live"]["fqdn"] == "www.a.gov.test" and secrets == {}
        assert extra["wordpress_push"]["live"]["owner"] == "webadmin"  # takes the copy's admin's posts
        assert extra["wordpress_push"]["staging"]["fqdn"] == "staging.a.gov.test"
    with pytest.raises(Conflict) as e:  # one change at a time on either
        cms_svc.instance_request(w.wa, action="suspend", instance_id=live_id)
    assert e.value.key == "cms.instance_busy"
    with db.unit_of_work() as s:
        said = {"status": "rolled_back", "detail": "the live site did not answer well after the push (HTTP 500)"}
        finish(s, s.get(Job, job.id), ok=False, data={"wordpress_push": said}, explanation="Task failed")
        live = s.get(Instance, live_id)
        assert live.busy_job_id is None and s.get(Instance, staging_id).busy_job_id is None
        assert "HTTP 500" in live.last_error and live.status == InstanceStatus.ACTIVE
        assert s.get(Request, push.id).status == RequestStatus.FAILED
    again = cms_svc.staging_push(w.wa, instance_id=staging_id)
    req_svc.request_approve(w.op, again.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "cms.staging_push").order_by(Job.id.desc())).first()
        finish(s, job, data={"wordpress_push": {"status": "pushed"}})
        assert s.get(Request, again.id).status == RequestStatus.DONE and s.get(Instance, live_id).last_error == ""


def test_api_and_cli_ask_for_staging_and_push_only_for_their_ministry(client, cli, token_for, world):
    w = world
    live_id = live_instance(w)
    ha, hb = token_for(w.ua), token_for(w.ub)
    r = client.post(f"/api/v1/cms/instances/{live_id}/staging", headers=hb, json={"fqdn": "staging.b.gov.test"})
    assert r.status_code == 404 and r.content_type == "application/problem+json", r.json
    r = client.post(f"/api/v1/cms/instances/{live_id}/staging", headers=ha, json={"fqdn": "a;b"})
    assert r.status_code in (400, 409, 422) and r.json["key"].startswith("name."), r.json
    r = client.post(f"/api/v1/cms/instances/{live_id}/staging", headers=ha, json={"fqdn": "x" * 300})
    assert r.status_code == 422, r.json  # the schema's limit
    r = client.post(f"/api/v1/cms/instances/{live_id}/staging", headers=ha, json={"fqdn": "staging.a.gov.test"})
    assert r.status_code == 201 and r.json["request"]["kind"] == "cms.staging_create", r.json
    assert len(r.json["password"]) == 24  # the copy's own administrator's, once
    r = client.post(f"/api/v1/cms/instances/{live_id}/push", headers=ha)
    assert r.status_code == 409 and r.json["key"] == "cms.not_staging", r.json
    r = client.post(f"/api/v1/cms/instances/{live_id}/push", headers=hb)
    assert r.status_code == 404, r.json
    spec = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert spec["CmsStagingIn"]["properties"]["fqdn"]["maxLength"] == 253
    out = cli("cms", "staging", str(live_id), "--name", "staging2.a.gov.test", "--as", w.wb.username)
    assert out.exit_code == 2 and "not_found" in out.output, out.output
    out = cli("cms", "staging", str(live_id), "--name", "staging3.a.gov.test", "--as", w.wa.username)
    assert out.exit_code == 0 and "webadmin-staging" in out.output, out.output
    assert re.search(r"^[A-Za-z0-9]{24}$", out.output, re.MULTILINE), out.output  # its password, once
    out = cli("cms", "push", str(live_id), "--as", w.wa.username)
    assert out.exit_code == 2 and "cms.not_staging" in out.output, out.output


def test_web_page_asks_for_a_copy_and_pushes_it(world, login_as):
    w = world
    live_id = live_instance(w)
    c = login_as(w.ua)
    page = c.get(f"/cms/{live_id}").get_data(as_text=True)
    assert "Ask for a staging copy" in page
    r = c.post(f"/cms/{live_id}/staging", data={"staging-fqdn": "a;b", "csrf_token": csrf_from(page)})
    assert r.status_code in (400, 422) and "staging-fqdn" in r.get_data(as_text=True)  # beside its field
    r = c.post(f"/cms/{live_id}/staging", data={"staging-fqdn": STAGING_NAME, "csrf_token": csrf_from(page)})
    shown = r.get_data(as_text=True)
    assert r.status_code == 201 and "no-store" in r.headers["Cache-Control"], shown[-800:]
    assert "webadmin-staging" in shown and re.search(r'id="issued-password">[A-Za-z0-9]{24}<', shown)
    with db.unit_of_work() as s:
        req = s.scalars(select(Request).where(Request.kind == "cms.staging_create")).one()
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        staging_id = _through(s, req.id).id
    page = c.get(f"/cms/{live_id}").get_data(as_text=True)
    assert STAGING_NAME in page and "Ask for a staging copy" not in page
    page = c.get(f"/cms/{staging_id}").get_data(as_text=True)
    assert "Push to live" in page
    r = c.post(f"/cms/{staging_id}/push", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    with db.unit_of_work() as s:
        assert (
            s.scalars(select(Request).where(Request.kind == "cms.staging_push")).one().status == RequestStatus.SUBMITTED
        )
    other = login_as(w.ub)
    assert other.get(f"/cms/{staging_id}").status_code == 404
    assert other.post(f"/cms/{staging_id}/push", data={"csrf_token": csrf_from(page)}).status_code in (400, 404)


def test_deleting_the_live_instance_deletes_its_staging_copy(world):
    w = world
    live_id = live_instance(w)
    made = cms_svc.staging_create(w.wa, instance_id=live_id, fqdn=STAGING_NAME).request
    req_svc.request_approve(w.op, made.id)
    # while the copy is being made, the live one is not deleted (its copy would be left behind)
    with pytest.raises(Conflict) as e:
        cms_svc.instance_request(w.wa, action="delete", instance_id=live_id)
    assert e.value.key == "cms.staging_pending"
    with db.unit_of_work() as s:
        staging_id = _through(s, made.id).id
    req = cms_svc.instance_request(w.wa, action="delete", instance_id=live_id)
    assert req.payload["staging_fqdn"] == STAGING_NAME and STAGING_NAME in req.summary  # the approver sees it
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        live, copy = s.get(Instance, live_id), s.get(Instance, staging_id)
        assert live.status == copy.status == InstanceStatus.DELETING
        live_job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        copy_job = s.get(Job, copy.busy_job_id)
        assert copy_job.kind == live_job.kind == "cms.instance_delete" and copy_job.request_id is None
        assert copy_job.params == {"instance_id": staging_id, "previous": "active", "with_live": live_id}
        extra = job_kinds.get(copy_job.kind).build(copy_job, s)[0]
        assert extra["wordpress_instance"]["fqdn"] == STAGING_NAME
        assert extra["wordpress_instance"]["archive"] == f"wordpress-{STAGING_NAME}-job{copy_job.id}.tar.gz"
        # each follows its own job: the copy's failing puts it back with the reason
        finish(s, copy_job, ok=False, explanation="host unreachable")
        finish(s, live_job, data={"wordpress_archive": "/var/lib/govhost/archive/x.tar.gz"})
        assert live.status == InstanceStatus.DELETED and s.get(Request, req.id).status == RequestStatus.DONE
        assert copy.status == InstanceStatus.ACTIVE and "unreachable" in copy.last_error and copy.busy_job_id is None
    # the copy, left after a failed job, is deleted on its own request like any instance
    again = cms_svc.instance_request(w.wa, action="delete", instance_id=staging_id)
    req_svc.request_approve(w.op, again.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == again.id)).one()
        finish(s, job, data={"wordpress_archive": "/var/lib/govhost/archive/y.tar.gz"})
        assert s.get(Instance, staging_id).status == InstanceStatus.DELETED


def test_a_copy_deleted_with_its_live_site_ends_deleted(world):
    w = world
    live_id = live_instance(w)
    made = cms_svc.staging_create(w.wa, instance_id=live_id, fqdn=STAGING_NAME).request
    req_svc.request_approve(w.op, made.id)
    with db.unit_of_work() as s:
        staging_id = _through(s, made.id).id
    req = cms_svc.instance_request(w.wa, action="delete", instance_id=live_id)
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        copy = s.get(Instance, staging_id)
        finish(s, s.get(Job, copy.busy_job_id), data={"wordpress_archive": "/var/lib/govhost/archive/c.tar.gz"})
        assert copy.status == InstanceStatus.DELETED and copy.archive_path.endswith("c.tar.gz")
        assert s.get(Site, copy.site_id).app in ("", None)  # the copy's site serves its own files again
