"""Suspend, unsuspend, delete (archive) and retry of WordPress instances without hosts: the requests
and their policies, the jobs' extravars (the site's entry in the state asked for, WordPress left out
on delete), the instance and its site moving together, the database dropped after the archive and
the budget freed, the site free for another instance, a failed instance re-run by retrying its
request; another ministry's instance is not found; a site running WordPress is not suspended or
deleted behind the instance's back."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from panel import db, events
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.databases.models import Database, DbStatus, DbUser
from panel.capabilities.sites.models import Site, SiteStatus
from panel.errors import Conflict, Invalid, NotFound
from panel.jobs import capabilities as job_kinds
from panel.jobs.capabilities import job_secrets
from panel.jobs.runner import move_request
from panel.models.audit import AuditEntry
from panel.models.jobs import Job, JobStatus
from panel.models.quotas import RequestQuota
from panel.models.requests import Request, RequestStatus
from panel.services import providers
from panel.services import requests as req_svc
from provisioners.base import Result
from tests.capabilities.cms.test_services import ask, world  # noqa: F401  (fixture)

OK = Result("successful", 0)


def finish(s, job: Job, ok: bool = True, data: dict | None = None, why: str = "") -> None:
    """The end of a job as the runner records it: its kind's hook, job_finished, its request."""
    result = Result("successful", 0, data=data or {}) if ok else Result("failed", 2, explanation=why)
    job.status = JobStatus.SUCCESSFUL if ok else JobStatus.FAILED
    cap = job_kinds.get(job.kind)
    (cap.on_success if ok else cap.on_failure)(job, s, result)
    events.job_finished.send(job, session=s, result=result, ok=ok)
    move_request(s, job, ok)


def active_instance(w) -> tuple[int, int]:
    """A's instance on www.a.gov.test installed for real as far as the panel knows: (instance, request)."""
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        finish(s, s.get(Job, inst.db_job_id))
        finish(
            s,
            s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one(),
            data={"wordpress_results": {str(inst.id): {"version": "6.1.1"}}},
        )
        assert inst.status == InstanceStatus.ACTIVE
        return inst.id, issued.request.id


def last_job(s, kind: str) -> Job:
    return s.scalars(select(Job).where(Job.kind == kind).order_by(Job.id.desc())).first()


def test_suspend_then_unsuspend_moves_instance_and_site_together(world):
    w = world
    iid, _ = active_instance(w)
    req = cms_svc.instance_request(w.wa, action="suspend", instance_id=iid)
    assert req.kind == "cms.instance_suspend" and req.status == RequestStatus.PROVISIONING  # approved at once
    with db.unit_of_work() as s:
        job = last_job(s, "cms.instance_suspend")
        inst = s.get(Instance, iid)
        assert job.request_id == req.id and job.host_ids == [w.ids.web] and inst.busy_job_id == job.id
        extra, secrets, _t = job_kinds.get(job.kind).build(job, s)
        site = extra["govhost_sites"][0]
        assert site["state"] == "suspended" and site["app"] == "wordpress" and secrets == {}
        assert extra["wordpress_instance"] == {
            "fqdn": "www.a.gov.test",
            "user": f"site{w.ids.site_a}",
            "state": "suspended",
        }
    with pytest.raises(Conflict) as e:  # one change at a time
        cms_svc.instance_request(w.wa, action="delete", instance_id=iid)
    assert e.value.key == "cms.instance_busy"
    with db.unit_of_work() as s:
        finish(s, s.get(Job, job.id))
        inst, site = s.get(Instance, iid), s.get(Site, w.ids.site_a)
        assert inst.status == InstanceStatus.SUSPENDED and inst.busy_job_id is None
        assert site.status == SiteStatus.SUSPENDED and site.app == "wordpress"
        assert s.get(Request, req.id).status == RequestStatus.DONE
        # every later job of the site (sites' own too) renders it suspended
        later = Job(kind="sites.site_update", params={"site_ids": [site.id]})
        assert providers.call("sites.app_entry", s, site.id, later)["state"] == "suspended"
    with pytest.raises(Conflict) as e:
        cms_svc.instance_request(w.wa, action="suspend", instance_id=iid)
    assert e.value.key == "cms.instance_state"

    back = cms_svc.instance_request(w.wa, action="unsuspend", instance_id=iid)
    assert back.status == RequestStatus.SUBMITTED  # the data center approves an unsuspend
    req_svc.request_approve(w.op, back.id)
    with db.unit_of_work() as s:
        job = last_job(s, "cms.instance_unsuspend")
        extra = job_kinds.get(job.kind).build(job, s)[0]
        assert extra["govhost_sites"][0]["state"] == "active" and extra["wordpress_instance"]["state"] == "active"
        finish(s, job)
        assert s.get(Instance, iid).status == InstanceStatus.ACTIVE
        assert s.get(Site, w.ids.site_a).status == SiteStatus.ACTIVE


