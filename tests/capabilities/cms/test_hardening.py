"""The scheduled hardening check without hosts: one job per web host and ministry for live
instances, the extravars it sends, what a result records (only the checklist's items), a newly
changed item notified once, staff only, a host that cannot be used skipped and named, and the
result on the instance's page, the API and the CLI; the repair as a request (approved at once) whose
job puts the items back and checks again, on every surface. The real check and repair on a
WordPress site are in test_wordpress_lab.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.cms import hardening
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.errors import Conflict, Forbidden, NotFound
from panel.jobs import capabilities as job_kinds
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job
from panel.models.notifications import Notification
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Organization, Role
from tests.capabilities.cms.test_lifecycle import active_instance, finish
from tests.capabilities.cms.test_services import world  # noqa: F401  (fixture)
from tests.capabilities.cms.test_surfaces import two  # noqa: F401  (fixture)
from tests.support.fixtures import _staff, csrf_from, login_as, token_for  # noqa: F401  (fixtures)

ALL_OK = {name: {"ok": True, "detail": ""} for name in hardening.ITEMS}


def checked(w, said: dict) -> Job:
    """Run the sweep as staff and end its one job with what the host said."""
    jobs = hardening.hardening_check(w.op)
    assert len(jobs) == 1
    with db.unit_of_work() as s:
        job = s.get(Job, jobs[0].id)
        finish(s, job, data={"wordpress_hardening": said})
    return job


def test_one_job_per_host_and_ministry_with_the_sites_as_the_host_knows_them(world):
    w = world
    iid, _ = active_instance(w)
    jobs = hardening.hardening_check(w.op)
    assert len(jobs) == 1 and jobs.skipped == []
    with db.unit_of_work() as s:
        job = s.get(Job, jobs[0].id)
        assert job.kind == hardening.CHECK and job.host_ids == [w.ids.web] and job.org_id == w.a.id
        extra, secrets, _t = job_kinds.get(job.kind).build(job, s)
    assert secrets == {}
    assert extra == {
        "wordpress_checks": [
            {
                "instance_id": iid,
                "fqdn": "www.a.gov.test",
                "user": f"site{w.ids.site_a}",
                "url": "http://www.a.gov.test",
            }
        ]
    }


def test_a_result_records_the_items_and_a_new_change_is_notified_once(world):
    w = world
    iid, _ = active_instance(w)
    checked(w, {"www.a.gov.test": {**ALL_OK, "unknown_item": {"ok": False}, "xmlrpc_off": "yes"}})
    with db.unit_of_work() as s:
        inst = s.get(Instance, iid)
        assert set(inst.hardening) == set(hardening.ITEMS)  # only the checklist, nothing else the host says
        assert inst.hardening_drift == ["xmlrpc_off"] and inst.hardening_checked_at is not None
        notes = s.scalars(select(Notification).where(Notification.kind == "cms.hardening_drift")).all()
        assert notes and all(n.params["items"] == "xmlrpc_off" for n in notes)
        first = len(notes)
    said = {**ALL_OK, "config_permissions": {"ok": False, "detail": "mode 0644"}, "xmlrpc_off": {"ok": False}}
    checked(w, {"www.a.gov.test": said})
    with db.unit_of_work() as s:
        inst = s.get(Instance, iid)
        assert inst.hardening_drift == ["config_permissions", "xmlrpc_off"]
        assert inst.hardening["config_permissions"]["detail"] == "mode 0644"
        notes = s.scalars(select(Notification).where(Notification.kind == "cms.hardening_drift")).all()
        # only the newly changed item is told again, to the same people
        assert len(notes) == 2 * first and {n.params["items"] for n in notes[first:]} == {"config_permissions"}
    checked(w, {"www.a.gov.test": ALL_OK})
    with db.unit_of_work() as s:
        assert s.get(Instance, iid).hardening_drift == []


def test_staff_only_a_down_host_is_skipped_and_one_instance_is_checked_on_its_own(world):
    w = world
    iid, _ = active_instance(w)
    with pytest.raises(Forbidden):
        hardening.hardening_check(w.wa)
    with pytest.raises(NotFound):
        hardening.hardening_check(w.op, 999)
    with db.unit_of_work() as s:
        s.get(Host, w.ids.web).state = HostState.DOWN
    jobs = hardening.hardening_check(w.op)
    assert list(jobs) == [] and jobs.skipped == ["web1"]
    with pytest.raises(Conflict, match="cannot be used"):
        hardening.hardening_check(w.op, iid)
    with db.unit_of_work() as s:
        s.get(Host, w.ids.web).state = HostState.ACTIVE
        s.get(Instance, iid).status = InstanceStatus.FAILED
    with pytest.raises(Conflict, match="failed"):
        hardening.hardening_check(w.op, iid)


def test_page_api_and_cli_show_the_checklist_and_staff_check_from_the_page(client, cli, login_as, token_for, two, make):
    inst = two.ids.inst_b
    with db.unit_of_work() as s:
        row = s.get(Instance, inst)
        row.hardening = {**ALL_OK, "version_hidden": {"ok": False, "detail": "generator tag"}}
        row.hardening_checked_at = db.utcnow()
    page = login_as(two.ub).get(f"/cms/{inst}").get_data(as_text=True)
    item = page.split('data-item="version_hidden"', 1)[1].split("</tr>", 1)[0]
    assert "generator tag" in item and 'data-item="xmlrpc_off"' in page
    assert "Check now" not in page  # staff only
    body = client.get(f"/api/v1/cms/instances/{inst}", headers=token_for(two.ub)).get_json()
    assert body["hardening_drift"] == ["version_hidden"] and body["hardening"]["xmlrpc_off"]["ok"] is True
    r = cli("cms", "show", str(inst), "--as", two.ub.username)
    assert "version_hidden: CHANGED: generator tag" in r.output and "xmlrpc_off: ok" in r.output
    # the ministry cannot start a check on any surface; staff can, from the page, the API, the CLI
    answer = client.post(f"/api/v1/cms/instances/{inst}/hardening-check", headers=token_for(two.ub))
    assert answer.status_code == 403
    assert cli("cms", "hardening-check", "--as", two.ub.username).exit_code == 2
    with db.unit_of_work() as s:
        dc = s.scalars(select(Organization).where(Organization.slug == "dc")).one()
    op = login_as(_staff(make, dc, Role.OPERATOR, "hcop"))  # staff with their second factor
    got = op.get(f"/cms/{inst}")
    page = got.get_data(as_text=True)
    assert "hardening-check" in page, (got.status_code, got.headers.get("Location"), page[:3000])
    r = op.post(f"/cms/{inst}/hardening-check", data={"csrf_token": csrf_from(page.split("hardening-check", 1)[1])})
    assert r.status_code == 302
    answer = client.post(f"/api/v1/cms/instances/{inst}/hardening-check", headers=token_for(two.op))
    assert answer.status_code == 202 and len(answer.get_json()["job_ids"]) == 1
    r = cli("cms", "hardening-check", "--instance", str(inst), "--as", two.op.username)
    assert r.exit_code == 0 and "1 hardening check job(s)" in r.output
    with db.unit_of_work() as s:
        assert len(s.scalars(select(Job).where(Job.kind == hardening.CHECK)).all()) == 3


def test_repair_is_a_request_whose_job_puts_back_then_checks(world):
    w = world
    iid, _ = active_instance(w)
    checked(w, {"www.a.gov.test": {**ALL_OK, "config_permissions": {"ok": False, "detail": "mode 0644"}}})
    req = cms_svc.hardening_repair(w.wa, instance_id=iid)  # the ministry asks; approved at once
    assert req.kind == hardening.REPAIR and req.status == RequestStatus.PROVISIONING
    assert req.payload == {"instance_id": iid, "fqdn": "www.a.gov.test", "drift": ["config_permissions"]}
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        assert job.kind == hardening.REPAIR and job.host_ids == [w.ids.web]
        assert s.get(Instance, iid).busy_job_id == job.id
        extra, secrets, _t = job_kinds.get(job.kind).build(job, s)
    assert secrets == {} and extra["wordpress_repair"] is True
    assert [c["fqdn"] for c in extra["wordpress_checks"]] == ["www.a.gov.test"]
    (entry,) = extra["govhost_sites"]  # its vhost rendered again, WordPress's rules with it
    assert entry["app"] == "wordpress" and entry["fqdn"] == "www.a.gov.test"
    with pytest.raises(Conflict) as e:  # one change at a time
        cms_svc.hardening_repair(w.wa, instance_id=iid)
    assert e.value.key == "cms.instance_busy"
    with pytest.raises(NotFound):  # another ministry's instance
        cms_svc.hardening_repair(w.wb, instance_id=iid)
    with db.unit_of_work() as s:
        finish(s, s.get(Job, job.id), ok=False)
        inst = s.get(Instance, iid)
        assert inst.busy_job_id is None and "hardening repair" in inst.last_error
        assert inst.hardening_drift == ["config_permissions"]  # nothing recorded from a failed job
    again = cms_svc.hardening_repair(w.wa, instance_id=iid)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == again.id)).one()
        finish(s, job, data={"wordpress_hardening": {"www.a.gov.test": ALL_OK}})
        inst = s.get(Instance, iid)
        assert inst.hardening_drift == [] and inst.busy_job_id is None and inst.last_error == ""
        assert s.get(Request, again.id).status == RequestStatus.DONE


def test_repair_from_the_page_the_api_and_the_cli(client, cli, login_as, token_for, two):
    inst = two.ids.inst_b
    with db.unit_of_work() as s:
        row = s.get(Instance, inst)
        row.hardening = {**ALL_OK, "xmlrpc_off": {"ok": False, "detail": "200"}}
        row.hardening_checked_at = db.utcnow()
    c = login_as(two.ub)
    page = c.get(f"/cms/{inst}").get_data(as_text=True)
    assert "Repair the hardening" in page
    r = c.post(f"/cms/{inst}/hardening-repair", data={"csrf_token": csrf_from(page)})
    assert r.status_code == 302
    assert login_as(two.ua).post(f"/cms/{inst}/hardening-repair", data={"csrf_token": csrf_from(page)}).status_code in (
        400,
        404,
    )
    with db.unit_of_work() as s:
        first_drift = s.scalars(select(Request).where(Request.kind == hardening.REPAIR)).one().payload["drift"]
        s.get(Instance, inst).busy_job_id = None  # as if its job had ended
    answer = client.post(f"/api/v1/cms/instances/{inst}/hardening-repair", headers=token_for(two.ua))
    assert answer.status_code == 404 and answer.content_type == "application/problem+json"
    answer = client.post(f"/api/v1/cms/instances/{inst}/hardening-repair", headers=token_for(two.ub))
    assert answer.status_code == 201 and answer.get_json()["kind"] == hardening.REPAIR, answer.get_json()
    answer = client.post(f"/api/v1/cms/instances/{inst}/hardening-repair", headers=token_for(two.ub))
    assert answer.status_code == 409 and answer.get_json()["key"] == "cms.instance_busy"
    r = cli("cms", "hardening-repair", str(inst), "--as", two.ua.username)
    assert r.exit_code == 2 and "not_found" in r.output, r.output
    with db.unit_of_work() as s:
        s.get(Instance, inst).busy_job_id = None
    r = cli("cms", "hardening-repair", str(inst), "--as", two.ub.username)
    assert r.exit_code == 0 and "cms.hardening_repair" in r.output, r.output
    with db.unit_of_work() as s:
        assert len(s.scalars(select(Request).where(Request.kind == hardening.REPAIR)).all()) == 3
        assert first_drift == ["xmlrpc_off"]
    with db.unit_of_work() as s:  # no drift: no button
        s.get(Instance, inst).hardening = ALL_OK
    assert "Repair the hardening" not in c.get(f"/cms/{inst}").get_data(as_text=True)
