"""WordPress instances without hosts: the request's rules, approval composing the site and the
database through providers, the install job chained from the database job, isolation between
ministries, and no password or salt in payloads, params, summaries, events or the audit log."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from panel import db, events, security
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.databases.models import Database, DbStatus, DbUser
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.errors import Conflict, Invalid, NotFound
from panel.jobs import capabilities as job_kinds
from panel.jobs.capabilities import job_secrets
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import OrgKind, Role
from panel.services import requests as req_svc
from provisioners.base import Result


def _host(s, name: str, address: str, role: str, facts: dict | None = None) -> Host:
    host = Host(
        name=name, address=address, host_key_type="ssh-ed25519", host_key="AAAA", fingerprint="x", facts=facts or {}
    )
    host.roles = {role}
    s.add(host)
    s.flush()
    return host


def _site(s, org_id: int, host_id: int, fqdn: str, plan_id: int) -> Site:
    site = Site(org_id=org_id, fqdn=fqdn, plan_id=plan_id, host_id=host_id, status=SiteStatus.ACTIVE)
    s.add(site)
    s.flush()
    site.system_user = f"site{site.id}"
    return site


@pytest.fixture
def world(booted, make):
    a, b = make.make_org("Ministry A", slug="mina"), make.make_org("Ministry B", slug="minb")
    wa, wb = make.make_user(Role.WEBMASTER, a), make.make_user(Role.WEBMASTER, b)
    dc = make.make_org("DC", kind=OrgKind.DATACENTER, slug="dc")
    op = make.make_user(Role.OPERATOR, dc)
    with db.unit_of_work() as s:
        web = _host(s, "web1", "192.0.2.20", "web")
        dbh = _host(s, "db1", "192.0.2.21", "db", {"db_engines": ["mariadb"]})
        plan = Plan(name="basic")
        s.add(plan)
        s.flush()
        site_a = _site(s, a.id, web.id, "www.a.gov.test", plan.id)
        site_a2 = _site(s, a.id, web.id, "news.a.gov.test", plan.id)
        site_b = _site(s, b.id, web.id, "www.b.gov.test", plan.id)
        ids = SimpleNamespace(web=web.id, db=dbh.id, site_a=site_a.id, site_a2=site_a2.id, site_b=site_b.id)
    return SimpleNamespace(a=a, b=b, wa=make.actor_of(wa), wb=make.actor_of(wb), op=make.actor_of(op), ids=ids)


def ask(w, site_id=None, actor=None, org=None, **over):
    fields = {"title": "Ministry A news", "admin_user": "webadmin", "admin_email": "web@a.gov.test", **over}
    return cms_svc.instance_create(actor or w.wa, org_id=(org or w.a).id, site_id=site_id or w.ids.site_a, **fields)


def test_request_approve_composes_site_database_and_chains_install(world):
    w = world
    issued = ask(w)
    password = issued.password
    assert len(password) == 24 and issued.request.status == RequestStatus.SUBMITTED
    assert password not in json.dumps(issued.request.payload) and password not in issued.request.summary
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        req = s.get(Request, issued.request.id)
        assert inst.status == InstanceStatus.PENDING and req.status == RequestStatus.PROVISIONING
        assert s.get(Site, w.ids.site_a).app == "wordpress"
        dbrow = s.get(Database, inst.database_id)
        assert dbrow.name == inst.db_name == f"mina{w.a.id}_wp{inst.id}" and dbrow.host_id == w.ids.db
        # its user is named apart from the database (on PostgreSQL the database's owner role has its name)
        assert s.get(DbUser, inst.db_user_id).name == inst.db_user == inst.db_name + "_app"
        db_job = s.get(Job, inst.db_job_id)
        assert db_job.kind == "databases.apply" and db_job.request_id is None
        sealed = json.loads(security.unseal(req.secrets))
        assert set(sealed) == {"admin_password", "db_password", "db_address", "salts"}
        salts = json.loads(sealed["salts"])
        assert len(salts) == 8 and all(len(v) == 64 and v.isalnum() for v in salts.values())
        # The database job ends well: the install job is chained, on the site's host, for the request.
        db_job.status = "successful"
        events.job_finished.send(db_job, session=s, result=Result("successful", 0), ok=True)
        install = s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one()
        assert install.request_id == req.id and install.host_ids == [w.ids.web]
        assert install.params == {"instance_ids": [inst.id]}
        extra, secrets, targets = job_kinds.get("cms.instance_install").build(install, s)
        assert [t.address for t in targets] == ["192.0.2.20"]
        assert extra["govhost_sites"][0]["app"] == "wordpress" and extra["govhost_sites"][0]["fqdn"] == "www.a.gov.test"
        (site,) = extra["wordpress_sites"]
        assert site["id"] == inst.id and site["db_name"] == inst.db_name and site["admin_user"] == "webadmin"
        assert site["db_user"] == inst.db_user  # the user the database job made
        mine = json.loads(secrets["wordpress_secrets"])[str(inst.id)]
        assert mine["admin_password"] == password and mine["db_password"] == sealed["db_password"]
        assert json.loads(mine["salts"]) == salts
        everything_public = json.dumps([extra, install.params, db_job.params, req.payload, req.summary])
        for secret in (password, sealed["db_password"], *salts.values()):
            assert secret not in everything_public
        # The install ends well: the instance is active and the request forgets its secrets.
        job_kinds.get("cms.instance_install").on_success(
            install, s, Result("successful", 0, data={"wordpress_results": {str(inst.id): {"version": "6.1.1"}}})
        )
        assert inst.status == InstanceStatus.ACTIVE and inst.wp_version == "6.1.1" and req.secrets is None
        audit = json.dumps([(e.action, e.summary) for e in s.scalars(select(AuditEntry))])
        assert "request.approve" in audit and "request.create" in audit
        for secret in (password, sealed["db_password"], *salts.values()):
            assert secret not in audit


def test_instances_approved_together_share_one_database_job_and_one_install_job(world, make):
    """The ministry's instances approved before a worker starts the first database job join it; its
    end submits one install job for them all (no request's: each request follows its instance)."""
    w = world
    with db.unit_of_work() as s:
        site_a3 = _site(s, w.a.id, w.ids.web, "shop.a.gov.test", s.get(Site, w.ids.site_a).plan_id).id
    first, second, third = ask(w), ask(w, site_id=w.ids.site_a2), ask(w, site_id=site_a3)
    theirs = ask(w, site_id=w.ids.site_b, actor=w.wb, org=w.b)
    for issued in (first, second, third, theirs):
        req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        mine = s.scalars(select(Instance).where(Instance.org_id == w.a.id).order_by(Instance.id)).all()
        other = s.scalars(select(Instance).where(Instance.org_id == w.b.id)).one()
        db_job = s.get(Job, mine[0].db_job_id)
        assert {i.db_job_id for i in mine} == {db_job.id} and other.db_job_id != db_job.id  # never another ministry's
        assert db_job.params["database_ids"] == [i.database_id for i in mine]
        assert db_job.params["user_ids"] == [i.db_user_id for i in mine]
        assert set(job_secrets(db_job)) == {str(i.db_user_id) for i in mine}  # each user's verifier, sealed
        db_job.status = "successful"
        events.job_finished.send(db_job, session=s, result=Result("successful", 0), ok=True)
        install = s.scalars(select(Job).where(Job.kind == "cms.instance_install")).one()
        assert install.params == {"instance_ids": [i.id for i in mine]} and install.request_id is None
        extra, secrets, _ = job_kinds.get("cms.instance_install").build(install, s)
        assert [e["fqdn"] for e in extra["govhost_sites"]] == [i.fqdn for i in mine]
        sealed = json.loads(secrets["wordpress_secrets"])
        passwords = {str(i.id): x.password for i, x in zip(mine, (first, second, third), strict=True)}
        assert {k: v["admin_password"] for k, v in sealed.items()} == passwords
        for secret in passwords.values():
            assert secret not in json.dumps([extra, install.params, db_job.params])
        # The run failed on the third site only: the first two are active and their requests done.
        results = {str(mine[0].id): {"version": "6.1.1"}, str(mine[1].id): {"version": "6.1.1", "installed": True}}
        results[str(mine[2].id)] = {"error": "shop.a.gov.test: Error establishing a database connection"}
        finish_failed = Result("failed", 2, explanation="Task failed", data={"wordpress_results": results})
        job_kinds.get("cms.instance_install").on_failure(install, s, finish_failed)
        assert [i.status for i in mine] == [InstanceStatus.ACTIVE, InstanceStatus.ACTIVE, InstanceStatus.FAILED]
        assert "database connection" in mine[2].last_error
        reqs = [s.get(Request, x.request.id) for x in (first, second, third)]
        assert [r.status for r in reqs] == [RequestStatus.DONE, RequestStatus.DONE, RequestStatus.FAILED]
        assert reqs[0].secrets is None and reqs[2].secrets is not None  # kept for the retry


def test_a_batched_database_job_is_retried_for_the_one_instance_asked(world):
    w = world
    first, second = ask(w), ask(w, site_id=w.ids.site_a2)
    for issued in (first, second):
        req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        one, two = s.scalars(select(Instance).order_by(Instance.id)).all()
        db_job = s.get(Job, one.db_job_id)
        db_job.status = JobStatus.FAILED
        job_kinds.get("databases.apply").on_failure(db_job, s, Result("failed", 2, explanation="no route"))
        events.job_finished.send(db_job, session=s, result=Result("failed", 2, explanation="no route"), ok=False)
        assert one.status == two.status == InstanceStatus.FAILED
    req_svc.request_retry(w.wa, second.request.id)
    with db.unit_of_work() as s:
        one, two = s.scalars(select(Instance).order_by(Instance.id)).all()
        again = s.get(Job, two.db_job_id)
        assert again.retry_of_id == one.db_job_id and again.params["database_ids"] == [two.database_id]
        assert set(job_secrets(again)) == {str(two.db_user_id)}
        assert one.status == InstanceStatus.FAILED and s.get(Database, one.database_id).status == DbStatus.FAILED


def test_database_job_failure_fails_instance_and_request(world):
    w = world
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        db_job = s.get(Job, inst.db_job_id)
        events.job_finished.send(db_job, session=s, result=Result("failed", 2, explanation="no route"), ok=False)
        assert inst.status == InstanceStatus.FAILED and "no route" in inst.last_error
        assert s.get(Request, issued.request.id).status == RequestStatus.FAILED
        assert not s.scalars(select(Job).where(Job.kind == "cms.instance_install")).all()
        assert s.get(Database, inst.database_id).status == DbStatus.PENDING  # databases' own hook moves it


@pytest.mark.parametrize(
    "over,key",
    [
        ({"admin_user": "admin"}, "cms.admin_user_guessable"),
        ({"admin_user": "Bad Name"}, "cms.admin_user_invalid"),
        ({"admin_email": "not-an-address"}, "cms.email_invalid"),
        ({"title": "news\x07"}, "cms.title_invalid"),
        ({"title": "   "}, "cms.title_required"),
        ({"language": "fr"}, "cms.language_invalid"),
    ],
)
def test_bad_input_is_refused_with_its_key(world, over, key):
    with pytest.raises(Invalid) as e:
        ask(world, **over)
    assert e.value.key == key or e.value.key.startswith("request.")
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request)).all()