def test_failed_suspend_changes_nothing_but_says_why(world):
    w = world
    iid, _ = active_instance(w)
    req = cms_svc.instance_request(w.wa, action="suspend", instance_id=iid)
    with db.unit_of_work() as s:
        finish(s, last_job(s, "cms.instance_suspend"), ok=False, why="host unreachable")
        inst = s.get(Instance, iid)
        assert inst.status == InstanceStatus.ACTIVE and inst.busy_job_id is None and "unreachable" in inst.last_error
        assert s.get(Site, w.ids.site_a).status == SiteStatus.ACTIVE
        assert s.get(Request, req.id).status == RequestStatus.FAILED


def test_sites_own_suspend_and_delete_refuse_a_wordpress_site(world):
    w = world
    active_instance(w)
    for action in ("suspend", "delete"):
        with pytest.raises(Conflict) as e:
            req_svc.request_create(w.wa, kind=f"sites.site_{action}", org_id=w.a.id, payload={"site_id": w.ids.site_a})
        assert e.value.key == "site.app_managed"
    # a site without an application is suspended by the sites capability as before
    req = req_svc.request_create(w.wa, kind="sites.site_suspend", org_id=w.a.id, payload={"site_id": w.ids.site_a2})
    assert req.status == RequestStatus.PROVISIONING


def test_delete_archives_then_drops_the_database_frees_budget_and_site(world):
    w = world
    iid, create_id = active_instance(w)
    req = cms_svc.instance_request(w.wa, action="delete", instance_id=iid)
    assert req.status == RequestStatus.SUBMITTED
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        inst = s.get(Instance, iid)
        job = last_job(s, "cms.instance_delete")
        assert inst.status == InstanceStatus.DELETING and job.params == {"instance_id": iid, "previous": "active"}
        extra, secrets, _t = job_kinds.get(job.kind).build(job, s)
        site = extra["govhost_sites"][0]
        assert site["app"] == "" and site["state"] == "active" and secrets == {}  # served as a plain site again
        assert extra["wordpress_instance"] == {
            "fqdn": "www.a.gov.test",
            "user": f"site{w.ids.site_a}",
            "archive": f"wordpress-www.a.gov.test-job{job.id}.tar.gz",
            "dump_required": True,
        }
        path = f"/var/lib/govhost/archive/wordpress-www.a.gov.test-job{job.id}.tar.gz"
        finish(s, job, data={"wordpress_archive": path})
        assert inst.status == InstanceStatus.DELETED and inst.archive_path == path and inst.deleted_at is not None
        assert s.get(Site, w.ids.site_a).app == "" and s.get(Site, w.ids.site_a).status == SiteStatus.ACTIVE
        dbrow, user = s.get(Database, inst.database_id), s.get(DbUser, inst.db_user_id)
        assert dbrow.status == DbStatus.DELETING and user.status == DbStatus.DELETING
        drop = last_job(s, "databases.apply")
        assert drop.params == {"database_ids": [dbrow.id], "user_ids": [user.id], "op": "delete"}
        held = s.scalars(select(RequestQuota).where(RequestQuota.request_id == create_id)).all()
        assert held and all(q.released_at is None for q in held)  # until the database is gone
        extra = job_kinds.get("databases.apply").build(drop, s)[0]
        objects = json.loads(extra["govhost_db_objects_json"])
        assert [d["state"] for d in objects["databases"]] == ["absent"] and [u["state"] for u in objects["users"]] == [
            "absent"
        ]
        finish(s, drop)
        assert dbrow.status == DbStatus.DELETED and user.status == DbStatus.DELETED
        assert all(q.released_at is not None for q in held)  # cms_instances and databases free again
    # listed only when asked for; the site takes a new instance
    assert cms_svc.instance_list(w.wa).total == 0 and cms_svc.instance_list(w.wa, status="deleted").total == 1
    again = ask(w)
    req_svc.request_approve(w.op, again.request.id)
    with db.unit_of_work() as s:
        assert len(s.scalars(select(Instance).where(Instance.site_id == w.ids.site_a)).all()) == 2


def test_failed_delete_puts_it_back(world):
    w = world
    iid, _ = active_instance(w)
    req = cms_svc.instance_request(w.wa, action="suspend", instance_id=iid)
    with db.unit_of_work() as s:
        finish(s, last_job(s, "cms.instance_suspend"))
    req = cms_svc.instance_request(w.wa, action="delete", instance_id=iid)
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        job = last_job(s, "cms.instance_delete")
        assert job_kinds.get(job.kind).build(job, s)[0]["govhost_sites"][0]["state"] == "suspended"
        finish(s, job, ok=False, why="tar: No space left on device")
        inst = s.get(Instance, iid)
        assert inst.status == InstanceStatus.SUSPENDED and "No space" in inst.last_error and inst.busy_job_id is None
        assert s.get(Site, w.ids.site_a).app == "wordpress"
        assert s.get(Database, inst.database_id).status == DbStatus.ACTIVE  # untouched
        assert last_job(s, "databases.apply").id == inst.db_job_id  # no drop job


