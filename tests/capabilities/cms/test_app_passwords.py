"""App passwords (the Mobile App Platform) without hosts: a request for a named app with a role,
the password made by the panel and handed back once, sealed only until its job has set it, then in
no table at all; revoke approved at once; a failed job retried with the same password; the app's
own WordPress login; bad input and another ministry refused on the service, the API, the CLI and
the web page; deleting the instance revokes its app passwords."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from panel import db
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import AppPassword, AppPasswordStatus, Instance, InstanceStatus
from panel.errors import Conflict, Invalid, NotFound
from panel.jobs import capabilities as job_kinds
from panel.models.jobs import Job
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from panel.services import requests as req_svc
from tests.capabilities.cms.test_lifecycle import active_instance, finish, last_job
from tests.capabilities.cms.test_services import world  # noqa: F401  (fixture)
from tests.support.fixtures import csrf_from, login_as, token_for  # noqa: F401  (fixtures)

A = AppPasswordStatus


def everything() -> str:
    """Every row of the tables a password could land in (requests' sealed secrets included)."""
    with db.unit_of_work() as s:
        return "\n".join(
            str(row)
            for t in ("requests", "jobs", "job_events", "audit_entries", "notifications", "cms_app_passwords")
            for row in s.execute(text(f"SELECT * FROM {t}"))  # noqa: S608 (fixed names)
        )


def issued_and_set(w, iid: int, name: str = "Ministry app", role: str = "author") -> tuple[int, str]:
    issued = cms_svc.app_password_issue(w.wa, instance_id=iid, name=name, role=role)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        row = s.scalars(select(AppPassword).where(AppPassword.request_id == issued.request.id)).one()
        finish(s, s.get(Job, row.busy_job_id), data={"wordpress_app_uuid": "0b8f5b9e-5a43-4d0e-9a39-7a2b8f1c7d10"})
        return row.id, issued.password


def test_issue_shows_once_then_nothing_keeps_it(world):
    w = world
    iid, _ = active_instance(w)
    issued = cms_svc.app_password_issue(w.wa, instance_id=iid, name="Ministry app", role="contributor")
    password = issued.password
    assert len(password) == 24 and password.isalnum() and issued.request.status == RequestStatus.SUBMITTED
    assert issued.request.payload == {
        "instance_id": iid,
        "fqdn": "www.a.gov.test",
        "name": "Ministry app",
        "role": "contributor",
    }
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        row = s.scalars(select(AppPassword)).one()
        assert row.status == A.PENDING and row.wp_user == f"govhost-app-{row.id}" and row.role == "contributor"
        job = s.get(Job, row.busy_job_id)
        assert job.kind == "cms.app_password" and job.request_id == issued.request.id
        assert job.params == {"app_password_id": row.id, "action": "issue"}
        assert s.get(Request, issued.request.id).secrets is None  # only the job holds it now, sealed
        extra, secrets, targets = job_kinds.get(job.kind).build(job, s)
        assert secrets == {"wordpress_app_password": password} and [t.address for t in targets] == ["192.0.2.20"]
        assert extra["wordpress_app"] == {
            "fqdn": "www.a.gov.test",
            "user": f"site{w.ids.site_a}",
            "url": "http://www.a.gov.test",
            "action": "issue",
            "login": row.wp_user,
            "role": "contributor",
            "name": "Ministry app",
            "uuid": "",
        }
        finish(s, job, data={"wordpress_app_uuid": "0b8f5b9e-5a43-4d0e-9a39-7a2b8f1c7d10"})
        assert row.status == A.ACTIVE and row.uuid.startswith("0b8f5b9e") and row.busy_job_id is None
        assert job.secrets is None and s.get(Request, issued.request.id).status == RequestStatus.DONE
    dump = everything()
    assert "Ministry app" in dump and password not in dump
    listed = cms_svc.app_password_list(w.wa, iid)
    assert [(r.name, r.status) for r in listed.items] == [("Ministry app", A.ACTIVE)]


def test_revoke_is_approved_at_once_and_ends_it(world):
    w = world
    iid, _ = active_instance(w)
    rid, _pw = issued_and_set(w, iid)
    req = cms_svc.app_password_revoke(w.wa, rid)
    assert req.kind == "cms.app_password_revoke" and req.status == RequestStatus.PROVISIONING
    with db.unit_of_work() as s:
        row = s.get(AppPassword, rid)
        job = s.get(Job, row.busy_job_id)
        assert row.status == A.REVOKING and job.params == {"app_password_id": rid, "action": "revoke"}
        extra, secrets, _t = job_kinds.get(job.kind).build(job, s)
        assert (
            secrets == {}
            and extra["wordpress_app"]["uuid"] == row.uuid
            and extra["wordpress_app"]["action"] == "revoke"
        )
        finish(s, job)
        assert row.status == A.REVOKED and row.revoked_at is not None
    with pytest.raises(Conflict) as e:
        cms_svc.app_password_revoke(w.wa, rid)
    assert e.value.key == "cms.app_password_state"
    # the name is free again for a new password of that app
    issued_and_set(w, iid)


def test_failed_revoke_keeps_it_active_and_failed_issue_is_retried_with_the_same_password(world):
    w = world
    iid, _ = active_instance(w)
    issued = cms_svc.app_password_issue(w.wa, instance_id=iid, name="App")
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        row = s.scalars(select(AppPassword)).one()
        first = s.get(Job, row.busy_job_id)
        finish(s, first, ok=False, why="php: could not connect to the database")
        assert row.status == A.FAILED and "database" in row.last_error and first.secrets is not None
    req_svc.request_retry(w.wa, issued.request.id)
    with db.unit_of_work() as s:
        again = last_job(s, "cms.app_password")
        assert again.id != first.id and again.retry_of_id == first.id
        assert job_kinds.get(again.kind).build(again, s)[1] == {"wordpress_app_password": issued.password}
        finish(s, again, data={"wordpress_app_uuid": "u1"})
        row = s.scalars(select(AppPassword)).one()
        assert row.status == A.ACTIVE and again.secrets is None
        rid = row.id
    cms_svc.app_password_revoke(w.wa, rid)
    with db.unit_of_work() as s:
        finish(s, last_job(s, "cms.app_password"), ok=False, why="unreachable")
        assert s.get(AppPassword, rid).status == A.ACTIVE  # still works: say so, do not pretend


@pytest.mark.parametrize(
    "over,key",
    [
        ({"name": ""}, "cms.app_name_required"),
        ({"name": "   "}, "cms.app_name_required"),
        ({"name": "x" * 61}, "cms.app_name_invalid"),
        ({"name": "app\x07"}, "cms.app_name_invalid"),
        ({"role": "administrator"}, "cms.app_role_invalid"),
    ],
)
def test_bad_input_is_refused(world, over, key):
    w = world
    iid, _ = active_instance(w)
    with pytest.raises(Invalid) as e:
        cms_svc.app_password_issue(w.wa, instance_id=iid, **{"name": "App", **over})
    assert e.value.key == key
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request).where(Request.kind == "cms.app_password_issue")).all()


