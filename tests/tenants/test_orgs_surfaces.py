"""Organization CRUD through the web, the API and the CLI; 403 and cross-ministry 404 on each."""

from __future__ import annotations

import pytest

from panel import db
from panel.models.tenants import Organization
from tests.support.surfaces import api_headers, audit_count, cli_text, web_login

PROBLEM = "application/problem+json"


def _org(slug: str) -> Organization | None:
    with db.unit_of_work() as s:
        return s.query(Organization).filter_by(slug=slug).first()


def test_web_crud(world, app, client, csrf_off):
    web_login(app, client, world.admin)
    assert client.get("/orgs/new").status_code == 200
    r = client.post(
        "/orgs/new",
        data={
            "slug": "moe",
            "name": "Ministry of Education",
            "name_km": "ក្រសួងអប់រំ",
            "kind": "ministry",
            "parent_id": "",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    moe = _org("moe")
    r = client.post(
        "/orgs/new", data={"slug": "moe-it", "name": "MoE IT", "kind": "department", "parent_id": str(moe.id)}
    )
    assert r.status_code == 302 and _org("moe-it").parent_id == moe.id
    page = client.get("/orgs/?q=education").get_data(as_text=True)
    assert "Ministry of Education" in page and "MoE IT" not in page
    assert "ក្រសួងអប់រំ" in client.get(f"/orgs/{moe.id}").get_data(as_text=True)
    assert client.post(f"/orgs/{moe.id}", data={"name": "MoEYS", "name_km": ""}).status_code == 302
    assert _org("moe").name == "MoEYS"
    assert client.post(f"/orgs/{_org('moe-it').id}/deactivate").status_code == 302
    assert _org("moe-it").is_active is False


def test_web_form_errors_show_beside_the_field(world, app, client, csrf_off):
    web_login(app, client, world.admin)
    r = client.post("/orgs/new", data={"slug": "Bad Slug; id", "name": "{{ 7*7 }}", "kind": "ministry"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "starting with a letter" in html and "{{ 7*7 }}" in html and ">49<" not in html
    r = client.post("/orgs/new", data={"slug": "mptc", "name": "Dup", "kind": "ministry"})
    assert r.status_code == 409 and "already used" in r.get_data(as_text=True)


def test_web_csrf_is_required(world, app, client):
    web_login(app, client, world.admin)
    r = client.post("/orgs/new", data={"slug": "moe", "name": "MoE", "kind": "ministry"})
    assert r.status_code == 400 and _org("moe") is None


def test_web_auditor_reads_but_cannot_create(world, app, client, csrf_off):
    web_login(app, client, world.auditor)
    assert client.get("/orgs/").status_code == 200
    assert client.get(f"/orgs/{world.b.id}").status_code == 200
    assert client.get("/orgs/new").status_code == 403
    assert client.post("/orgs/new", data={"slug": "moe", "name": "MoE", "kind": "ministry"}).status_code == 403
    assert client.post(f"/orgs/{world.b.id}/deactivate").status_code == 403
    assert _org("moe") is None


def test_web_other_ministry_is_404(world, app, client, csrf_off):
    web_login(app, client, world.a_admin)
    assert client.get(f"/orgs/{world.a.id}").status_code == 200
    assert client.get(f"/orgs/{world.b.id}").status_code == 404
    assert client.post(f"/orgs/{world.b.id}", data={"name": "Mine"}).status_code == 404
    assert client.post(f"/orgs/{world.b.id}/deactivate").status_code == 404
    assert "Ministry of Health" not in client.get("/orgs/").get_data(as_text=True)


def test_api_crud(world, client):
    h = api_headers(world.admin)
    r = client.post("/api/v1/orgs/", json={"slug": "moe", "name": "MoE", "kind": "ministry"}, headers=h)
    assert r.status_code == 201, r.get_json()
    oid = r.get_json()["id"]
    r = client.post(
        "/api/v1/orgs/", json={"slug": "moe-it", "name": "IT", "kind": "department", "parent_id": oid}, headers=h
    )
    assert r.status_code == 201 and r.get_json()["parent_id"] == oid
    body = client.get("/api/v1/orgs/?q=moe&per_page=1", headers=h).get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (2, 2, 1)
    assert client.get(f"/api/v1/orgs/{oid}", headers=h).get_json()["slug"] == "moe"
    r = client.patch(f"/api/v1/orgs/{oid}", json={"name_km": "ក្រសួងអប់រំ"}, headers=h)
    assert r.status_code == 200 and r.get_json()["name_km"] == "ក្រសួងអប់រំ"
    members = client.get(f"/api/v1/orgs/{world.a.id}/members", headers=h).get_json()
    assert {(m["username"], tuple(m["roles"])) for m in members["items"]} == {
        ("a_admin", ("org_admin",)),
        ("a_web", ("webmaster",)),
    }
    r = client.post(f"/api/v1/orgs/{oid}/deactivate", headers=h)
    assert r.status_code == 409 and r.get_json()["key"] == "organization.has_departments"
    r = client.post("/api/v1/orgs/", json={"slug": "x; id", "name": "X", "kind": "ministry"}, headers=h)
    assert r.status_code == 422 and r.mimetype == PROBLEM and r.get_json()["key"] == "organization.slug_invalid"


def test_api_auditor_and_read_tokens_cannot_write(world, client):
    for headers in (api_headers(world.auditor), api_headers(world.admin, scope="read")):
        assert client.get("/api/v1/orgs/", headers=headers).status_code == 200
        r = client.post("/api/v1/orgs/", json={"slug": "moe", "name": "MoE", "kind": "ministry"}, headers=headers)
        assert r.status_code == 403 and r.mimetype == PROBLEM
    assert _org("moe") is None
    r = client.get("/api/v1/orgs/")
    assert r.status_code == 401 and r.mimetype == PROBLEM


def test_api_other_ministry_is_404(world, client):
    h = api_headers(world.a_admin)
    assert client.get(f"/api/v1/orgs/{world.a.id}", headers=h).status_code == 200
    for method, url in (
        ("get", f"/api/v1/orgs/{world.b.id}"),
        ("patch", f"/api/v1/orgs/{world.b.id}"),
        ("get", f"/api/v1/orgs/{world.b.id}/members"),
        ("post", f"/api/v1/orgs/{world.b.id}/deactivate"),
    ):
        r = getattr(client, method)(url, json={"name": "Mine"} if method == "patch" else None, headers=h)
        assert r.status_code == 404 and r.get_json()["key"] == "organization.not_found", (method, url)
    assert sorted(o["slug"] for o in client.get("/api/v1/orgs/", headers=h).get_json()["items"]) == ["mptc", "mptc-it"]


def test_cli_crud(world, cli):
    r = cli("orgs", "create", "moe", "--name", "MoE", "--name-km", "ក្រសួងអប់រំ")
    assert r.exit_code == 0, cli_text(r)
    assert cli("orgs", "create", "moe-it", "--name", "IT", "--kind", "department", "--parent", "moe").exit_code == 0
    assert "moe-it" in cli_text(cli("orgs", "list", "-q", "moe"))
    assert cli("orgs", "update", "moe", "--name", "MoEYS").exit_code == 0
    assert _org("moe").name == "MoEYS"
    assert "a_web" in cli_text(cli("orgs", "show", "mptc"))
    assert cli("orgs", "deactivate", "moe-it").exit_code == 0 and _org("moe-it").is_active is False
    r = cli("orgs", "create", "Bad;id", "--name", "X")
    assert r.exit_code == 2 and "starting with a letter" in cli_text(r)


def test_cli_as_users(world, cli):
    r = cli("orgs", "show", "moh", "--as", "a_admin")
    assert r.exit_code == 2 and "Not found." in cli_text(r) and "Health" not in cli_text(r)
    r = cli("orgs", "show", str(world.b.id), "--as", "a_admin")
    assert r.exit_code == 2 and "Not found." in cli_text(r)
    assert cli("orgs", "show", "mptc", "--as", "a_admin").exit_code == 0
    before = audit_count()
    r = cli("orgs", "create", "moe", "--name", "MoE", "--as", "dcauditor")
    assert r.exit_code == 2 and "can only read" in cli_text(r)
    assert audit_count() == before and _org("moe") is None


@pytest.mark.parametrize("surface", ["web", "api", "cli"])
def test_each_surface_writes_one_entry_with_its_name(world, app, client, csrf_off, cli, surface):
    before = audit_count("org.create")
    if surface == "web":
        web_login(app, client, world.admin)
        client.post("/orgs/new", data={"slug": "moe", "name": "MoE", "kind": "ministry"})
    elif surface == "api":
        client.post(
            "/api/v1/orgs/", json={"slug": "moe", "name": "MoE", "kind": "ministry"}, headers=api_headers(world.admin)
        )
    else:
        cli("orgs", "create", "moe", "--name", "MoE")
    assert audit_count("org.create") == before + 1
    with db.unit_of_work() as s:
        from panel.models.audit import AuditEntry

        e = s.query(AuditEntry).filter_by(action="org.create").one()
        assert (e.surface, e.object_id, e.org_id) == (surface, str(_org("moe").id), _org("moe").id)
