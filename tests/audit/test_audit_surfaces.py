"""The audit log on the web, the API and the CLI: who reads what, filters, the verify button."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from panel import db
from panel.errors import Forbidden
from panel.services import audit, tenants
from tests.support.surfaces import api_headers, web_login


@pytest.fixture
def entries(world):
    admin = world.actor("admin")
    tenants.org_update(admin, id=world.a.id, name="MPTC renamed")
    tenants.org_update(admin, id=world.a_dept.id, name="MPTC IT renamed")
    tenants.org_update(admin, id=world.b.id, name="MOH renamed")
    tenants.org_create(admin, slug="moe", name="MoE", kind="ministry")
    return world


def test_service_scoping_and_filters(entries):
    w = entries
    mine = audit.audit_list(w.actor("a_admin")).items
    assert sorted(e.org_id for e in mine) == sorted([w.a.id, w.a_dept.id])
    assert audit.audit_list(w.actor("auditor")).total == 4
    assert [e.action for e in audit.audit_list(w.actor("auditor"), audit.AuditFilter(action="org.cr")).items] == [
        "org.create"
    ]
    assert audit.audit_list(w.actor("auditor"), audit.AuditFilter(action="org_")).total == 0  # LIKE is literal
    assert audit.audit_list(w.actor("auditor"), audit.AuditFilter(org_id=w.b.id)).total == 1
    assert audit.audit_list(w.actor("a_admin"), audit.AuditFilter(org_id=w.b.id)).total == 0
    assert audit.audit_list(w.actor("auditor"), audit.AuditFilter(actor="dcadmin")).total == 4
    seqs = [e.seq for e in audit.audit_list(w.actor("auditor")).items]
    assert seqs == sorted(seqs, reverse=True)
    for who in ("a_web", "operator"):
        with pytest.raises(Forbidden):
            audit.audit_list(w.actor(who))
    with pytest.raises(Forbidden):
        audit.audit_verify(w.actor("a_admin"))


def test_web_ministry_admin_sees_only_its_entries(entries, app, client):
    web_login(app, client, entries.a_admin)
    html = client.get("/audit/").get_data(as_text=True)
    assert "MPTC renamed" in html and "MOH renamed" not in html and "MoE" not in html
    assert "Verify the chain" not in html
    assert client.post("/audit/verify").status_code in (400, 403)  # no CSRF token, and not allowed anyway
    assert client.get(f"/orgs/{entries.b.id}").status_code == 404


def test_web_auditor_filters_and_verifies(entries, app, client, csrf_off):
    web_login(app, client, entries.auditor)
    html = client.get("/audit/?action=org.create&since=2000-01-01&until=2999-12-31").get_data(as_text=True)
    assert "MoE" in html and "MOH renamed" not in html
    r = client.get("/audit/?since=not-a-date&org_id=x")
    assert r.status_code == 200 and "MOH renamed" in r.get_data(as_text=True)
    assert "intact: 4 entries" in client.post("/audit/verify").get_data(as_text=True)
    with db.engine().begin() as conn:
        conn.execute(text("UPDATE audit_entries SET summary = '{}' WHERE seq = 2"))
    html = client.post("/audit/verify").get_data(as_text=True)
    assert "broken at entry 2" in html


def test_web_webmaster_cannot_read(entries, app, client):
    web_login(app, client, entries.a_web)
    assert client.get("/audit/").status_code == 403


def test_api_list_scoping_filters_and_verify(entries, client):
    h = api_headers(entries.a_admin)
    body = client.get("/api/v1/audit/?total=true", headers=h).get_json()
    assert body["total"] == 2 and {i["org_id"] for i in body["items"]} == {entries.a.id, entries.a_dept.id}
    r = client.post("/api/v1/audit/verify", headers=h)
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    h = api_headers(entries.auditor)
    body = client.get("/api/v1/audit/?action=org.update&per_page=2&page=2&total=true", headers=h).get_json()
    assert (body["total"], len(body["items"]), body["page"]) == (3, 1, 2)
    assert client.get("/api/v1/audit/?since=2999-01-01T00:00:00Z&total=true", headers=h).get_json()["total"] == 0
    r = client.get("/api/v1/audit/?org_id=-5", headers=h)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    r = client.post("/api/v1/audit/verify", headers=h)
    assert r.get_json() == {"ok": True, "checked": 4, "problem": "", "seq": None}
    with db.engine().begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    body = client.post("/api/v1/audit/verify", headers=h).get_json()
    assert (body["ok"], body["seq"], body["checked"]) == (False, 3, 2)


def test_cli_list_as_ministry_admin(entries, cli):
    r = cli("audit", "list", "--as", "a_admin")
    assert r.exit_code == 0 and "2 entries" in r.output
    r = cli("audit", "list")
    assert r.exit_code == 0 and "4 entries" in r.output
    assert cli("audit", "list", "--as", "a_web").exit_code == 2
