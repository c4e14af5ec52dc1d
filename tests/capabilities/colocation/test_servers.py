"""Arriving servers on every surface: DC staff record them and move them along (received -> racked ->
cabled -> powered), bad input gets a clear refusal before anything reaches the network, a ministry
sees its own servers and nobody else's. (The hand-over itself, which reads a real host's key, is
tests/capabilities/colocation/test_enrolment_lab.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from panel import db
from panel.capabilities.colocation import servers as srv
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import ColoServer
from panel.errors import Conflict, Invalid
from panel.services import requests as req_svc
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login

FP = "SHA256:" + "Ab1+/" * 8 + "xyz"  # the form of a fingerprint (43 characters after SHA256:)


def _granted(colo, u_count=2):
    req = svc.colocation_request(colo.actor(colo.u.a), org_id=colo.a.id, u_count=u_count, max_w=300, ipv4=1)
    req_svc.request_approve(colo.actor(colo.u.op1), req.id)
    return svc.reservation_list(colo.actor(colo.u.a)).items[0]


def _count() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(ColoServer))


def test_rules_and_refusals(colo):
    res = _granted(colo, u_count=1)
    op = colo.actor(colo.u.op1)
    cases = (
        ({"name": "Bad Name"}, Invalid, "host.name_invalid"),
        ({"address": "10.85.0.251"}, Invalid, "colocation.address_not_reserved"),
        ({"address": "not-an-ip"}, Invalid, "host.address_invalid"),
        ({"fingerprint": "MD5:00:11"}, Invalid, "colocation.fingerprint_invalid"),
        ({"serial": "x; rm -rf /"}, Invalid, "colocation.name_invalid"),
    )
    for change, error, key in cases:
        args = {"reservation_id": res.id, "name": "srv1", "address": "10.85.0.250", "fingerprint": FP, **change}
        with pytest.raises(error) as e:
            srv.server_receive(op, **args)
        assert e.value.key == key, change
    assert _count() == 0
    with pytest.raises(Exception) as e:
        srv.server_receive(colo.actor(colo.u.a), reservation_id=res.id, name="srv1", address="10.85.0.250")
    assert e.value.key == "auth.forbidden"  # a ministry does not receive servers at the dock
    x = srv.server_receive(op, reservation_id=res.id, name="srv1", address="10.85.0.250")
    with pytest.raises(Conflict) as e:  # one unit, one server
        srv.server_receive(op, reservation_id=res.id, name="srv2", address="10.85.0.250")
    assert e.value.key == "colocation.reservation_full"
    # hand-over refusals that need no network: not powered, roles for a customer server, no fingerprint
    with pytest.raises(Conflict) as e:
        srv.server_hand_over(op, server_id=x.id, management="customer")
    assert e.value.key == "colocation.server_not_powered"
    for step in ("racked", "cabled", "powered"):
        srv.server_advance(op, server_id=x.id, status=step)
    with pytest.raises(Invalid) as e:
        srv.server_advance(op, server_id=x.id, status="handed_over")
    assert e.value.key == "colocation.server_status_invalid"
    for kwargs, key in (
        ({"management": "customer", "roles": ["web"]}, "colocation.customer_no_roles"),
        ({"management": "hosting"}, "colocation.hosting_needs_roles"),
        ({"management": "rented"}, "colocation.management_invalid"),
        ({"management": "hosting", "roles": ["toaster"]}, "host.role_invalid"),
        ({"management": "customer"}, "colocation.fingerprint_missing"),
        ({"management": "customer", "fingerprint": "nope"}, "colocation.fingerprint_invalid"),
    ):
        with pytest.raises(Invalid) as e:
            srv.server_hand_over(op, server_id=x.id, **kwargs)
        assert e.value.key == key, kwargs
    assert srv.server_get(op, x.id).status.value == "powered"
    assert srv.next_step(srv.server_get(op, x.id)) is None


def test_api(client, colo, api_token):
    res = _granted(colo)
    ha, hb, hop = api_token(colo.u.a), api_token(colo.u.b), api_token(colo.u.op1)
    body = {"reservation_id": res.id, "name": "db1", "address": "10.85.0.250", "serial": "SN-9", "fingerprint": FP}
    r = client.post("/api/v1/colocation/servers", json=body, headers=ha)
    assert r.status_code == 403
    r = client.post("/api/v1/colocation/servers", json=body, headers=hb)
    assert r.status_code == 404  # B: A's reservation does not exist
    r = client.post("/api/v1/colocation/servers", json={**body, "fingerprint": "x"}, headers=hop)
    assert r.status_code == 422 and r.get_json()["key"] == "colocation.fingerprint_invalid"
    r = client.post("/api/v1/colocation/servers", json=body, headers=hop)
    assert r.status_code == 201, r.get_json()
    sid = r.get_json()["id"]
    assert r.get_json()["status"] == "received" and r.get_json()["management"] is None
    r = client.post(f"/api/v1/colocation/servers/{sid}/advance", json={"status": "cabled"}, headers=hop)
    assert r.status_code == 409 and r.get_json()["key"] == "request.invalid_transition"
    r = client.post(f"/api/v1/colocation/servers/{sid}/advance", json={"status": "racked"}, headers=hop)
    assert r.status_code == 200 and r.get_json()["status"] == "racked"
    r = client.post(f"/api/v1/colocation/servers/{sid}/hand_over", json={"management": "customer"}, headers=hop)
    assert r.status_code == 409 and r.get_json()["key"] == "colocation.server_not_powered"
    assert client.get("/api/v1/colocation/servers", headers=ha).get_json()["total"] == 1
    assert client.get(f"/api/v1/colocation/servers/{sid}", headers=ha).get_json()["serial"] == "SN-9"
    assert client.get("/api/v1/colocation/servers", headers=hb).get_json()["total"] == 0
    for method, url, payload in (
        ("get", f"/api/v1/colocation/servers/{sid}", None),
        ("post", f"/api/v1/colocation/servers/{sid}/advance", {"status": "cabled"}),
        ("post", f"/api/v1/colocation/servers/{sid}/hand_over", {"management": "customer"}),
    ):
        resp = getattr(client, method)(url, headers=hb, json=payload)
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json", url
    spec = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert spec["AdvanceIn"]["properties"]["status"]["enum"] == ["racked", "cabled", "powered"]
    assert spec["ServerIn"]["properties"]["name"]["maxLength"] == 63


def test_web(app, client, csrf_off, colo):
    res = _granted(colo)
    web_login(app, client, colo.u.op1)
    page = client.get(f"/colocation/reservations/{res.id}").get_data(as_text=True)
    assert "Record an arriving server" in page
    bad = client.post(f"/colocation/reservations/{res.id}/servers", data={"name": "web1", "address": "10.85.0.9"})
    assert bad.status_code == 422 and "is not one of the reservation&#39;s addresses" in bad.get_data(as_text=True)
    r = client.post(f"/colocation/reservations/{res.id}/servers", data={"name": "web1", "address": "10.85.0.250"})
    assert r.status_code == 302
    sid = int(r.headers["Location"].rsplit("/", 1)[1])
    for step in ("racked", "cabled", "powered"):
        page = client.get(f"/colocation/servers/{sid}").get_data(as_text=True)
        assert f"/colocation/servers/{sid}/advance/{step}" in page
        assert client.post(f"/colocation/servers/{sid}/advance/{step}").status_code == 302
    page = client.get(f"/colocation/servers/{sid}").get_data(as_text=True)
    assert "Pin the key and hand over" in page and "powered" in page
    bad = client.post(f"/colocation/servers/{sid}/hand_over", data={"management": "customer"})
    assert bad.status_code == 422 and "the key is pinned only if it matches" in bad.get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "km"
    assert "បានបើកភ្លើង" in client.get(f"/colocation/servers/{sid}").get_data(as_text=True)
    # the ministry sees it, without the staff's buttons; another ministry gets 404
    client.get("/logout")
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE")
    web_login(app, client, colo.u.a)
    page = client.get("/colocation/servers").get_data(as_text=True)
    assert f"/colocation/servers/{sid}" in page and "web1" in page
    assert "Pin the key" not in client.get(f"/colocation/servers/{sid}").get_data(as_text=True)
    client.get("/logout")
    web_login(app, client, colo.u.b)
    assert client.get(f"/colocation/servers/{sid}").status_code == 404
    assert "web1" not in client.get("/colocation/servers").get_data(as_text=True)


def test_cli(cli, colo):
    res = _granted(colo)
    args = ("colocation", "server-receive", str(res.id), "--name", "app1", "--address", "10.85.0.250")
    r = cli(*args, "--as", "colo_a")
    assert r.exit_code == 2 and "auth.forbidden" in cli_text(r)
    r = cli(*args, "--fingerprint", "bad")
    assert r.exit_code == 2 and "colocation.fingerprint_invalid" in cli_text(r)
    r = cli(*args, "--fingerprint", FP, "--as", "colo_op1")
    assert r.exit_code == 0 and "app1: received" in cli_text(r), cli_text(r)
    sid = srv.server_list(colo.actor(colo.u.op1)).items[0].id
    assert "racked" in cli_text(cli("colocation", "server-advance", str(sid), "racked", "--as", "colo_op1"))
    r = cli("colocation", "server-hand-over", str(sid), "--management", "customer", "--as", "colo_op1")
    assert r.exit_code == 2 and "colocation.server_not_powered" in cli_text(r)
    assert "app1" in cli_text(cli("colocation", "servers", "--as", "colo_a"))
    assert "0 servers" in cli_text(cli("colocation", "servers", "--as", "colo_b"))
    r = cli("colocation", "server-advance", str(sid), "cabled", "--as", "colo_b")
    assert r.exit_code == 2 and "colo_server.not_found" in cli_text(r)
