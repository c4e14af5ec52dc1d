"""Web (km/en), API and CLI over the same service functions: requests, reservations, elevations,
the floor; bad input gets a clear error on each surface and changes nothing; a ministry never sees
or touches another's reservations or racks."""

from __future__ import annotations

from sqlalchemy import func, select

from panel import db
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import ColoSite, Reservation, UnitClaim
from panel.models.requests import Request
from panel.services import requests as req_svc
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login


def _granted(colo, who="a", **spec):
    spec.setdefault("u_count", 2)
    spec.setdefault("max_w", 300)
    org = getattr(colo, who)
    req = svc.colocation_request(colo.actor(getattr(colo.u, who)), org_id=org.id, **spec)
    req_svc.request_approve(colo.actor(colo.u.op1), req.id)
    return svc.reservation_list(colo.actor(getattr(colo.u, who))).items[0]


def _count(model) -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_web_request_reservation_and_elevation(app, client, csrf_off, colo):
    web_login(app, client, colo.u.a)
    page = client.get("/colocation/")
    assert page.status_code == 200 and "Ask for rack space" in page.get_data(as_text=True)
    form = {
        "org_id": colo.a.id,
        "site_id": 0,
        "label": "web1",
        "u_count": 2,
        "max_w": 400,
        "typical_w": 200,
        "psus": 2,
        "ab_feeds": "y",
        "ports": 2,
        "port_speed_mbps": 1000,
        "port_medium": "copper",
        "ipv4": 1,
    }
    r = client.post("/colocation/request", data=form)
    assert r.status_code == 302 and "/requests/" in r.headers["Location"]
    # bad input: a precise message beside the field, nothing filed
    before = _count(Request)
    bad = client.post("/colocation/request", data={**form, "u_count": 11})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 409 and "No rack has 11 contiguous free units" in text
    bad = client.post("/colocation/request", data={**form, "label": "<script>x</script>"})
    assert bad.status_code == 422 and "Use 1 to 100 letters" in bad.get_data(as_text=True)
    bad = client.post("/colocation/request", data={**form, "u_count": "lots"})
    assert bad.status_code == 422
    assert _count(Request) == before
    with db.unit_of_work() as s:
        req_id = s.scalar(select(func.max(Request.id)))
    req_svc.request_approve(colo.actor(colo.u.op1), req_id)
    res = svc.reservation_list(colo.actor(colo.u.a)).items[0]
    page = client.get("/colocation/").get_data(as_text=True)
    assert f"/colocation/reservations/{res.id}" in page and "U1–U2" in page
    detail = client.get(f"/colocation/reservations/{res.id}").get_data(as_text=True)
    assert "10.85.0.250" in detail and "SW1:1" in detail and "Release" not in detail
    svg = client.get(f"/colocation/racks/{res.rack_id}").get_data(as_text=True)
    assert '<svg id="elevation"' in svg and "Ministry A: web1" in svg
    # in Khmer
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "km"
    km = client.get("/colocation/").get_data(as_text=True)
    assert "ស្នើសុំកន្លែងក្នុងទូ" in km and "ការកក់" in km
    bad = client.post("/colocation/request", data={**form, "u_count": 11})
    assert "គ្មានទូណាមួយមានឯកតាទំនេរជាប់គ្នា 11" in bad.get_data(as_text=True)


def test_web_isolation_and_floor_is_staff_only(app, client, csrf_off, colo):
    res = _granted(colo, "b", label="secret-db")
    web_login(app, client, colo.u.a)
    assert client.get(f"/colocation/reservations/{res.id}").status_code == 404
    assert client.get(f"/colocation/racks/{res.rack_id}").status_code == 404
    assert client.post(f"/colocation/reservations/{res.id}/release").status_code == 404
    assert "secret-db" not in client.get("/colocation/").get_data(as_text=True)
    assert client.get("/colocation/floor").status_code == 403
    assert client.post("/colocation/floor/site", data={"site-name": "X"}).status_code == 403
    assert _count(ColoSite) == 1


def test_web_floor_edit_by_admin(app, client, csrf_off, colo):
    web_login(app, client, colo.u.admin)
    page = client.get("/colocation/floor").get_data(as_text=True)
    assert "PP1" in page and "2.94" in page and "fd00:85::/120" in page
    r = client.post("/colocation/floor/site", data={"site-name": "DC2", "site-description": "backup"})
    assert r.status_code == 302
    bad = client.post(
        "/colocation/floor/prefix", data={"prefix-site_id": colo.floor.site.id, "prefix-cidr": "10.85.0.0/24"}
    )
    assert bad.status_code == 409 and "overlaps" in bad.get_data(as_text=True)
    bad = client.post("/colocation/floor/room", data={"room-site_id": colo.floor.site.id, "room-name": "Hall A"})
    assert bad.status_code == 409 and "Hall A exists already." in bad.get_data(as_text=True)
    bad = client.post("/colocation/floor/rack", data={"rack-room_id": colo.floor.room.id, "rack-name": "R9",
                                                       "rack-height_u": 99, "rack-depth_mm": 1000,
                                                       "rack-feed_a_id": 0, "rack-feed_b_id": 0})  # fmt: skip
    assert bad.status_code == 422
    res = _granted(colo)
    r = client.post(f"/colocation/reservations/{res.id}/release")
    assert r.status_code == 302 and _count(UnitClaim) == 0


