"""WordPress on a new site in one request (cms.site_instance_create): one approval, the site's,
database's and instance's budgets checked together, the site job -> database job -> install job
chain, its failures, and another ministry's names refused. Without hosts (the jobs' ends are sent
as the runner sends them); the lab path is test_wordpress_lab.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from panel import db, events, security
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.databases.models import Database
from panel.capabilities.sites.models import Plan, Site, SiteNameHold, SiteStatus
from panel.errors import Conflict, Invalid, NotFound, PanelError
from panel.jobs import capabilities as job_kinds
from panel.models.audit import AuditEntry
from panel.models.jobs import Job, JobStatus
from panel.models.quotas import RequestQuota
from panel.models.requests import Request, RequestStatus
from panel.services import requests as req_svc
from panel.services.quotas import quota_release
from provisioners.base import Result
from tests.capabilities.cms.conftest import two_ministries
from tests.support.fixtures import csrf_from, login_as, set_limit, token_for  # noqa: F401  (fixtures)


@pytest.fixture
def world(booted, make):
    web = make.make_host("web1", roles=["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})
    dbh = make.make_host("db1", roles=["db"], facts={"db_engines": ["mariadb"]})
    people = two_ministries(make, "dc", Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))
    return SimpleNamespace(**people, web=web, dbh=dbh, a_id=people["a"].id, b_id=people["b"].id)


def ask(w, fqdn="www.a.gov.test", actor=None, org=None, **over):
    fields = {"title": "Ministry A", "admin_user": "webadmin", "admin_email": "web@a.gov.test", **over}
    new_site = {"fqdn": fqdn, "plan": "basic", "tls": "none"}
    return cms_svc.instance_create(actor or w.wa, org_id=(org or w.a).id, new_site=new_site, **fields)


def finish(s, job: Job, ok: bool = True, explanation: str = "") -> None:
    """What the runner does at a job's end: the kind's hook, then job_finished."""
    result = Result("successful" if ok else "failed", 0 if ok else 2, explanation=explanation)
    job.status = JobStatus.SUCCESSFUL if ok else JobStatus.FAILED
    cap = job_kinds.get(job.kind)
    (cap.on_success if ok else cap.on_failure)(job, s, result)
    events.job_finished.send(job, session=s, result=result, ok=ok)


def test_one_request_one_approval_chains_site_database_install(world):
    w = world
    issued = ask(w)
    assert issued.request.kind == "cms.site_instance_create" and issued.request.status == RequestStatus.SUBMITTED
    assert issued.password not in json.dumps(issued.request.payload)
    with db.unit_of_work() as s:  # the name is held while the request waits
        assert s.scalar(select(SiteNameHold.request_id).where(SiteNameHold.name == "www.a.gov.test"))
    with pytest.raises(Conflict) as e:  # a site request for the same name is refused meanwhile
        ask(w)
    assert e.value.key == "site.name_taken"
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        req = s.get(Request, issued.request.id)
        site = s.scalars(select(Site).where(Site.fqdn == "www.a.gov.test")).one()
        inst = s.scalars(select(Instance)).one()
        assert req.status == RequestStatus.PROVISIONING and site.app == "wordpress"
        assert site.status == SiteStatus.REQUESTED and site.host_id == w.web.id and site.request_id == req.id
        assert inst.status == InstanceStatus.PENDING and inst.site_id == site.id and inst.db_job_id is None
        assert not s.scalars(select(SiteNameHold)).all()  # the site row holds the name now
        site_job = s.scalars(select(Job).where(Job.kind == "sites.site_create")).one()
        assert site_job.request_id is None and site_job.params["site_ids"] == [site.id]
        # the site's job ends well: the database job is chained; the request waits on
        finish(s, site_job)
        assert site.status == SiteStatus.ACTIVE and req.status == RequestStatus.PROVISIONING
        db_job = s.get(Job, inst.db_job_id)
        assert db_job.kind == "databases.apply" and db_job.request_id is None
        assert s.get(Database, inst.database_id).name == inst.db_name == f"mina{w.a.id}_wp{inst.id}"
        sealed = json.loads(security.unseal(req.secrets))
        assert set(sealed) == {"admin_password", "db_password", "db_address", "salts"}
        finish(s, db_job)
        install = s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one()
        assert install.request_id == req.id and install.host_ids == [w.web.id]
        extra, secrets, _ = job_kinds.get("cms.instance_install").build(install, s)
        mine = json.loads(secrets["wordpress_secrets"])[str(inst.id)]
        assert extra["govhost_sites"][0]["app"] == "wordpress" and mine["admin_password"] == issued.password
        done = Result("successful", 0, data={"wordpress_results": {str(inst.id): {"version": "6.1.1"}}})
        job_kinds.get("cms.instance_install").on_success(install, s, done)
        assert inst.status == InstanceStatus.ACTIVE and req.secrets is None
        public = json.dumps(
            [extra, install.params, db_job.params, site_job.params, req.payload, req.summary]
            + [(e.action, e.summary) for e in s.scalars(select(AuditEntry))]
        )
        for secret in (issued.password, sealed["db_password"], *json.loads(sealed["salts"]).values()):
            assert secret not in public


def test_site_job_failure_fails_instance_and_request_and_no_database(world):
    w = world
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        site_job = s.scalars(select(Job).where(Job.kind == "sites.site_create")).one()
        finish(s, site_job, ok=False, explanation="nginx -t failed")
        inst = s.scalars(select(Instance)).one()
        assert inst.status == InstanceStatus.FAILED and "nginx -t failed" in inst.last_error
        assert s.get(Request, issued.request.id).status == RequestStatus.FAILED
        assert (
            not s.scalars(select(Database)).all()
            and not s.scalars(select(Job).where(Job.kind != "sites.site_create")).all()
        )
    with pytest.raises(Conflict) as e:
        req_svc.request_retry(w.op, issued.request.id)
    assert e.value.key == "cms.retry_new_request"


@pytest.mark.parametrize("resource", ["sites", "databases", "cms_instances"])
def test_any_budget_refused_refuses_all_and_holds_nothing(world, resource):
    w = world
    set_limit(w.a.id, resource, 0)
    with pytest.raises(PanelError) as e:
        ask(w)
    assert e.value.key == f"quota.{resource}"
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request)).all() and not s.scalars(select(SiteNameHold)).all()


def test_budget_gone_by_approval_leaves_nothing_made(world):
    w = world
    issued = ask(w)
    set_limit(w.a.id, "databases", 0)
    with pytest.raises(PanelError) as e:
        req_svc.request_approve(w.op, issued.request.id)
    assert e.value.key == "quota.databases"
    with db.unit_of_work() as s:
        assert s.get(Request, issued.request.id).status == RequestStatus.SUBMITTED
        assert not s.scalars(select(Site)).all() and not s.scalars(select(Instance)).all()
        assert not s.scalars(select(Job)).all() and not s.scalars(select(Database)).all()


def test_reject_frees_the_name(world):
    w = world
    issued = ask(w)
    req_svc.request_reject(w.op, issued.request.id, comment="no")
    ask(w)  # the name is free again


@pytest.mark.parametrize(
    "over,key",
    [
        ({"admin_user": "Bad Name"}, "cms.admin_user_invalid"),
        ({"fqdn": "a;rm -rf /"}, "name."),
        ({"fqdn": "www.b.gov.test"}, "dns.domain_unverified"),
    ],
)
def test_bad_input_is_refused_with_its_key(world, over, key):
    with pytest.raises(PanelError) as e:
        ask(world, **over)
    assert e.value.key.startswith(key)
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request)).all() and not s.scalars(select(SiteNameHold)).all()


def test_site_id_or_new_site_not_both(world):
    with pytest.raises(Invalid) as e:
        cms_svc.instance_create(
            world.wa,
            org_id=world.a.id,
            site_id=1,
            new_site={"fqdn": "x.a.gov.test", "plan": "basic"},
            title="t",
            admin_user="webadmin",
            admin_email="w@a.gov.test",
        )
    assert e.value.key == "cms.site_required"


def test_another_ministry_cannot_ask_for_its_org_or_names(world):
    w = world
    with pytest.raises((NotFound, PanelError)) as e:  # B cannot file for ministry A
        ask(w, actor=w.wb, org=w.a)
    assert e.value.status in (403, 404)
    issued = ask(w, fqdn="www.b.gov.test", actor=w.wb, org=w.b, admin_email="web@b.gov.test")
    with pytest.raises(NotFound):
        req_svc.request_get(w.wa, issued.request.id)


def test_api_new_site_field_isolation_and_schema(client, token_for, world):
    w = world
    ha, hb = token_for(w.ua), token_for(w.ub)
    wp = {"title": "A", "admin_user": "webadmin", "admin_email": "web@a.gov.test"}
    body = {"org_id": w.a_id, "new_site": {"fqdn": "www.a.gov.test", "plan": "basic", "tls": "none"}, **wp}
    for bad, key in (
        ({"new_site": {"fqdn": "a;b", "plan": "basic"}}, "name."),
        ({"new_site": {"fqdn": "www.a.gov.test"}}, None),  # no plan: the schema refuses it
        ({"new_site": {"fqdn": "www.a.gov.test", "plan": "basic", "extra": 1}}, None),
        ({"site_id": 1}, "cms.site_required"),  # both
    ):
        r = client.post("/api/v1/cms/instances", headers=ha, json={**body, **bad})
        assert r.status_code in (400, 409, 422) and r.content_type == "application/problem+json", (bad, r.json)
        assert key is None or r.json["key"].startswith(key), (bad, r.json)
    r = client.post("/api/v1/cms/instances", headers=hb, json=body)  # B asks for A's ministry or name
    assert r.status_code in (403, 404), r.json
    r = client.post("/api/v1/cms/instances", headers=hb, json={**body, "org_id": w.b_id})
    assert r.status_code == 403 and r.json["key"] == "dns.domain_unverified", r.json
    r = client.post("/api/v1/cms/instances", headers=ha, json=body)
    assert r.status_code == 201, r.json
    assert r.json["request"]["kind"] == "cms.site_instance_create" and len(r.json["password"]) == 24
    rid = r.json["request"]["id"]
    assert client.get(f"/api/v1/requests/{rid}", headers=hb).status_code == 404
    spec = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    new_site = spec[spec_name(spec, "CmsNewSiteIn")]["properties"]
    assert new_site["fqdn"]["maxLength"] == 253 and new_site["tls"]["enum"] == ["acme", "none"]


def spec_name(spec: dict, name: str) -> str:
    return next(k for k in spec if k == name or k.startswith(name))


def test_cli_new_site_flag(cli, world):
    w = world
    args = ["cms", "create", "--org", str(w.a_id), "--title", "A", "--admin", "webadmin", "--email", "w@a.gov.test"]
    r = cli(*args, "--new-site", "www.b.gov.test", "--plan", "basic", "--as", w.ua.username)
    assert r.exit_code == 2 and "dns.domain_unverified" in r.output
    r = cli(*args, "--as", w.ua.username)
    assert r.exit_code == 2 and "cms.site_required" in r.output
    r = cli(*args, "--new-site", "www.a.gov.test", "--plan", "basic", "--tls", "none", "--as", w.ua.username)
    assert r.exit_code == 0 and "cms.site_instance_create" in r.output, r.output
    password = r.output.strip().splitlines()[-1]
    with db.unit_of_work() as s:
        req = s.scalars(select(Request)).one()
        assert req.payload["fqdn"] == "www.a.gov.test" and req.payload["tls"] == "none"
        assert password not in json.dumps(req.payload)


def test_deleting_wordpress_frees_its_share_and_the_site_keeps_its_own(world):
    w = world
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        finish(s, s.scalars(select(Job).where(Job.kind == "sites.site_create")).one())
        finish(s, s.get(Job, inst.db_job_id))
        for state in (InstanceStatus.ACTIVE, InstanceStatus.DELETING, InstanceStatus.DELETED):
            inst.move_to(state)  # as the install and delete jobs' hooks do; then the drop job frees:
        quota_release(s, [issued.request.id])
        held = {q.resource: q.amount for q in s.scalars(select(RequestQuota).where(RequestQuota.released_at.is_(None)))}
        assert held == {"sites": 1, "disk_mb": 100}, held
        site = s.scalars(select(Site)).one()
        site.status = SiteStatus.DELETED  # the site's own delete job's hook, later
        quota_release(s, [issued.request.id])
        assert not s.scalars(select(RequestQuota).where(RequestQuota.released_at.is_(None))).all()


def test_web_form_new_site_option(login_as, world):
    w = world
    c = login_as(w.ua)
    page = c.get("/cms/new").get_data(as_text=True)  # the ministry has no site yet: the form is offered
    assert 'name="new_fqdn"' in page and '<option value="basic"' in page
    data = {
        "org_id": str(w.a_id), "site_id": "0", "plan": "basic", "title": "A",
        "admin_user": "webadmin", "admin_email": "web@a.gov.test", "language": "en", "csrf_token": csrf_from(page),
    }  # fmt: skip
    r = c.post("/cms/new", data={**data, "new_fqdn": "www.b.gov.test"})
    assert r.status_code == 403 and "not a verified domain" in r.get_data(as_text=True)
    error = r.get_data(as_text=True).split('id="new_fqdn-error">', 1)  # beside the name, not at the top
    assert len(error) == 2 and "not a verified domain" in error[1].split("<", 1)[0]
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request)).all()
    r = c.post("/cms/new", data={**data, "new_fqdn": "www.a.gov.test"})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store", r.get_data(as_text=True)[-1500:]
    shown = r.get_data(as_text=True).split('id="issued-password">', 1)[1].split("<", 1)[0]
    with db.unit_of_work() as s:
        req = s.scalars(select(Request)).one()
        assert req.kind == "cms.site_instance_create" and req.payload["fqdn"] == "www.a.gov.test"
        assert len(shown) == 24 and shown not in json.dumps(req.payload)