def test_another_ministry_cannot_touch_the_instance(world):
    w = world
    iid, _ = active_instance(w)
    for action in ("suspend", "unsuspend", "delete"):
        with pytest.raises(NotFound):
            cms_svc.instance_request(w.wb, action=action, instance_id=iid)
        with pytest.raises(NotFound):  # nor by naming it in a request of its own
            req_svc.request_create(w.wb, kind=f"cms.instance_{action}", org_id=w.b.id, payload={"instance_id": iid})
    with pytest.raises(Invalid) as e:  # only the instance is named
        req_svc.request_create(w.wa, kind="cms.instance_suspend", org_id=w.a.id, payload={"instance_id": iid, "x": 1})
    assert e.value.key == "request.payload_invalid" and e.value.field == "x"
    with pytest.raises(Invalid) as e:
        cms_svc.instance_request(w.wa, action="reinstall", instance_id=iid)
    assert e.value.key == "cms.action_unknown"
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request).where(Request.org_id == w.b.id)).all()


def test_retry_reruns_a_failed_database_job_then_installs(world):
    w = world
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        first_db = s.get(Job, inst.db_job_id)
        finish(s, first_db, ok=False, why="mysql: connection refused")
        assert inst.status == InstanceStatus.FAILED and s.get(Database, inst.database_id).status == DbStatus.FAILED
        assert s.get(Request, issued.request.id).status == RequestStatus.FAILED
    req_svc.request_retry(w.wa, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        again = s.get(Job, inst.db_job_id)
        assert again.id != first_db.id and again.retry_of_id == first_db.id
        assert job_secrets(again) == job_secrets(first_db) and again.params["database_ids"] == [inst.database_id]
        assert inst.status == InstanceStatus.PENDING and inst.last_error == ""
        assert s.get(Database, inst.database_id).status == DbStatus.PENDING
        assert s.get(Request, issued.request.id).status == RequestStatus.PROVISIONING
        finish(s, again)
        install = s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one()
        finish(s, install, data={"wordpress_results": {str(inst.id): {"version": "6.1.1"}}})
        assert inst.status == InstanceStatus.ACTIVE and s.get(Request, issued.request.id).status == RequestStatus.DONE


def test_retry_reruns_a_failed_install_with_the_same_secrets(world):
    w = world
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        finish(s, s.get(Job, inst.db_job_id))
        first = s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one()
        finish(s, first, ok=False, why="WordPress was not installed: no answer")
        assert inst.status == InstanceStatus.FAILED
        sealed_before = job_kinds.get(first.kind).build(first, s)[1]
    req_svc.request_retry(w.wa, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        second = last_job(s, "cms.instance_install")
        assert second.id != first.id and inst.status == InstanceStatus.PENDING
        assert job_kinds.get(second.kind).build(second, s)[1] == sealed_before  # the same one-time password
        finish(s, second, data={"wordpress_results": {str(inst.id): {"version": "6.1.1"}}})
        assert inst.status == InstanceStatus.ACTIVE and s.get(Request, issued.request.id).secrets is None
    with pytest.raises(Conflict):  # nothing left to retry
        req_svc.request_retry(w.wa, issued.request.id)


def test_a_failed_instance_can_be_deleted_without_a_dump(world):
    w = world
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        finish(s, s.get(Job, inst.db_job_id), ok=False, why="no route")
        iid = inst.id
    req = cms_svc.instance_request(w.wa, action="delete", instance_id=iid)
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        job = last_job(s, "cms.instance_delete")
        assert job_kinds.get(job.kind).build(job, s)[0]["wordpress_instance"]["dump_required"] is False
        finish(s, job, data={"wordpress_archive": ""})
        inst = s.get(Instance, iid)
        # the database never reached its server: its rows go at once, no job, the budget freed
        assert inst.status == InstanceStatus.DELETED and s.get(Database, inst.database_id).status == DbStatus.DELETED
        assert not s.scalars(select(Job).where(Job.kind == "databases.apply", Job.id != inst.db_job_id)).all()
        held = s.scalars(select(RequestQuota).where(RequestQuota.request_id == issued.request.id)).all()
        assert all(q.released_at is not None for q in held)
        audit = json.dumps([(e.action, e.summary) for e in s.scalars(select(AuditEntry))])
        assert "request.create" in audit and "request.approve" in audit
