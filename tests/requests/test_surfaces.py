"""The request flow on each surface: web forms (CSRF on, real login), API (real tokens), CLI."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField
from wtforms.validators import InputRequired

from panel.models.requests import RequestStatus
from panel.web.forms.requests import KindForm, register_form
from tests.support.fixtures import audit_rows, csrf_from, post_form, reload, set_limit

S = RequestStatus
PROBLEM = "application/problem+json"


@register_form("test.widget")
class WidgetForm(KindForm):
    count = IntegerField(_l("Count"), validators=[InputRequired()])

    def payload(self) -> dict:
        return {"count": self.count.data}


def _id_from(location: str) -> int:
    return int(re.search(r"/requests/(\d+)", location).group(1))


# ---- web ----------------------------------------------------------------------------------------


def test_web_quota_change_flow(login_as, min_a, oa_a, op1):
    ministry = login_as(oa_a)
    r = post_form(
        ministry,
        "/requests/new/quota.change",
        {"org_id": min_a.id, "resource": "sites", "new_limit": "25", "reason": "new portal"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    rid = _id_from(r.headers["Location"])
    page = ministry.get(f"/requests/{rid}").get_data(as_text=True)
    assert "new portal" in page and "submitted" in page

    staff = login_as(op1)
    assert f"/requests/{rid}" in staff.get("/requests/?view=queue").get_data(as_text=True)
    detail = staff.get(f"/requests/{rid}")
    assert detail.status_code == 200 and "Approve" in detail.get_data(as_text=True)
    r = post_form(staff, f"/requests/{rid}/approve", {"comment": "fine"}, page=f"/requests/{rid}")
    assert r.status_code == 302
    assert reload(rid).status == S.DONE
    quotas_page = ministry.get(f"/quotas/{min_a.id}").get_data(as_text=True)
    assert "new portal" in quotas_page and "op1" in quotas_page and "oa_a" in quotas_page
    assert "Notifications (2)" in ministry.get("/notifications/").get_data(as_text=True)


def test_web_over_budget_form_message_with_numbers(login_as, min_a, wm_a):
    set_limit(min_a.id, "sites", 5)
    c = login_as(wm_a)
    r = post_form(c, "/requests/new/test.widget", {"org_id": min_a.id, "count": "9"})
    assert r.status_code == 409
    assert "quota.sites: used 0, asked 9, limit 5." in r.get_data(as_text=True)


def test_web_self_approval_and_other_ministry(login_as, make, min_a, wm_a, wm_b, op1):
    from panel.services import requests as svc

    req = svc.request_create(make.actor_of(op1), kind="test.widget", org_id=min_a.id, payload={"count": 1})
    staff = login_as(op1)
    r = post_form(staff, f"/requests/{req.id}/approve", {"comment": ""}, page=f"/requests/{req.id}")
    assert r.status_code == 403 and "Nobody decides on their own request." in r.get_data(as_text=True)
    other = login_as(wm_b)
    assert other.get(f"/requests/{req.id}").status_code == 404
    token = csrf_from(other.get("/requests/").get_data(as_text=True))
    for action in ("approve", "reject", "cancel", "retry", "comments", "submit"):
        r = other.post(f"/requests/{req.id}/{action}", data={"csrf_token": token, "comment": "x", "body": "x"})
        assert r.status_code == 404, action
    assert other.get(f"/quotas/{min_a.id}").status_code == 404
    assert f"/requests/{req.id}" not in other.get("/requests/").get_data(as_text=True)


def test_web_comment_and_cancel_are_audited(login_as, make, min_a, wm_a):
    from panel.services import requests as svc

    req = svc.request_create(make.actor_of(wm_a), kind="test.widget", org_id=min_a.id, payload={"count": 1})
    c = login_as(wm_a)
    assert (
        post_form(c, f"/requests/{req.id}/comments", {"body": "{{ 7*7 }}"}, page=f"/requests/{req.id}").status_code
        == 302
    )
    page = c.get(f"/requests/{req.id}").get_data(as_text=True)
    assert "{{ 7*7 }}" in page and ">49<" not in page
    assert post_form(c, f"/requests/{req.id}/cancel", {}, page=f"/requests/{req.id}").status_code == 302
    assert reload(req.id).status == S.CANCELLED
    assert [r.surface for r in audit_rows("request.")][-2:] == ["web", "web"]


def test_web_policies_page_admin_sets_four_eyes(login_as, admin, op1):
    c = login_as(admin)
    assert "test.widget" in c.get("/requests/policies").get_data(as_text=True)
    r = post_form(c, "/requests/policies", {"kind": "test.widget", "mode": "two"}, page="/requests/policies")
    assert r.status_code == 302
    assert audit_rows("policy.set")[-1].actor_name == "dcadmin"
    r = post_form(
        login_as(op1), "/requests/policies", {"kind": "test.widget", "mode": "auto"}, page="/requests/policies"
    )
    assert r.status_code == 403


# ---- API ----------------------------------------------------------------------------------------


def test_api_flow_over_budget_and_isolation(client, token_for, min_a, oa_a, wm_a, wm_b, op1):
    a_id = min_a.id
    set_limit(a_id, "sites", 5)
    r = client.post(
        "/api/v1/requests/",
        json={"kind": "test.widget", "org_id": a_id, "payload": {"count": 6}},
        headers=token_for(wm_a),
    )
    assert r.status_code == 409 and r.mimetype == PROBLEM
    body = r.get_json()
    assert body["key"] == "quota.sites" and body["params"] == {
        "resource": "quota.sites",
        "used": 0,
        "asked": 6,
        "limit": 5,
    }
    r = client.post(
        "/api/v1/requests/",
        json={
            "kind": "quota.change",
            "org_id": a_id,
            "payload": {"resource": "sites", "new_limit": 8, "reason": "more"},
        },
        headers=token_for(oa_a),
    )
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["id"]
    assert "secrets" not in r.get_json()
    b = token_for(wm_b)
    for method, url in [
        ("get", f"/api/v1/requests/{rid}"),
        ("get", f"/api/v1/requests/{rid}/preview"),
        ("post", f"/api/v1/requests/{rid}/approve"),
        ("post", f"/api/v1/requests/{rid}/cancel"),
        ("post", f"/api/v1/requests/{rid}/retry"),
        ("get", f"/api/v1/quotas/{a_id}"),
    ]:
        r = getattr(client, method)(url, headers=b, json={} if method == "post" else None)
        assert r.status_code == 404 and r.mimetype == PROBLEM, url
    assert client.get("/api/v1/requests/?total=true", headers=b).get_json()["total"] == 0
    staff = token_for(op1)
    preview = client.get(f"/api/v1/requests/{rid}/preview", headers=staff).get_json()
    assert preview["mode"] == "one" and preview["request"]["payload"]["new_limit"] == 8
    queue = client.get("/api/v1/requests/?status=submitted", headers=staff).get_json()
    assert [i["id"] for i in queue["items"]] == [rid]
    r = client.post(f"/api/v1/requests/{rid}/approve", json={"comment": "ok"}, headers=staff)
    assert r.status_code == 200 and r.get_json()["status"] == "done"
    quotas = client.get(f"/api/v1/quotas/{a_id}", headers=token_for(wm_a)).get_json()["quotas"]
    assert {q["resource"]: q["limit"] for q in quotas}["sites"] == 8
    notes = client.get("/api/v1/notifications/", headers=token_for(oa_a)).get_json()
    assert [n["kind"] for n in notes["items"]] == ["request.done", "request.approved"]
    assert notes["unread_total"] == 2


def test_api_self_approval_comment_and_policies(client, token_for, make, min_a, wm_a, op1, admin):
    from panel.services import requests as svc

    a_id = min_a.id
    rid = svc.request_create(make.actor_of(op1), kind="test.widget", org_id=a_id, payload={"count": 1}).id
    r = client.post(f"/api/v1/requests/{rid}/approve", json={}, headers=token_for(op1))
    assert r.status_code == 403 and r.get_json()["key"] == "request.self_approval"
    r = client.post(f"/api/v1/requests/{rid}/comments", json={"body": "ok\nthanks"}, headers=token_for(wm_a))
    assert r.status_code == 201 and r.get_json()["comments"][0]["body"] == "ok\nthanks"
    r = client.put("/api/v1/policies/", json={"kind": "test.widget", "mode": "two"}, headers=token_for(op1))
    assert r.status_code == 403
    r = client.put("/api/v1/policies/", json={"kind": "test.widget", "mode": "two"}, headers=token_for(admin))
    assert r.status_code == 200 and r.get_json()["mode"] == "two"
    r = client.put("/api/v1/policies/", json={"kind": "no.such", "mode": "two"}, headers=token_for(admin))
    assert r.status_code == 404 and r.get_json()["key"] == "request.kind_unknown"
    r = client.post(
        "/api/v1/requests/", json={"kind": "test.widget", "org_id": a_id, "payload": "; id"}, headers=token_for(wm_a)
    )
    assert r.status_code == 422 and r.mimetype == PROBLEM


# ---- CLI ----------------------------------------------------------------------------------------


def refused(r, key: str, text: str) -> bool:
    """Exit 2 with the reason. (panel.cli.common prints the key in [brackets], which rich takes for
    markup and drops until the lead escapes it, so the message text is checked too.)"""
    return r.exit_code == 2 and (key in r.output or text in r.output)


def test_cli_flow_over_budget_and_isolation(cli, make, min_a, min_b, wm_a, wm_b, oa_a, op1):
    set_limit(min_a.id, "sites", 5)
    r = cli("requests", "create", "test.widget", "--org", "min-a", "--set", "count=9", "--as", "wm_a")
    assert r.exit_code == 2
    assert "quota.sites" in r.output and "used 0, asked 9, limit 5" in r.output
    r = cli(
        "requests",
        "create",
        "quota.change",
        "--org",
        "min-a",
        "--set",
        "resource=sites",
        "--set",
        "new_limit=12",
        "--set",
        "reason=more sites",
        "--as",
        "oa_a",
    )
    assert r.exit_code == 0, r.output
    rid = int(re.search(r"request #(\d+)", r.output).group(1))
    for args in (("show", str(rid)), ("approve", str(rid)), ("cancel", str(rid)), ("comment", str(rid), "hi")):
        assert refused(cli("requests", *args, "--as", "wm_b"), "request.not_found", "Not found."), args
    r = cli("requests", "approve", str(rid))
    assert refused(r, "request.approver_unknown", "A decision needs a named person")
    r = cli("requests", "show", str(rid), "--as", "op1")
    assert r.exit_code == 0 and "approval: one (0 of 1)" in r.output
    r = cli("requests", "approve", str(rid), "--comment", "ok", "--as", "op1")
    assert r.exit_code == 0 and "done" in r.output
    r = cli("quotas", "show", "min-a", "--history")
    assert r.exit_code == 0 and "5 -> 12 asked by oa_a, approved by op1" in r.output
    r = cli("quotas", "show", "min-a", "--as", "wm_b")
    assert refused(r, "organization.not_found", "Not found.")
    r = cli("quotas", "set", "min-b", "sites", "40")
    assert r.exit_code == 0 and "sites: 5 -> 40" in r.output
    assert cli("policies", "set", "test.widget", "two").exit_code == 0
    assert "test.widget" in cli("policies", "list").output
    assert [e.surface for e in audit_rows("request.")] == ["cli", "cli"]
    r = cli("requests", "list", "--as", "wm_a")
    assert r.exit_code == 0 and "quota.change" in r.output


def test_cli_reject_cancel_retry_refusals(cli, make, min_a, wm_a, op1):
    from panel.services import requests as svc

    req = svc.request_create(make.actor_of(wm_a), kind="test.widget", org_id=min_a.id, payload={"count": 1})
    r = cli("requests", "retry", str(req.id), "--as", "wm_a")
    assert refused(r, "request.invalid_transition", "cannot move from submitted to retried")
    r = cli("requests", "reject", str(req.id), "--comment", "no", "--as", "op1")
    assert r.exit_code == 0 and "rejected" in r.output
    r = cli("requests", "cancel", str(req.id), "--as", "wm_a")
    assert refused(r, "request.invalid_transition", "cannot move from rejected to cancelled")
    r = cli("requests", "create", "test.widget", "--org", "min-a", "--payload", "[1]", "--as", "wm_a")
    assert refused(r, "request.payload_invalid", "The payload must be an object of fields.")


def test_web_pages_render_for_staff_and_ministry(login_as, make, dc, min_a, oa_a, op1, op2):
    from tests.requests.test_services import make_host

    host_id = make_host().id
    a_id = min_a.id
    ministry, staff = login_as(oa_a), login_as(op1)
    for url in (
        "/requests/",
        "/requests/?view=mine",
        "/requests/?view=all&status=done&kind=test.widget",
        "/requests/new",
        "/requests/new/quota.change",
        "/quotas/",
        f"/quotas/{a_id}",
        "/notifications/",
    ):
        assert ministry.get(url, follow_redirects=True).status_code == 200, url
    assert ministry.get("/requests/new/host.ping").status_code == 404
    assert ministry.get("/requests/policies").status_code == 404
    for url in (
        "/requests/",
        "/requests/new",
        "/requests/new/host.ping",
        "/quotas/",
        f"/quotas/{a_id}",
        "/requests/policies",
        "/",
        "/notifications/",
    ):
        assert staff.get(url).status_code == 200, url
    r = post_form(staff, "/requests/new/host.ping", {"org_id": "0", "host_id": str(host_id)})
    assert r.status_code == 302, r.get_data(as_text=True)
    rid = _id_from(r.headers["Location"])
    assert reload(rid).org_id == dc.id and reload(rid).target_host_id == host_id
    page = login_as(op2).get(f"/requests/{rid}").get_data(as_text=True)
    assert "web1" in page
    assert reload(rid).status == S.PROVISIONING  # host.ping is `auto` by default: its job is queued
    assert "Notifications (1)" in staff.get("/").get_data(as_text=True)  # op1: "approved"
