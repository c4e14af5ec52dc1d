"""The bulk API: plan (text or base64 bytes), every row error in the body, submit, approve through
the request, report as JSON and CSV, one-time passwords, isolation, read tokens, limits in the schema."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.support.fixtures import token_for  # noqa: F401  (fixture)

SITES = "fqdn,plan\nwww.a.gov.test,basic\n"


def test_plan_submit_approve_report(client, token_for, world):
    ha, hb, hop = token_for(world.wa_user), token_for(world.wb_user), token_for(world.op_user)
    boxes = base64.b64encode("address,display_name\r\nsok@a.gov.test,សុខ\r\n".encode("utf-16")).decode()
    r = client.post(
        "/api/v1/bulk/plans",
        json={
            "org_id": world.a.id,
            "files": [{"name": "sites.csv", "content": SITES}, {"name": "mailboxes.csv", "content_base64": boxes}],
        },
        headers=ha,
    )
    assert r.status_code == 201, r.json
    plan = r.json["plan"]
    assert plan["counts"] == {"create": 2} and plan["passwords_waiting"] and r.json["submittable"]
    assert client.get(f"/api/v1/bulk/plans/{plan['id']}", headers=hb).status_code == 404
    pw = client.post(f"/api/v1/bulk/plans/{plan['id']}/passwords", headers=ha)
    assert pw.status_code == 200 and list(pw.json["passwords"]) == ["sok@a.gov.test"]
    assert client.post(f"/api/v1/bulk/plans/{plan['id']}/passwords", headers=ha).status_code == 409
    sub = client.post(f"/api/v1/bulk/plans/{plan['id']}/submit", headers=ha)
    assert sub.status_code == 201 and sub.json["plan"]["request_id"]
    rid = sub.json["plan"]["request_id"]
    assert client.post(f"/api/v1/requests/{rid}/approve", json={}, headers=hop).status_code == 200
    rep = client.get(f"/api/v1/bulk/plans/{plan['id']}/report", headers=ha)
    assert [(x["key"], x["status"]) for x in rep.json["rows"]] == [
        ("www.a.gov.test", "running"),
        ("sok@a.gov.test", "running"),
    ]
    csv_rep = client.get(f"/api/v1/bulk/plans/{plan['id']}/report?format=csv", headers=ha)
    assert csv_rep.mimetype == "text/csv" and csv_rep.text.startswith("row,file,line,kind,key,action,status")
    assert pw.json["passwords"]["sok@a.gov.test"] not in csv_rep.text + rep.text


def test_bad_files_are_problems_and_row_errors_are_listed(client, token_for, world):
    ha = token_for(world.wa_user)
    bad = client.post(
        "/api/v1/bulk/plans",
        json={"org_id": world.a.id, "files": [{"name": "sites.csv", "content": "fqdn\tplan\nx\tbasic\n"}]},
        headers=ha,
    )
    assert (
        bad.status_code == 422 and bad.mimetype == "application/problem+json" and bad.json["key"] == "table.delimiter"
    )
    rows = client.post(
        "/api/v1/bulk/plans",
        json={"org_id": world.a.id, "files": [{"name": "sites.csv", "content": "fqdn,plan,tls\nbad name,,maybe\n"}]},
        headers=ha,
    )
    assert rows.status_code == 201 and not rows.json["submittable"]
    assert {e["column"] for e in rows.json["rows"][0]["errors"]} == {"fqdn", "plan", "tls"}
    assert rows.json["rows"][0]["line"] == 2
    none = client.post("/api/v1/bulk/plans", json={"org_id": world.a.id, "files": []}, headers=ha)
    assert none.status_code == 422
    other = client.post(
        "/api/v1/bulk/plans",
        json={"org_id": world.b.id, "files": [{"name": "sites.csv", "content": SITES}]},
        headers=ha,
    )
    assert other.status_code == 404
    read = client.post(
        "/api/v1/bulk/plans",
        json={"org_id": world.a.id, "files": [{"name": "sites.csv", "content": SITES}]},
        headers=token_for(world.wa_user, "read"),
    )
    assert read.status_code == 403


def test_templates_schema_and_limits_in_openapi(client, token_for, world):
    ha = token_for(world.wa_user)
    t = client.get("/api/v1/bulk/templates/mailboxes", headers=ha)
    assert t.status_code == 200 and t.data.startswith("\ufeffaddress,".encode())
    assert client.get("/api/v1/bulk/templates/nope", headers=ha).status_code == 404
    assert "sites" in client.get("/api/v1/bulk/schema", headers=ha).json["properties"]
    spec = client.get("/api/v1/openapi.json").json
    files = spec["components"]["schemas"]["BulkPlanCreate"]["properties"]["files"]
    assert files["maxItems"] == 20 and files["minItems"] == 1
    assert spec["components"]["schemas"]["BulkFile"]["properties"]["content"]["maxLength"] == 8 * 1024 * 1024


def test_excel_unicode_text_as_base64(client, token_for, world):
    """Issue 18: Excel's "Unicode text" (UTF-16 with its mark, tabs) plans as its CSV would."""
    data = (Path(__file__).parent / "files" / "mailboxes-unicode.txt").read_bytes()
    files = [{"name": "mailboxes-unicode.txt", "content_base64": base64.b64encode(data).decode()}]
    r = client.post("/api/v1/bulk/plans", json={"org_id": world.a.id, "files": files}, headers=token_for(world.wa_user))
    assert r.status_code == 201, r.json
    assert r.json["plan"]["counts"] == {"create": 2} and r.json["submittable"]
    assert [(x["key"], x["line"]) for x in r.json["rows"]] == [("sok@a.gov.test", 2), ("dara@a.gov.test", 3)]
