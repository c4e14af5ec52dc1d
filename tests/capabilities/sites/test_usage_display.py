"""A site's disk usage is shown against its plan AND its ministry's disk budget (web and API detail),
without a host: the budget is what the ministry's approved site requests hold."""

from __future__ import annotations

import html

import pytest

from panel import db
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.models import Site
from panel.services import requests
from tests.support.fixtures import login_as, set_limit, token_for  # noqa: F401 - fixtures


@pytest.fixture
def host(make):
    return make.make_host("webu", roles=["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})


def approved_site(world, fqdn: str, plan: str) -> Site:
    req = svc.site_request(world.wa, action="create", org_id=world.a.id, payload={"fqdn": fqdn, "plan": plan})
    requests.request_approve(world.op, req.id)
    with db.unit_of_work() as s:
        return s.query(Site).filter_by(fqdn=fqdn).one()


@pytest.fixture
def measured(world, host):
    """Ministry A: budget 4,321 MB; sites on plans of 100 and 2,000 MB; the first measured at 42.5 MB."""
    set_limit(world.a.id, "disk_mb", 4321)
    site = approved_site(world, "www.a.gov.test", "basic")
    approved_site(world, "big.a.gov.test", "large")
    with db.unit_of_work() as s:
        s.get(Site, site.id).disk_used_mb = 42.5
    return site


def test_web_detail_shows_plan_and_ministry_budget(world, measured, login_as):
    page = login_as(world.wa_user).get(f"/sites/{measured.id}")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "42.5 of the plan's 100 MB" in text
    assert "Ministry disk budget" in text and "2,100 of 4,321 MB allocated" in text
    assert "over the budget" not in text
    set_limit(world.a.id, "disk_mb", 2000)  # lowered below what is held: shown, not hidden
    text = html.unescape(login_as(world.wa_user).get(f"/sites/{measured.id}").get_data(as_text=True))
    assert "2,100 of 2,000 MB allocated" in text and "over the budget" in text


def test_api_detail_has_plan_limit_and_ministry_budget(world, measured, token_for, app):
    c = app.test_client()
    body = c.get(f"/api/v1/sites/{measured.id}", headers=token_for(world.wa_user)).json
    assert (body["disk_used_mb"], body["disk_limit_mb"]) == (42.5, 100)
    assert body["disk_budget"] == {"used_mb": 2100, "limit_mb": 4321}
    assert body["fqdn"] == "www.a.gov.test" and body["plan"] == "basic"
    listed = c.get("/api/v1/sites/", headers=token_for(world.wa_user)).json["items"]
    assert all("disk_budget" not in item for item in listed)  # the list stays one query per page
    r = c.get(f"/api/v1/sites/{measured.id}", headers=token_for(world.wb_user))
    assert r.status_code == 404 and r.json["key"] == "site.not_found"
