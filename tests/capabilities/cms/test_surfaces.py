"""WordPress instances on each surface without the lab: the web pages (km and en), the API and the
CLI file the same request through one service function; the administrator's password is shown once
(page not cached, API answer, CLI output) and is nowhere in the panel's tables; ministry A never sees
or touches B's instances or sites; bad input is a form message, a problem+json 422 or exit 2."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from panel import db
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.sites.models import Plan
from panel.models.requests import Request
from panel.models.tenants import OrgKind, Role
from tests.capabilities.cms.test_services import _host, _site
from tests.support.fixtures import _staff, csrf_from, login_as, token_for  # noqa: F401  (fixtures)


@pytest.fixture
def two(make):
    a, b = make.make_org("Ministry A", slug="mina"), make.make_org("Ministry B", slug="minb")
    ua, ub = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    dc = make.make_org("DC", kind=OrgKind.DATACENTER, slug="dc")
    op, auditor = make.make_user(Role.OPERATOR, dc), _staff(make, dc, Role.AUDITOR, "aud")
    with db.unit_of_work() as s:
        web = _host(s, "web1", "192.0.2.20", "web")
        _host(s, "db1", "192.0.2.21", "db", {"db_engines": ["mariadb"]})
        plan = Plan(name="basic")
        s.add(plan)
        s.flush()
        site_a = _site(s, a.id, web.id, "www.a.gov.test", plan.id)
        site_a2 = _site(s, a.id, web.id, "news.a.gov.test", plan.id)
        site_b = _site(s, b.id, web.id, "www.b.gov.test", plan.id)
        inst_b = Instance(
            org_id=b.id,
            site_id=site_b.id,
            fqdn=site_b.fqdn,
            host_id=web.id,
            title="B's news",
            admin_user="bweb",
            admin_email="web@b.gov.test",
            status=InstanceStatus.ACTIVE,
            db_name="minb_wp1",
        )
        s.add(inst_b)
        s.flush()
        ids = SimpleNamespace(site_a=site_a.id, site_a2=site_a2.id, site_b=site_b.id, inst_b=inst_b.id)
    return SimpleNamespace(a=a, b=b, ua=ua, ub=ub, auditor=auditor, op=op, ids=ids)


def _tables() -> str:
    with db.unit_of_work() as s:
        return "\n".join(
            str(row)
            for t in ("requests", "jobs", "audit_entries", "job_events", "notifications", "cms_instances")
            for row in s.execute(text(f"SELECT * FROM {t}"))  # noqa: S608 (fixed names)
        )


def _form(two, **over) -> dict:
    return {
        "org_id": str(two.a.id),
        "site_id": str(two.ids.site_a),
        "title": "Ministry A news",
        "admin_user": "webadmin",
        "admin_email": "web@a.gov.test",
        "language": "en",
        **over,
    }


def test_web_request_shows_password_once_and_lists_only_own(login_as, two):
    c = login_as(two.ua)
    page = c.get("/cms/new").get_data(as_text=True)
    # Only A's sites are offered, the one with B's instance never.
    assert "www.a.gov.test" in page and "news.a.gov.test" in page and "www.b.gov.test" not in page
    token = csrf_from(page)
    r = c.post("/cms/new", data={**_form(two, admin_user="admin"), "csrf_token": token})
    assert r.status_code == 422 and "less guessable" in r.get_data(as_text=True)
    r = c.post("/cms/new", data={**_form(two, admin_email="x" * 300), "csrf_token": token})
    assert r.status_code == 422
    # B's site, even by its id, is not a choice: the form refuses it and nothing is filed.
    r = c.post("/cms/new", data={**_form(two, site_id=str(two.ids.site_b)), "csrf_token": token})
    assert r.status_code == 422
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request)).all()
    r = c.post("/cms/new", data={**_form(two), "csrf_token": token})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    shown = html.split('id="issued-password">', 1)[1].split("<", 1)[0]
    assert len(shown) == 24 and shown not in _tables()
    assert "https://www.a.gov.test/wp-admin/" in html
    listing = c.get("/cms/").get_data(as_text=True)
    assert "WordPress on www.a.gov.test" in listing  # waiting for approval
    assert "www.b.gov.test" not in listing and "B&#39;s news" not in listing
    assert c.get(f"/cms/{two.ids.inst_b}").status_code == 404
    # B sees its own instance; the dashboard card counts it.
    cb = login_as(two.ub)
    detail = cb.get(f"/cms/{two.ids.inst_b}").get_data(as_text=True)
    assert "www.b.gov.test" in detail and "bweb" in detail and "minb_wp1" in detail
    assert "www.b.gov.test" in cb.get("/").get_data(as_text=True)
    # An auditor reads every ministry's instances but may not ask for one.
    aud = login_as(two.auditor)
    assert "www.b.gov.test" in aud.get("/cms/").get_data(as_text=True)
    assert aud.get("/cms/new").status_code == 403


def test_web_pages_in_khmer(login_as, two):
    cb = login_as(two.ub)
    cb.set_cookie("lang", "km")
    for url in ("/cms/", f"/cms/{two.ids.inst_b}", "/cms/new"):
        html = cb.get(url, headers={"Accept-Language": "km"}).get_data(as_text=True)
        assert 'lang="km"' in html, url
        assert "WordPress from the data center" not in html and "Ask for WordPress</a>" not in html, url


def test_web_list_is_paginated(login_as, two, booted):
    with db.unit_of_work() as s:
        plan = s.scalars(select(Plan)).first()
        web = s.scalars(select(Instance)).first().host_id
        for n in range(booted.web.page_size + 3):
            site = _site(s, two.b.id, web, f"s{n:03d}.b.gov.test", plan.id)
            s.add(
                Instance(
                    org_id=two.b.id,
                    site_id=site.id,
                    fqdn=site.fqdn,
                    host_id=web,
                    title="t",
                    admin_user="bweb",
                    admin_email="web@b.gov.test",
                )
            )
    cb = login_as(two.ub)
    first = cb.get("/cms/").get_data(as_text=True)
    assert "s000.b.gov.test" in first and "www.b.gov.test" not in first and 'rel="next"' in first
    assert "www.b.gov.test" in cb.get("/cms/?page=2").get_data(as_text=True)


def test_api_create_list_get_isolation_and_limits(client, token_for, two):
    ha, hb = token_for(two.ua), token_for(two.ub)
    body = dict(_form(two))
    body.update(org_id=two.a.id, site_id=two.ids.site_a)
    for bad, key in (
        ({"admin_user": "root"}, "cms.admin_user_guessable"),
        ({"title": "x" * 201}, "cms.title_invalid"),
        ({"language": "fr"}, "cms.language_invalid"),
        ({"site_id": "1"}, None),
        ({"site_id": two.ids.site_b}, "site.not_found"),
        ({"org_id": two.b.id}, None),
    ):
        r = client.post("/api/v1/cms/instances", headers=ha, json={**body, **bad})
        assert r.status_code in (403, 404, 422) and r.content_type == "application/problem+json", (bad, r.json)
        if key:
            assert r.json["key"] == key, (bad, r.json)
    r = client.post("/api/v1/cms/instances", headers=ha, json={**body, "extra": 1})
    assert r.status_code == 422
    r = client.post("/api/v1/cms/instances", headers=ha, json=body)
    assert r.status_code == 201, r.json
    assert r.json["request"]["kind"] == "cms.instance_create" and len(r.json["password"]) == 24
    assert r.json["password"] not in _tables()
    assert client.get("/api/v1/cms/instances", headers=ha).json["total"] == 0
    got = client.get("/api/v1/cms/instances", headers=hb).json
    assert [i["fqdn"] for i in got["items"]] == ["www.b.gov.test"] and got["total"] == 1
    assert client.get(f"/api/v1/cms/instances/{two.ids.inst_b}", headers=ha).status_code == 404
    one = client.get(f"/api/v1/cms/instances/{two.ids.inst_b}", headers=hb).json
    assert one["admin_user"] == "bweb" and "password" not in one
    assert client.get("/api/v1/cms/instances?status=nope", headers=hb).status_code == 422
    assert client.get("/api/v1/cms/instances?per_page=1000", headers=hb).status_code == 422
    ro = token_for(two.ua, scope="read")
    assert client.post("/api/v1/cms/instances", headers=ro, json=body).status_code == 403
    # The limits are in the published schema.
    spec = client.get("/api/v1/openapi.json").json
    schema = spec["components"]["schemas"]["CmsInstanceIn"]["properties"]
    assert schema["title"]["maxLength"] == 200 and schema["admin_user"]["maxLength"] == 60
    assert schema["admin_email"]["maxLength"] == 254 and schema["language"]["enum"] == ["en", "km"]


def test_cli_create_list_show_isolation(cli, two):
    r = cli("cms", "list", "--as", two.ua.username)
    assert r.exit_code == 0 and "www.b.gov.test" not in r.output
    r = cli("cms", "list", "--org", str(two.b.id), "--status", "active", "--as", two.ub.username)
    assert r.exit_code == 0 and "www.b.gov.test" in r.output and "1 instances" in r.output
    assert "www.b.gov.test" not in cli("cms", "list", "--org", str(two.b.id), "--as", two.ua.username).output
    assert cli("cms", "list", "--status", "nope").exit_code == 2
    r = cli("cms", "show", str(two.ids.inst_b), "--as", two.ua.username)
    assert r.exit_code == 2 and "not_found" in r.output
    r = cli("cms", "show", str(two.ids.inst_b), "--as", two.ub.username)
    assert r.exit_code == 0 and "www.b.gov.test" in r.output
    r = cli(
        "cms", "create", "--org", str(two.a.id), "--site", str(two.ids.site_b), "--title", "x",
        "--admin", "webadmin", "--email", "w@a.gov.test", "--as", two.ua.username,
    )  # fmt: skip
    assert r.exit_code == 2 and "site.not_found" in r.output
    r = cli(
        "cms", "create", "--org", str(two.a.id), "--site", str(two.ids.site_a), "--title", "x",
        "--admin", "admin", "--email", "w@a.gov.test", "--as", two.ua.username,
    )  # fmt: skip
    assert r.exit_code == 2 and "cms.admin_user_guessable" in r.output
    r = cli(
        "cms", "create", "--org", str(two.a.id), "--site", str(two.ids.site_a), "--title", "A news",
        "--admin", "webadmin", "--email", "w@a.gov.test", "--as", two.ua.username,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    password = r.output.strip().splitlines()[-1]
    assert len(password) == 24 and password not in _tables()


def test_lifecycle_on_every_surface_only_for_its_ministry(client, cli, login_as, token_for, two):
    """Suspend, unsuspend and delete are requests filed by one service from the web page, the API
    and the CLI; A cannot touch B's instance on any of them."""
    inst = two.ids.inst_b
    # web: A gets a 404; B's page offers the buttons, a suspend is filed and approved at once
    ca, cb = login_as(two.ua), login_as(two.ub)
    page = cb.get(f"/cms/{inst}").get_data(as_text=True)
    assert f"/cms/{inst}/suspend" in page and f"/cms/{inst}/delete" in page
    token = csrf_from(page)
    token_a = csrf_from(ca.get("/cms/").get_data(as_text=True))
    assert ca.post(f"/cms/{inst}/suspend", data={"csrf_token": token_a}).status_code == 404
    assert cb.post(f"/cms/{inst}/suspend", data={}).status_code == 400  # no CSRF token: nothing filed
    r = cb.post(f"/cms/{inst}/suspend", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/cms/{inst}")
    with db.unit_of_work() as s:
        req = s.scalars(select(Request).where(Request.kind == "cms.instance_suspend")).one()
        assert req.org_id == two.b.id and req.status.value == "provisioning"
    # while its job is under way nothing else is asked for: the page says why
    r = cb.post(f"/cms/{inst}/delete", data={"csrf_token": token})
    assert r.status_code == 409 and "under way" in r.get_data(as_text=True)
    # API: the same service; A's token gets 404, a read-only token 403, a bad action 422
    ha, hb = token_for(two.ua), token_for(two.ub)
    url = f"/api/v1/cms/instances/{inst}/requests"
    assert client.post(url, headers=ha, json={"action": "delete"}).status_code == 404
    assert client.post(url, headers=token_for(two.ub, scope="read"), json={"action": "delete"}).status_code == 403
    r = client.post(url, headers=hb, json={"action": "reinstall"})
    assert r.status_code == 422 and r.content_type == "application/problem+json"
    r = client.post(url, headers=hb, json={"action": "delete"})
    assert r.status_code == 409 and r.json["key"] == "cms.instance_busy"
    spec = client.get("/api/v1/openapi.json").json
    assert spec["components"]["schemas"]["CmsAction"]["properties"]["action"]["enum"] == [
        "suspend",
        "unsuspend",
        "delete",
    ]
    # CLI: exit 2 with the key for A and for a refused action; B files it
    r = cli("cms", "unsuspend", str(inst), "--as", two.ua.username)
    assert r.exit_code == 2 and "not_found" in r.output
    r = cli("cms", "unsuspend", str(inst), "--as", two.ub.username)
    assert r.exit_code == 2 and "cms.instance_state" in r.output  # it is active (its suspend job waits)
    r = cli("cms", "delete", str(inst), "--as", two.ub.username)
    assert r.exit_code == 2 and "cms.instance_busy" in r.output
    with db.unit_of_work() as s:
        s.get(Instance, inst).busy_job_id = None
        s.get(Instance, inst).status = InstanceStatus.SUSPENDED
    r = cli("cms", "unsuspend", str(inst), "--as", two.ub.username)
    assert r.exit_code == 0 and "cms.instance_unsuspend" in r.output and "submitted" in r.output
    with db.unit_of_work() as s:
        assert not s.scalars(select(Request).where(Request.org_id == two.a.id)).all()
