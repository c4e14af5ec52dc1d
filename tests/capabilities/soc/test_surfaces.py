"""The feed's surfaces over the same services: DC admins manage destinations (API, web, CLI); DC
staff read health, metrics and events; ministries get 403; bad input is a 422 naming the field."""

from __future__ import annotations

import json

import pyotp
import pytest

from panel.models.tenants import Role
from tests.hosts.conftest import api_token, post_form, web_login  # noqa: F401 - fixtures shared with the hosts suite


@pytest.fixture
def people(make, dc):
    secret = pyotp.random_base32()
    admin = make.make_user(Role.ADMIN, dc, username="dcadmin", totp_secret=secret)
    auditor = make.make_user(Role.AUDITOR, dc, username="dcaudit")
    webmaster = make.make_user(Role.WEBMASTER, make.make_org(), username="webm")
    return admin, auditor, webmaster


def test_api_destinations_health_metrics(client, people, api_token, tmp_path):
    admin, auditor, webmaster = people
    ha, hr, hw = api_token(admin), api_token(auditor, scope="read"), api_token(webmaster)
    body = {"name": "agent", "transport": "file", "target": str(tmp_path / "soc.jsonl")}
    assert client.post("/api/v1/soc/destinations", headers=hw, json=body).status_code == 403
    assert client.post("/api/v1/soc/destinations", headers=hr, json=body).status_code == 403
    r = client.post("/api/v1/soc/destinations", headers=ha, json=body)
    assert r.status_code == 201, r.get_json()
    dest = r.get_json()
    assert dest["state"] == "ok" and dest["backlog"] == 1 and "auth_header" not in dest  # its own entry
    bad = client.post("/api/v1/soc/destinations", headers=ha, json={**body, "name": "x", "target": "relative/path"})
    assert bad.status_code == 422 and bad.get_json()["key"] == "soc.path_invalid"
    bad = client.post(
        "/api/v1/soc/destinations",
        headers=ha,
        json={"name": "siem", "transport": "syslog_tls", "target": "siem.example; rm -rf /:6514"},
    )
    assert bad.status_code == 422 and bad.get_json()["key"] == "soc.target_invalid"
    bad = client.post(
        "/api/v1/soc/destinations",
        headers=ha,
        json={"name": "relay", "transport": "syslog_tcp", "target": "10.0.0.5:514"},
    )
    assert bad.status_code == 422 and bad.get_json()["key"] == "soc.plain_tcp_remote"
    assert client.post("/api/v1/soc/destinations", headers=ha, json=body).status_code == 409
    listed = client.get("/api/v1/soc/destinations", headers=hr).get_json()
    assert [d["name"] for d in listed["destinations"]] == ["agent"] and listed["head"] >= 1
    assert client.get("/api/v1/soc/destinations", headers=hw).status_code == 403
    m = client.get("/api/v1/soc/metrics", headers=hr)
    assert m.status_code == 200 and m.mimetype == "text/plain"
    text = m.get_data(as_text=True)
    assert 'govhost_soc_backlog_events{destination="agent",transport="file"}' in text
    assert "govhost_audit_head_seq " in text
    ev = client.get("/api/v1/soc/events?per_page=5", headers=hr).get_json()["items"]
    assert (
        ev
        and ev[0]["event"]["code"] == "govhost.config.change"
        and ev[0]["event"]["action"] == "soc.destination_create"
    )
    assert client.get("/api/v1/soc/schema", headers=hr).get_json()["title"] == "govhost SOC event"
    r = client.post(f"/api/v1/soc/destinations/{dest['id']}/rewind", headers=ha, json={"seq": 1})
    assert r.status_code == 200 and r.get_json()["delivered_seq"] == 0
    assert client.delete(f"/api/v1/soc/destinations/{dest['id']}", headers=ha).status_code == 204


def test_web_page_in_english_and_khmer(client, people, web_login, tmp_path):
    admin, _, _ = people
    web_login(admin)
    r = post_form(client, "/soc/", {"name": "Bad Name!", "transport": "file", "target": str(tmp_path / "x.jsonl"),
                                    "batch_size": "200", "start": "now", "enabled": "y"})  # fmt: skip
    assert r.status_code == 422 and "lowercase letters" in r.get_data(as_text=True)
    r = post_form(client, "/soc/", {"name": "agent", "transport": "file", "target": str(tmp_path / "x.jsonl"),
                                    "batch_size": "200", "start": "now", "enabled": "y"})  # fmt: skip
    assert r.status_code == 302
    page = client.get("/soc/").get_data(as_text=True)
    assert "agent" in page and "Security feed" in page and "govhost.config.change" in page
    client.post("/locale", data={"locale": "km"})
    client.set_cookie("locale", "km")
    km = client.get("/soc/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert "ចរន្តព័ត៌មានសន្តិសុខ" in km


def test_web_refuses_ministries(client, people, web_login):
    _, _, webmaster = people
    web_login(webmaster)
    assert client.get("/soc/").status_code == 403


def test_cli_add_ship_events(cli, tmp_path):
    path = tmp_path / "soc.jsonl"
    r = cli("soc", "add", "agent", "--transport", "file", "--target", str(path), "--start", "all")
    assert r.exit_code == 0, r.output
    r = cli("soc", "add", "agent2", "--transport", "https_json", "--target", "ftp://x")
    assert r.exit_code == 2 and "soc.url_invalid" in r.output
    r = cli("soc", "ship", "--once")
    assert r.exit_code == 0 and "agent: " in r.output, r.output
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["event"]["sequence"] == 1 and lines[-1]["event"]["action"] == "soc.destination_create"
    r = cli("soc", "destinations")
    assert r.exit_code == 0 and "agent" in r.output
    r = cli("soc", "events", "--after", "0", "--limit", "1")
    assert r.exit_code == 0 and json.loads(r.output.splitlines()[0])["event"]["sequence"] == 1
    r = cli("soc", "schema")
    assert r.exit_code == 0 and json.loads(r.output)["title"] == "govhost SOC event"
