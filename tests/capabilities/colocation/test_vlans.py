"""VLANs on the floor: a site's or a room's (VID unique per scope), prefixes on a site VLAN, and a
ministry's request granted a VLAN of its own on approval: the lowest free active VID of the rack's
room, else of its site; never one an address pool is routed on; never one VLAN to two approvals."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import delete, func, select, update

from panel import db
from panel.capabilities.colocation import edit as ed
from panel.capabilities.colocation import netbox as nb
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import statement as st
from panel.capabilities.colocation import vlans as V
from panel.capabilities.colocation.models import Prefix, Reservation, Vlan
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.requests import RequestStatus
from panel.services import requests as req_svc
from tests.capabilities.colocation.conftest import SYSTEM, race_approvals
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login


def ask(colo, who="a", **spec):
    spec.setdefault("u_count", 1)
    spec.setdefault("max_w", 10)
    return svc.colocation_request(colo.actor(getattr(colo.u, who)), org_id=getattr(colo, who).id, **spec)


def approve(colo, req, who="op1"):
    return req_svc.request_approve(colo.actor(getattr(colo.u, who)), req.id)


def held() -> dict[int, int | None]:
    with db.unit_of_work() as s:
        return dict(s.execute(select(Vlan.vid, Vlan.reservation_id).where(Vlan.vid != 100)).all())


def test_scope_and_vid_rules(colo):
    f, admin = colo.floor, colo.actor(colo.u.admin)
    with db.unit_of_work() as s:  # the prefixes' VLAN 100 is a site VLAN the pools are routed on
        p4 = s.get(Prefix, f.p4.id)
        assert (p4.vlan, p4.vlan_ref.room_id, p4.vlan_ref.site_id) == (100, None, f.site.id)
        assert s.get(Prefix, f.p6.id).vlan_id == p4.vlan_id
    V.vlan_create(admin, site_id=f.site.id, vid=200, name="site 200")
    V.vlan_create(admin, room_id=f.room.id, vid=200, name="room 200")  # another scope: allowed
    for kwargs, key in (
        ({"site_id": f.site.id, "vid": 200}, "colocation.vid_taken"),
        ({"room_id": f.room.id, "vid": 200}, "colocation.vid_taken"),
        ({"site_id": f.site.id, "vid": 4095}, "colocation.number_invalid"),
        ({"site_id": f.site.id, "vid": 0}, "colocation.number_invalid"),
        ({"site_id": f.site.id, "vid": 5, "status": "gone"}, "colocation.vlan_status_invalid"),
    ):
        with pytest.raises((Conflict, Invalid)) as e:
            V.vlan_create(admin, name="x", **kwargs)
        assert e.value.key == key, (kwargs, e.value.key)
    with pytest.raises(Conflict) as e:
        V.vlan_create(admin, site_id=f.site.id, vid=200, name="again")
    assert e.value.text() == "VLAN 200 exists already in DC1."
    other = svc.site_create(SYSTEM, name="DC2")
    with pytest.raises(Invalid) as e:
        V.vlan_create(admin, site_id=other.id, room_id=f.room.id, vid=7, name="x")
    assert e.value.key == "colocation.vlan_scope"
    with pytest.raises(Forbidden):
        V.vlan_create(colo.actor(colo.u.op1), site_id=f.site.id, vid=7, name="x")
    with pytest.raises(Forbidden):
        V.vlan_create(colo.actor(colo.u.a), site_id=f.site.id, vid=7, name="x")


def test_approval_grants_the_rooms_lowest_free_vlan_then_the_sites(colo):
    f, admin = colo.floor, colo.actor(colo.u.admin)
    V.vlan_create(admin, site_id=f.site.id, vid=300, name="site 300")
    V.vlan_create(admin, room_id=f.room.id, vid=12, name="room 12")
    V.vlan_create(admin, room_id=f.room.id, vid=11, name="room 11")
    V.vlan_create(admin, room_id=f.room.id, vid=5, name="kept", status="reserved")
    V.vlan_create(admin, room_id=f.room.id, vid=6, name="old", status="deprecated")
    granted = []
    for who in ("a", "b", "a"):
        approve(colo, ask(colo, who, vlan=True))
        with db.unit_of_work() as s:
            granted.append(s.scalars(select(Reservation.vlan_vid).order_by(Reservation.id.desc())).first())
    assert granted == [11, 12, 300]  # the room's first, lowest VID first; never 100 (pools), 5 or 6
    with db.unit_of_work() as s:
        by_vid = {v.vid: v for v in s.scalars(select(Vlan))}
        assert by_vid[11].org_id == colo.a.id and by_vid[12].org_id == colo.b.id and by_vid[300].org_id == colo.a.id
        assert by_vid[100].reservation_id is None and by_vid[5].reservation_id is None
    req = ask(colo, "b", u_count=1)  # without a VLAN: none asked, none checked
    approve(colo, req)
    with pytest.raises(Conflict) as e:
        ask(colo, "b", vlan=True)
    assert e.value.key == "colocation.no_vlans" and e.value.field == "vlan"
    assert e.value.text() == (
        "No free VLAN is left for a rack with space, power, ports and addresses: of the 4 active VLANs in its"
        " room or at its site, 3 are held by ministries and 1 carry address pools; 1 asked."
    )  # 11, 12, 300 held; 100 carries the pools
    # the statement lists the ministry's VLANs; a release gives the VLAN back, the statement keeps it
    x = st.statement_get(colo.actor(colo.u.a), org_id=colo.a.id)
    assert x.vlans == [11, 300] and sorted(ln.vlan or 0 for ln in x.lines) == [11, 300]
    first = x.lines[0].reservation_id
    svc.reservation_release(colo.actor(colo.u.op1), reservation_id=first)
    assert held()[11] is None
    assert st.statement_get(colo.actor(colo.u.a), org_id=colo.a.id).vlans == [11, 300]
    approve(colo, ask(colo, "b", vlan=True))  # 11 is free again
    assert held()[11] is not None


def test_the_check_and_the_scan_agree_on_vlans(colo):
    f = colo.floor
    spec = svc.Spec(u_count=1, max_w=10, vlan=True)
    with db.unit_of_work() as s:
        for check in (svc.capacity_check, svc.capacity_check_scan):
            with pytest.raises(Conflict) as e:
                check(s, colo.a.id, spec)
            assert e.value.key == "colocation.no_vlans"
            assert (e.value.params["active"], e.value.params["held"], e.value.params["pools"]) == (1, 0, 1)
    V.vlan_create(SYSTEM, room_id=f.room.id, vid=20, name="r")
    with db.unit_of_work() as s:
        assert svc.capacity_check(s, colo.a.id, spec) == svc.capacity_check_scan(s, colo.a.id, spec)


@pytest.mark.parametrize("floor_lock", [True, False], ids=["locked", "unlocked"])
def test_racing_approvals_never_get_the_same_vlan(colo, monkeypatch, floor_lock):
    """The last free VLAN, asked for by two requests placed in different racks (their units do not
    collide): exactly one gets it. Without the floor lock (PostgreSQL lets both pass the check) the
    VLAN's conditional update (reservation_id IS NULL) refuses the second."""
    V.vlan_create(SYSTEM, room_id=colo.floor.room.id, vid=42, name="last")
    approve(colo, ask(colo, "b", u_count=5))  # R1 keeps 5 free units: A's 5 U go there
    r1 = ask(colo, u_count=5, vlan=True)
    r2 = ask(colo, "b", u_count=6, vlan=True)  # 6 U: only R2 has room
    if not floor_lock:
        monkeypatch.setattr(svc, "_lock_floor", lambda s: None)
    by_request = race_approvals(colo, ("op1", r1), ("op2", r2))
    outcome = {req.org_id: by_request[req.id] for req in (r1, r2)}
    with db.unit_of_work() as s:
        serialised = floor_lock or s.get_bind().dialect.name == "sqlite"
        losers = ("colocation.no_vlans",) if serialised else ("colocation.no_vlans", "colocation.vlan_taken")
        assert sorted(outcome.values()) in [sorted(["approved", loser]) for loser in losers], outcome
        rows = s.execute(select(Reservation.id, Reservation.org_id, Reservation.vlan_vid).order_by(Reservation.id))
        first, winner = rows.all()  # B's first reservation and the winner's; the loser's rolled back
        assert outcome[winner.org_id] == "approved" and winner.vlan_vid == 42 and first.vlan_vid is None
        vlan = s.scalars(select(Vlan).where(Vlan.vid == 42)).one()
        assert (vlan.reservation_id, vlan.org_id) == (winner.id, winner.org_id)
        loser = r2 if winner.org_id == r1.org_id else r1
        assert s.get(req_svc.Request, loser.id).status == RequestStatus.SUBMITTED