def test_one_name_per_instance_active_instances_only_and_other_ministries_refused(world):
    w = world
    iid, _ = active_instance(w)
    issued_and_set(w, iid, name="App")
    with pytest.raises(Conflict) as e:
        cms_svc.app_password_issue(w.wa, instance_id=iid, name="App")
    assert e.value.key == "cms.app_name_taken"
    with pytest.raises(NotFound):
        cms_svc.app_password_issue(w.wb, instance_id=iid, name="Theirs")
    with pytest.raises(NotFound):
        cms_svc.app_password_list(w.wb, iid)
    with db.unit_of_work() as s:
        rid = s.scalars(select(AppPassword.id)).one()
    with pytest.raises(NotFound):
        cms_svc.app_password_revoke(w.wb, rid)
    with pytest.raises(NotFound):  # nor by naming it in a request of its own ministry
        req_svc.request_create(w.wb, kind="cms.app_password_revoke", org_id=w.b.id, payload={"app_password_id": rid})
    with db.unit_of_work() as s:
        s.get(Instance, iid).status = InstanceStatus.SUSPENDED
    with pytest.raises(Conflict) as e:
        cms_svc.app_password_issue(w.wa, instance_id=iid, name="Other")
    assert e.value.key == "cms.instance_state"


def test_deleting_the_instance_revokes_its_app_passwords(world):
    w = world
    iid, _ = active_instance(w)
    rid, _pw = issued_and_set(w, iid)
    req = cms_svc.instance_request(w.wa, action="delete", instance_id=iid)
    req_svc.request_approve(w.op, req.id)
    with db.unit_of_work() as s:
        finish(s, last_job(s, "cms.instance_delete"), data={"wordpress_archive": "/var/lib/govhost/archive/x.tar.gz"})
        assert s.get(AppPassword, rid).status == A.REVOKED


