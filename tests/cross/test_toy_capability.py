"""A capability plugs in by its manifest alone: the toy (tests/cross/toy, defined only in the tests)
is added to ENABLED and nothing else; it then goes request -> approval -> job like the real ones,
through the core's services, queue and worker, and its page needs a login like every other page."""

from __future__ import annotations

import pytest

from panel import capabilities, db
from panel.db import Base
from panel.models.jobs import Job, JobStatus
from panel.models.requests import RequestStatus
from panel.models.tenants import Role
from panel.services import quotas, request_kinds
from panel.services import requests as requests_svc
from tests.cross.toy.models import ToyThing
from tests.jobs.conftest import consumer, wait_job  # noqa: F401  (fixture)
from tests.support import factories
from tests.support.surfaces import web_login

TOY = "tests.cross.toy"


@pytest.fixture
def toy(booted, monkeypatch):
    """ENABLED plus the toy's package; its table made for the test and removed after."""
    monkeypatch.setattr(capabilities, "ENABLED", (*capabilities.ENABLED, TOY))
    capabilities.load()
    ToyThing.__table__.create(db.engine(), checkfirst=True)
    yield capabilities.manifest_of(TOY)
    capabilities.unplug("toy")
    db.remove()
    ToyThing.__table__.drop(db.engine())
    Base.metadata.remove(ToyThing.__table__)


def test_the_loader_registers_what_the_manifest_names(toy):
    plugged = {p.manifest.name: p for p in capabilities.plugged()}["toy"]
    assert plugged.kinds == ("toy.thing_create",) and plugged.job_kinds == ("toy.thing_build",)
    assert quotas.DEFAULT_LIMITS["toys"] == 2 and quotas.resource_label("toys") == "Toys"
    capabilities.unplug("toy")
    assert "toy.thing_create" not in request_kinds.names() and "toys" not in quotas.DEFAULT_LIMITS
    capabilities.load()  # plugged back for the fixture's own clean-up


def test_request_approval_job_and_page(toy, consumer, booted):
    from panel.app import create_app

    app = create_app(booted)
    app.config.update(TESTING=True)
    assert "toy.index" in {r.endpoint for r in app.url_map.iter_rules()}
    org = factories.make_org("Toy Ministry")
    admin_user = factories.make_user(Role.ORG_ADMIN, org, username="toyadmin")
    admin = factories.actor_of(admin_user)
    operator = factories.actor_of(factories.make_user(Role.OPERATOR, username="toyop"))

    req = requests_svc.request_create(admin, kind="toy.thing_create", org_id=org.id, payload={"name": "alpha"})
    assert req.status == RequestStatus.SUBMITTED

    requests_svc.request_approve(operator, req.id)
    assert {r.resource: r.used for r in quotas.quota_usage(admin, org.id)}["toys"] == 1  # the manifest's budget
    with db.unit_of_work() as s:
        job_id = s.query(Job.id).filter(Job.request_id == req.id).scalar()
    job = wait_job(job_id)
    assert job.status == JobStatus.SUCCESSFUL, job.explanation
    with db.unit_of_work() as s:
        assert [(t.name, t.status) for t in s.query(ToyThing)] == [("alpha", "built")]
        assert s.get(type(req), req.id, populate_existing=True).status == RequestStatus.DONE

    client = app.test_client()
    anonymous = client.get("/toy/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    web_login(app, client, admin_user)
    page = client.get("/toy/")
    assert page.status_code == 200 and "alpha: built" in page.get_data(as_text=True)