def test_edit_and_delete(colo):
    f, admin = colo.floor, colo.actor(colo.u.admin)
    v = V.vlan_create(admin, room_id=f.room.id, vid=30, name="r30")
    V.vlan_create(admin, room_id=f.room.id, vid=31, name="r31")
    ed.floor_update(admin, what="vlan", floor_id=v.id, name="renamed", vid=32, status="reserved")
    with pytest.raises(Conflict) as e:
        ed.floor_update(admin, what="vlan", floor_id=v.id, vid=31)
    assert e.value.key == "colocation.vid_taken"
    ed.floor_update(admin, what="vlan", floor_id=v.id, vid=30, status="active")
    approve(colo, ask(colo, vlan=True))
    with pytest.raises(Conflict) as e:  # held: its VID and status stay; its name may change
        ed.floor_update(admin, what="vlan", floor_id=v.id, status="deprecated")
    assert e.value.key == "colocation.in_use"
    ed.floor_update(admin, what="vlan", floor_id=v.id, name="ministry A")
    with pytest.raises(Conflict) as e:
        ed.floor_delete(admin, what="vlan", floor_id=v.id)
    assert e.value.text() == "VLAN 30 is allocated to a ministry's reservation."
    with db.unit_of_work() as s:
        pools_vlan = s.get(Prefix, f.p4.id).vlan_id
    with pytest.raises(Conflict) as e:
        ed.floor_delete(admin, what="vlan", floor_id=pools_vlan)
    assert e.value.text() == "VLAN 100 carries 2 address pools."
    with pytest.raises(NotFound):  # a ministry cannot tell a VLAN exists
        ed.floor_update(colo.actor(colo.u.a), what="vlan", floor_id=v.id, name="x")
    # a prefix moves to another site VLAN by its VID (made if the site has none)
    ed.floor_update(admin, what="prefix", floor_id=f.p6.id, vlan=101)
    with db.unit_of_work() as s:
        assert s.get(Prefix, f.p6.id).vlan == 101
    room2 = svc.room_create(SYSTEM, site_id=f.site.id, name="Hall B")
    V.vlan_create(admin, room_id=room2.id, vid=9, name="b9")
    with pytest.raises(Conflict) as e:
        ed.floor_delete(admin, what="room", floor_id=room2.id)
    assert e.value.text() == "Hall B still has 1 VLANs."


