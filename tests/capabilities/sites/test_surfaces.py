"""Sites through the service, web, API and CLI without a host: validation, ownership, uniqueness,
quota, and ministry A's 404 on ministry B's sites on every surface."""

from __future__ import annotations

import pytest

from panel import db
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.models import Site, SiteStatus
from panel.errors import PanelError
from panel.models.tenants import OrgKind, Role
from panel.services import requests
from tests.support.fixtures import _staff, login_as, post_form, token_for  # noqa: F401 - fixtures

HOSTILE = [
    "a;rm -rf /",
    "{{ lookup('pipe','id') }}",
    "../x",
    "x\n.a.gov.test",
    "x\x00.a.gov.test",
    ("a" * 60 + ".") * 5 + "a.gov.test",
]


@pytest.fixture
def host(make):
    return make.make_host("webx", roles=["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})


def ask(actor, org, fqdn, **kw):
    return svc.site_request(actor, action="create", org_id=org.id, payload={"fqdn": fqdn, "plan": "basic", **kw})


@pytest.mark.parametrize("value", HOSTILE)
def test_service_refuses_hostile_names(world, host, value):
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, value)
    assert exc.value.status == 422 and exc.value.key.startswith("name.") and exc.value.field == "fqdn"


def test_names_must_be_owned_and_free(world, host):
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "www.b.gov.test")
    assert exc.value.key == "dns.domain_unverified"
    ask(world.wa, world.a, "www.a.gov.test")
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "WWW.A.gov.test.")
    assert exc.value.key == "site.name_taken"
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "shop.a.gov.test", aliases=["www.a.gov.test"])
    assert exc.value.key == "site.name_taken"


def test_placement_and_quota(world, host):
    from tests.support.fixtures import set_limit

    set_limit(world.a.id, "sites", 1)
    req = ask(world.wa, world.a, "one.a.gov.test")
    assert req.target_host_id == host.id
    requests.request_approve(world.op, req.id)
    with db.unit_of_work() as s:
        site = s.query(Site).filter_by(fqdn="one.a.gov.test").one()
        assert site.status == SiteStatus.REQUESTED and site.host_id == host.id and site.system_user == f"site{site.id}"
        assert site.busy_job_id is not None
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "two.a.gov.test")
    assert exc.value.key == "quota.sites"


def test_only_operators_pick_the_host(world, host):
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "x.a.gov.test", host_id=host.id)
    assert exc.value.key == "host.override_forbidden"


@pytest.fixture
def site_b(world, host, make):
    return make.make_site(world.b, "www.b.gov.test", host=host, plan=make.make_plan("basic"), system_user="site1")


def test_other_ministry_gets_404_everywhere(world, site_b, login_as, token_for, cli):
    sid = site_b.id  # read before a request ends the session the fixture's row belongs to
    with pytest.raises(PanelError) as exc:
        svc.site_get(world.wa, sid)
    assert exc.value.status == 404
    with pytest.raises(PanelError) as exc:
        svc.site_request(world.wa, action="suspend", site_id=sid)
    assert exc.value.status == 404
    web = login_as(world.wa_user)
    assert web.get(f"/sites/{sid}").status_code == 404
    assert "www.b.gov.test" not in web.get("/sites/").get_data(as_text=True)
    assert post_form(web, f"/sites/{sid}/suspend", {}, page="/sites/").status_code == 404
    headers = token_for(world.wa_user)
    c = web.application.test_client()
    r = c.get(f"/api/v1/sites/{sid}", headers=headers)
    assert r.status_code == 404 and r.json["key"] == "site.not_found"
    r = c.post(f"/api/v1/sites/{sid}/requests", json={"action": "delete"}, headers=headers)
    assert r.status_code == 404
    assert all(i["fqdn"] != "www.b.gov.test" for i in c.get("/api/v1/sites/", headers=headers).json["items"])
    result = cli("sites", "show", str(sid), "--as", world.wa_user.username)
    assert result.exit_code == 2 and "site.not_found" in result.output
    assert c.get(f"/api/v1/sites/{sid}", headers=token_for(world.wb_user)).status_code == 200


def test_hostile_values_on_every_surface(world, host, login_as, token_for, cli):
    web = login_as(world.wa_user)
    c = web.application.test_client()
    headers = token_for(world.wa_user)
    for value in HOSTILE:
        r = c.post("/api/v1/sites/", json={"fqdn": value, "plan": "basic", "org_id": world.a.id}, headers=headers)
        assert r.status_code == 422 and r.json["key"].startswith("name."), (value, r.json)
        r = post_form(
            web,
            "/sites/new",
            {"fqdn": value, "plan": "basic", "tls": "acme", "php_version": "8.2", "org_id": world.a.id},
        )
        assert r.status_code == 422 and "domain name" in r.get_data(as_text=True), r.get_data(as_text=True)[-2500:]
        if "\x00" not in value:
            result = cli(
                "sites", "create", value, "--plan", "basic", "--org", str(world.a.id), "--as", world.wa_user.username
            )
            assert result.exit_code == 2 and "name." in result.output
    with db.unit_of_work() as s:
        assert s.query(Site).count() == 0


def test_custom_nginx_is_for_operators(world, site_b, login_as, make):
    # the form is on the site's page for the data center's staff only (it was shown to nobody)
    assert "Custom nginx directives" not in login_as(world.wb_user).get(f"/sites/{site_b.id}").get_data(as_text=True)
    staff = _staff(make, make.make_org("DC", kind=OrgKind.DATACENTER, slug="dcn"), Role.OPERATOR, "nginxop")
    assert "Custom nginx directives" in login_as(staff).get(f"/sites/{site_b.id}").get_data(as_text=True)
    with pytest.raises(PanelError) as exc:
        svc.site_custom_nginx_set(world.wb, site_id=site_b.id, custom_nginx="add_header X-A b;")
    assert exc.value.status == 403
    with pytest.raises(PanelError) as exc:
        svc.site_custom_nginx_set(world.op, site_id=site_b.id, custom_nginx="{{ lookup('pipe','id') }}")
    assert exc.value.key == "site.custom_nginx_invalid"