def test_surfaces_issue_list_revoke(world, client, cli, login_as, token_for, make):
    w = world
    iid, _ = active_instance(w)
    ua, ub = make.make_user(Role.WEBMASTER, w.a), make.make_user(Role.WEBMASTER, w.b)
    name_a, name_b = ua.username, ub.username
    ha, hb, ro = token_for(ua), token_for(ub), token_for(ua, scope="read")
    c = login_as(ua)
    url = f"/api/v1/cms/instances/{iid}/app-passwords"
    r = client.post(url, headers=hb, json={"name": "Theirs"})
    assert r.status_code == 404 and r.content_type == "application/problem+json"
    assert client.post(url, headers=ro, json={"name": "App"}).status_code == 403
    r = client.post(url, headers=ha, json={"name": "App", "role": "root"})
    assert r.status_code == 422 and r.json["key"] == "cms.app_role_invalid"
    r = client.post(url, headers=ha, json={"name": "x" * 61})
    assert r.status_code == 422 and r.json["key"] == "cms.app_name_invalid"
    r = client.post(url, headers=ha, json={"name": "API app"})
    assert r.status_code == 201 and r.json["request"]["kind"] == "cms.app_password_issue"
    api_password = r.json["password"]
    assert len(api_password) == 24
    # CLI: prints it once; the web page shows it once and is not cached
    r = cli("cms", "app-password", "issue", str(iid), "--name", "CLI app", "--role", "editor", "--as", name_a)
    assert r.exit_code == 0, r.output
    cli_password = r.output.strip().splitlines()[-1]
    assert len(cli_password) == 24
    assert cli("cms", "app-password", "issue", str(iid), "--name", "x", "--as", name_b).exit_code == 2
    page = c.get(f"/cms/{iid}").get_data(as_text=True)
    assert f"/cms/{iid}/app-passwords" in page
    r = c.post(f"/cms/{iid}/app-passwords", data={"app-name": "", "app-role": "author", "csrf_token": csrf_from(page)})
    assert r.status_code == 422
    r = c.post(
        f"/cms/{iid}/app-passwords", data={"app-name": "Web app", "app-role": "author", "csrf_token": csrf_from(page)}
    )
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    web_password = r.get_data(as_text=True).split('id="issued-password">', 1)[1].split("<", 1)[0]
    assert len(web_password) == 24
    with db.unit_of_work() as s:
        reqs = s.scalars(select(Request).where(Request.kind == "cms.app_password_issue").order_by(Request.id)).all()
        ids = [r.id for r in reqs]
    for rid in ids:
        req_svc.request_approve(w.op, rid)
    with db.unit_of_work() as s:
        for job in s.scalars(select(Job).where(Job.kind == "cms.app_password", Job.status == "pending")):
            finish(s, job, data={"wordpress_app_uuid": f"u{job.id}"})
    listed = client.get(url, headers=ha).json
    assert sorted(i["name"] for i in listed["items"]) == ["API app", "CLI app", "Web app"] and listed["total"] == 3
    assert all(i["status"] == "active" and i["wp_user"].startswith("govhost-app-") for i in listed["items"])
    assert client.get(url, headers=hb).status_code == 404
    r = cli("cms", "app-password", "list", str(iid), "--as", name_a)
    assert r.exit_code == 0 and "CLI app" in r.output and "editor" in r.output
    first = listed["items"][0]["id"]
    assert client.post(f"/api/v1/cms/app-passwords/{first}/revoke", headers=hb).status_code == 404
    r = client.post(f"/api/v1/cms/app-passwords/{first}/revoke", headers=ha)
    assert r.status_code == 201 and r.json["kind"] == "cms.app_password_revoke"
    r = cli("cms", "app-password", "revoke", str(listed["items"][1]["id"]), "--as", name_a)
    assert r.exit_code == 0 and "cms.app_password_revoke" in r.output
    page = c.get(f"/cms/{iid}").get_data(as_text=True)
    r = c.post(
        f"/cms/app-passwords/{listed['items'][2]['id']}/revoke",
        data={"instance_id": str(iid), "csrf_token": csrf_from(page)},
    )
    assert r.status_code == 302
    with db.unit_of_work() as s:
        assert {r.status for r in s.scalars(select(AppPassword))} == {A.REVOKING}
    dump = everything()
    for password in (api_password, cli_password, web_password):
        assert password not in dump
    spec = client.get("/api/v1/openapi.json").json
    body = spec["components"]["schemas"]["CmsAppPasswordIn"]["properties"]
    assert body["name"]["maxLength"] == 60 and body["role"]["enum"] == ["author", "contributor", "editor"]