def test_netbox_round_trip_keeps_vlans(colo):
    f = colo.floor
    V.vlan_create(SYSTEM, room_id=f.room.id, vid=10, name="hall 10", status="reserved")
    V.vlan_create(SYSTEM, site_id=f.site.id, vid=10, name="site 10")
    doc = nb.floor_export(SYSTEM)
    assert doc["ipam.vlangroup"] == [
        {"name": "DC1 / Hall A", "slug": "dc1-hall-a", "scope_type": "dcim.location", "scope_name": "Hall A"}
    ]
    assert [(v["group"], v["vid"], v["name"], v["status"]) for v in doc["ipam.vlan"]] == [
        ("", "10", "site 10", "active"),
        ("", "100", "VLAN 100", "active"),
        ("DC1 / Hall A", "10", "hall 10", "reserved"),
    ]
    assert nb.to_csv(doc["ipam.vlan"], "ipam.vlan").splitlines()[0] == "site,group,vid,name,tenant,status"
    with db.unit_of_work() as s:
        s.execute(update(Prefix).values(vlan_id=None))
        s.execute(delete(Vlan))
    counts = nb.floor_import(SYSTEM, document=nb.read_json(nb.to_json(doc)))
    assert counts["ipam.vlan"] == {"added": 3, "existing": 0} and counts["ipam.vlangroup"]["existing"] == 1
    again = nb.floor_export(SYSTEM)
    assert again["ipam.vlan"] == doc["ipam.vlan"] and again["ipam.vlangroup"] == doc["ipam.vlangroup"]
    bad = {"ipam.vlan": [{"site": "DC1", "group": "nowhere", "vid": "5", "name": "x", "status": "active"}]}
    with pytest.raises(Invalid) as e:
        nb.floor_import(SYSTEM, document=bad)
    assert e.value.text() == "ipam.vlan row 1: There is no group nowhere."