def test_api(client, colo, api_token):
    ha, hb, hop = api_token(colo.u.a), api_token(colo.u.b), api_token(colo.u.admin)
    body = {"org_id": colo.a.id, "u_count": 2, "max_w": 300, "ports": 1, "ipv6": 2, "label": "app"}
    r = client.post("/api/v1/colocation/requests", json=body, headers=ha)
    assert r.status_code == 202, r.get_json()
    req_svc.request_approve(colo.actor(colo.u.op1), r.get_json()["request_id"])
    page = client.get("/api/v1/colocation/reservations", headers=ha).get_json()
    assert page["total"] == 1
    rid = page["items"][0]["id"]
    detail = client.get(f"/api/v1/colocation/reservations/{rid}", headers=ha).get_json()
    assert detail["addresses"] == ["fd00:85::2", "fd00:85::3"] and detail["reservation"]["u_count"] == 2
    rack = client.get(f"/api/v1/colocation/racks/{detail['reservation']['rack_id']}", headers=ha).get_json()
    assert rack["slots"][0]["label"] == "Ministry A: app" and rack["free_u"] == 8
    # B: nothing of A's exists
    assert client.get("/api/v1/colocation/reservations", headers=hb).get_json()["total"] == 0
    for method, url in (
        ("get", f"/api/v1/colocation/reservations/{rid}"),
        ("post", f"/api/v1/colocation/reservations/{rid}/release"),
        ("get", f"/api/v1/colocation/racks/{detail['reservation']['rack_id']}"),
    ):
        resp = getattr(client, method)(url, headers=hb)
        assert resp.status_code == 404 and resp.mimetype == "application/problem+json", url
    # B may not file for A
    r = client.post("/api/v1/colocation/requests", json={**body, "org_id": colo.a.id}, headers=hb)
    assert r.status_code == 404
    # bad input: problem+json with the field; capacity refusal with its key
    r = client.post("/api/v1/colocation/requests", json={**body, "u_count": 0}, headers=ha)
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    r = client.post("/api/v1/colocation/requests", json={**body, "ipv4": 9}, headers=ha)
    assert r.status_code == 409 and r.get_json()["key"] == "colocation.no_addresses"
    r = client.post("/api/v1/colocation/requests", json={**body, "typical_w": 900}, headers=ha)
    assert r.status_code == 422
    # the floor: staff read it, DC admins add to it, ministries do neither
    assert client.get("/api/v1/colocation/floor", headers=ha).status_code == 403
    floor = client.get("/api/v1/colocation/floor", headers=hop).get_json()
    assert floor["racks"]["total"] == 2 and floor["feeds"]["items"][0]["available_w"] == 2944 - 300
    r = client.post("/api/v1/colocation/rooms", json={"site_id": colo.floor.site.id, "name": "Cage 7"}, headers=hop)
    assert r.status_code == 201 and r.get_json()["id"]
    r = client.post("/api/v1/colocation/rooms", json={"site_id": colo.floor.site.id, "name": "Cage 8"}, headers=ha)
    assert r.status_code == 403
    r = client.post("/api/v1/colocation/feeds", json={"panel_id": 1, "name": "X", "voltage": 99}, headers=hop)
    assert r.status_code == 422
    spec = client.get("/api/v1/openapi.json").get_json()
    schema = spec["components"]["schemas"]["RequestIn"]["properties"]["u_count"]
    assert schema["minimum"] == 1 and schema["maximum"] == 60


def test_cli(cli, colo):
    r = cli("colocation", "request", "--org", str(colo.a.id), "--units", "2", "--max-w", "300", "--as", "colo_a")
    assert r.exit_code == 0, cli_text(r)
    req_id = int(cli_text(r).split()[1].rstrip(":"))
    req_svc.request_approve(colo.actor(colo.u.op1), req_id)
    out = cli_text(cli("colocation", "reservations", "--as", "colo_a"))
    assert "U1-U2" in out
    rid = svc.reservation_list(colo.actor(colo.u.a)).items[0].id
    r = cli("colocation", "reservation", str(rid), "--as", "colo_b")
    assert r.exit_code == 2 and "colo_reservation.not_found" in cli_text(r)
    r = cli("colocation", "rack", str(colo.floor.racks[0]), "--as", "colo_b")
    assert r.exit_code == 2
    r = cli("colocation", "release", str(rid), "--as", "colo_b")
    assert r.exit_code == 2
    r = cli("colocation", "request", "--org", str(colo.a.id), "--units", "20", "--max-w", "300", "--as", "colo_a")
    assert r.exit_code == 2 and "No rack has 20 contiguous free units" in cli_text(r)
    r = cli("colocation", "add-prefix", str(colo.floor.site.id), "10.85.1.0/33")
    assert r.exit_code == 2 and "colocation.prefix_invalid" in cli_text(r)
    out = cli_text(cli("colocation", "rack", str(colo.floor.racks[0])))
    assert "U 1 Ministry A" in out and "U10 ." in out
    assert cli("colocation", "floor").exit_code == 0
    assert cli("colocation", "release", str(rid)).exit_code == 0
    with db.unit_of_work() as s:
        assert s.get(Reservation, rid).status.value == "released"