def test_one_instance_per_site(world):
    w = world
    first, second = ask(w), ask(w)  # both wait for approval: the site has no instance yet
    req_svc.request_approve(w.op, first.request.id)
    with pytest.raises(Conflict) as e:
        req_svc.request_approve(w.op, second.request.id)
    assert e.value.key == "cms.site_has_instance"
    with pytest.raises(Conflict) as e:
        ask(w)
    assert e.value.key == "cms.site_has_instance"
    with db.unit_of_work() as s:
        assert len(s.scalars(select(Instance)).all()) == 1 and len(s.scalars(select(Database)).all()) == 1
        assert s.get(Request, second.request.id).status == RequestStatus.SUBMITTED


def test_another_ministry_sees_nothing(world):
    w = world
    with pytest.raises(NotFound):  # B cannot name A's site, even with A's id
        ask(w, actor=w.wb, org=w.b)
    with pytest.raises(NotFound):
        ask(w, site_id=w.ids.site_a, actor=w.wb, org=w.b)
    issued = ask(w)
    req_svc.request_approve(w.op, issued.request.id)
    with db.unit_of_work() as s:
        inst_id = s.scalars(select(Instance.id)).one()
    assert cms_svc.instance_get(w.wa, inst_id).fqdn == "www.a.gov.test"
    with pytest.raises(NotFound):
        cms_svc.instance_get(w.wb, inst_id)
    assert cms_svc.instance_list(w.wb).total == 0 and cms_svc.instance_list(w.wa).total == 1