def test_surfaces(app, client, csrf_off, cli, colo, api_token):
    f = colo.floor
    hadmin, ha, hop = api_token(colo.u.admin), api_token(colo.u.a), api_token(colo.u.op1)
    r = client.post("/api/v1/colocation/vlans", json={"room_id": f.room.id, "vid": 70, "name": "api"}, headers=hadmin)
    assert r.status_code == 201
    vlan_id = r.get_json()["id"]
    r = client.post("/api/v1/colocation/vlans", json={"room_id": f.room.id, "vid": 70, "name": "x"}, headers=hadmin)
    assert r.status_code == 409 and r.get_json()["key"] == "colocation.vid_taken"
    r = client.post("/api/v1/colocation/vlans", json={"site_id": f.site.id, "vid": 4095, "name": "x"}, headers=hadmin)
    assert r.status_code == 422
    assert client.post("/api/v1/colocation/vlans", json={"vid": 71, "name": "x"}, headers=hop).status_code == 403
    r = client.patch(f"/api/v1/colocation/floor/vlan/{vlan_id}", json={"name": "api2"}, headers=hadmin)
    assert r.status_code == 200
    assert client.patch(f"/api/v1/colocation/floor/vlan/{vlan_id}", json={"name": "x"}, headers=ha).status_code == 404
    floor = client.get("/api/v1/colocation/floor", headers=hop).get_json()
    assert [(v["vid"], v["room"], v["name"], v["pools"]) for v in floor["vlans"]["items"]] == [
        (100, "", "VLAN 100", 2),
        (70, "Hall A", "api2", 0),
    ]
    r = client.post(
        "/api/v1/colocation/requests", json={"org_id": colo.a.id, "u_count": 1, "max_w": 10, "vlan": True}, headers=ha
    )
    assert r.status_code == 202
    approve(colo, req_svc.request_get(SYSTEM, r.get_json()["request_id"]))
    (res,) = client.get("/api/v1/colocation/reservations", headers=ha).get_json()["items"]
    assert res["vlan_vid"] == 70
    statement = client.get(f"/api/v1/colocation/statement/{colo.a.id}", headers=ha).get_json()
    assert statement["vlans"] == [70] and statement["lines"][0]["vlan"] == 70
    # CLI
    r = cli("colocation", "add-vlan", str(f.site.id), "80", "cli vlan", "--status", "reserved")
    assert r.exit_code == 0 and "VLAN" in cli_text(r)
    r = cli("colocation", "add-vlan", str(f.site.id), "80", "again")
    assert r.exit_code == 2 and "VLAN 80 exists already in DC1." in cli_text(r)
    r = cli("colocation", "edit", "vlan", str(vlan_id), "--vid", "71")
    assert r.exit_code == 2 and "allocated to a ministry" in cli_text(r)
    r = cli("colocation", "floor")
    assert r.exit_code == 0 and "cli vlan" in cli_text(r) and "Ministry A" in cli_text(r)
    r = cli("colocation", "request", "--org", str(colo.b.id), "--units", "1", "--max-w", "10", "--vlan")
    assert r.exit_code == 2 and "No free VLAN is left" in cli_text(r)
    r = cli("colocation", "statement", "--org", str(colo.a.id))
    assert r.exit_code == 0 and re.search(r"VLANs:\s+70\b", cli_text(r))
    # web
    web_login(app, client, colo.u.admin)
    r = client.post(
        "/colocation/floor/vlan",
        data={
            "vlan-site_id": f.site.id,
            "vlan-room_id": "0",
            "vlan-vid": "90",
            "vlan-name": "web",
            "vlan-status": "active",
        },
    )
    assert r.status_code == 302
    page = client.get("/colocation/floor").get_data(as_text=True)
    assert f"/colocation/floor/vlan/{vlan_id}" in page and "The whole site" in page and ">web<" in page
    r = client.post(
        "/colocation/floor/vlan",
        data={
            "vlan-site_id": f.site.id,
            "vlan-room_id": "0",
            "vlan-vid": "90",
            "vlan-name": "dup",
            "vlan-status": "active",
        },
    )
    assert r.status_code == 409 and "VLAN 90 exists already in DC1." in r.get_data(as_text=True)
    edit = client.get(f"/colocation/floor/vlan/{vlan_id}").get_data(as_text=True)
    assert 'value="api2"' in edit and 'value="70"' in edit
    r = client.post(f"/colocation/floor/vlan/{vlan_id}/delete", follow_redirects=True)
    assert "VLAN 70 is allocated to a ministry&#39;s reservation." in r.get_data(as_text=True)
    client.get("/logout")
    web_login(app, client, colo.u.a)
    assert client.get(f"/colocation/floor/vlan/{vlan_id}").status_code == 404
    assert "70" in client.get(f"/colocation/statement/{colo.a.id}").get_data(as_text=True)
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Vlan)) == 4  # 100, 70, 80, 90
