"""Patch panels (front ports with their rear ports) and cross-connects as part of a colocation
request: capacity-checked (free patch-panel ports at the A end, in the rack's room, and at the B
end, in the room asked for), reserved on approval, freed on release, counted in the statement; two
racing approvals never get the same port (with the floor lock and without it)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from panel import db
from panel.capabilities.colocation import edit as ed
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import statement as st
from panel.capabilities.colocation.models import CrossConnect, PatchPort, Reservation
from panel.errors import Conflict, Invalid, PanelError
from panel.services import requests as req_svc
from tests.capabilities.colocation.conftest import SYSTEM, race_approvals
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login


@pytest.fixture
def patch(colo):
    """Hall A (the racks' room) gets a 4-port fibre panel and a 2-port copper one; a meet-me room
    at the same site a 4-port fibre panel."""
    f = colo.floor
    mmr = svc.room_create(SYSTEM, site_id=f.site.id, name="Meet-me")
    colo.pp_a = svc.patch_panel_create(SYSTEM, room_id=f.room.id, name="PPA", ports=4, medium="fibre")
    colo.pp_cu = svc.patch_panel_create(SYSTEM, room_id=f.room.id, name="PPC", ports=2, medium="copper")
    colo.pp_m = svc.patch_panel_create(SYSTEM, room_id=mmr.id, name="MMR1", ports=4, medium="fibre")
    colo.mmr = mmr
    return colo


def ask(colo, who="a", **spec):
    spec = {"u_count": 1, "max_w": 100, **spec}
    return svc.colocation_request(colo.actor(getattr(colo.u, who)), org_id=getattr(colo, who).id, **spec)


def approve(colo, req, who="op1"):
    return req_svc.request_approve(colo.actor(getattr(colo.u, who)), req.id)


def held() -> dict[int, int]:
    """patch port id -> the reservation holding it."""
    with db.unit_of_work() as s:
        return dict(
            s.execute(select(PatchPort.id, PatchPort.reservation_id).where(PatchPort.reservation_id.is_not(None))).all()
        )


def test_cross_connects_are_reserved_released_and_counted(patch):
    c = patch
    approve(c, ask(c, cross_connects=2, cross_connect_room_id=c.mmr.id, cross_connect_to="ISP One", label="edge"))
    res = svc.reservation_list(c.actor(c.u.a)).items[0]
    view = svc.reservation_get(c.actor(c.u.a), res.id)
    assert view.cross_connects == [
        "Hall A / PPA:F1 <-> Meet-me / MMR1:F1 (fibre, ISP One)",
        "Hall A / PPA:F2 <-> Meet-me / MMR1:F2 (fibre, ISP One)",
    ]
    assert res.cross_connects == 2 and len(held()) == 4 and set(held().values()) == {res.id}
    pools = {p.name: (p.total, p.used) for p in svc.floor_get(c.actor(c.u.op1)).patch_panels.items}
    assert pools == {"Hall A / PPA": (4, 2), "Hall A / PPC": (2, 0), "Meet-me / MMR1": (4, 2)}
    # both ends in the rack's room: A ends first, then the B ends after them
    approve(c, ask(c, cross_connects=1))
    second = svc.reservation_list(c.actor(c.u.a)).items[0]
    assert svc.reservation_get(c.actor(c.u.a), second.id).cross_connects == [
        "Hall A / PPA:F3 <-> Hall A / PPA:F4 (fibre)"
    ]
    month = db.utcnow().strftime("%Y-%m")
    assert st.statement_get(c.actor(c.u.a), org_id=c.a.id, month=month).cross_connects == 3
    svc.reservation_release(c.actor(c.u.op1), reservation_id=res.id)
    assert set(held().values()) == {second.id}
    with db.unit_of_work() as s:
        rows = s.execute(select(CrossConnect.reservation_id, CrossConnect.released_at)).all()
    assert sorted((r, t is not None) for r, t in rows) == [(res.id, True), (res.id, True), (second.id, False)]
    # the released ports can be had again; the statement still counts the released reservation's
    approve(c, ask(c, "b", cross_connects=2, cross_connect_room_id=c.mmr.id))
    assert st.statement_get(c.actor(c.u.a), org_id=c.a.id, month=month).cross_connects == 3


def test_precise_refusals(patch):
    c = patch
    with pytest.raises(Conflict) as e:
        ask(c, cross_connects=2, cross_connect_medium="copper")  # 2 copper ports, both ends in Hall A: 4 needed
    assert e.value.key == "colocation.no_patch_ports" and e.value.field == "cross_connects"
    assert e.value.text() == (
        "No room with space, power, ports and addresses has free copper patch-panel ports for 2"
        " cross-connects (a port at each end); the most free in such a room is 2."
    )
    ask(c, cross_connects=1, cross_connect_medium="copper")  # one fits (F1 <-> F2)
    with pytest.raises(Conflict) as e:
        ask(c, cross_connects=5, cross_connect_room_id=c.mmr.id)
    assert e.value.key == "colocation.no_patch_ports_b" and e.value.field == "cross_connect_room_id"
    assert e.value.text() == ("Only 4 free fibre patch-panel ports are left in Meet-me for the B ends; 5 asked.")
    with pytest.raises(Conflict) as e:
        ask(c, cross_connects=3)  # both ends in Hall A: 6 of its 4 fibre ports
    assert e.value.key == "colocation.no_patch_ports"
    ask(c, cross_connects=4, cross_connect_room_id=c.mmr.id)  # 4 in Hall A and 4 in the meet-me room
    with pytest.raises(Invalid) as e:
        ask(c, cross_connects=1, cross_connect_room_id=10**9)
    assert e.value.key == "colo_room.not_found" and e.value.field == "cross_connect_room_id"
    with pytest.raises(PanelError) as e:
        ask(c, cross_connects=1, cross_connect_medium="wifi")
    assert e.value.status == 422
    with pytest.raises(Invalid) as e:
        ask(c, cross_connects=1, cross_connect_to="<b>x</b>")
    assert e.value.field == "cross_connect_to"
    # the summary-based check and the full scan agree, placement or refusal
    specs = [
        svc.Spec(u_count=1, max_w=100, cross_connects=n, cross_connect_medium=m, cross_connect_room_id=room)
        for n in (1, 2, 3, 5)
        for m in ("fibre", "copper")
        for room in (None, c.mmr.id, c.floor.room.id)
    ]
    with db.unit_of_work() as s:
        for spec in specs:
            answers = []
            for fn in (svc.capacity_check, svc.capacity_check_scan):
                try:
                    p = fn(s, c.a.id, spec)
                    answers.append((p.rack_id, p.u_start))
                except Conflict as err:
                    answers.append((err.key, err.params))
            assert answers[0] == answers[1], spec


def test_approval_rechecks_the_patch_ports(patch):
    c = patch
    first = ask(c, cross_connects=2)  # Hall A's 4 fibre ports
    second = ask(c, "b", cross_connects=1)
    approve(c, first)
    with pytest.raises(Conflict) as e:
        approve(c, second)
    assert e.value.key == "colocation.no_patch_ports"
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Reservation).where(Reservation.org_id == c.b.id)) == 0


@pytest.mark.parametrize("floor_lock", [True, False], ids=["locked", "unlocked"])
def test_two_racing_approvals_never_get_the_same_port(patch, monkeypatch, floor_lock):
    """The last four fibre ports of Hall A, asked for by two requests placed in different racks (so
    their units do not collide): exactly one gets them. Without the floor lock (PostgreSQL lets both
    pass the check) the ports' conditional update still refuses the second."""
    c = patch
    approve(c, ask(c, "b", u_count=5))  # R1 keeps 5 free units: A's 5 U go there, B's 6 U to R2
    r1 = ask(c, u_count=5, cross_connects=2)
    r2 = ask(c, "b", u_count=6, cross_connects=2)
    if not floor_lock:
        monkeypatch.setattr(svc, "_lock_floor", lambda s: None)
    outcome = list(race_approvals(c, ("op1", r1), ("op2", r2)).values())
    with db.unit_of_work() as s:
        serialised = floor_lock or s.get_bind().dialect.name == "sqlite"  # SQLite: one writer at a time
    # serialised, the second sees the first's ports gone; racing, the conditional update refuses it
    loser = "colocation.no_patch_ports" if serialised else "colocation.patch_port_taken"
    assert sorted(outcome) == sorted(["approved", loser]), outcome
    ports = held()
    with db.unit_of_work() as s:
        winners = set(s.scalars(select(CrossConnect.reservation_id)))
        ends = s.execute(select(CrossConnect.a_port_id, CrossConnect.b_port_id)).all()
    assert len(ports) == 4 and len(set(ports.values())) == 1 and winners == set(ports.values())
    assert len({p for pair in ends for p in pair}) == 4


def test_floor_objects_and_surfaces(app, client, csrf_off, cli, patch, api_token):
    c = patch
    admin = c.actor(c.u.admin)
    a_id, mmr_id, hall_id = c.a.id, c.mmr.id, c.floor.room.id
    approve(c, ask(c, cross_connects=1, cross_connect_room_id=mmr_id))
    res_id = svc.reservation_list(c.actor(c.u.a)).items[0].id
    with pytest.raises(Conflict) as e:
        ed.floor_delete(admin, what="patch_panel", floor_id=c.pp_m.id)
    assert e.value.text().startswith("MMR1 has 1 cross-connects (current or past)")
    with pytest.raises(Conflict) as e:
        ed.floor_delete(admin, what="room", floor_id=mmr_id)
    assert e.value.text() == "Meet-me still has 1 patch panels."
    ed.floor_update(admin, what="patch_panel", floor_id=c.pp_cu.id, name="PPC-2")
    ed.floor_delete(admin, what="patch_panel", floor_id=c.pp_cu.id)  # never used: gone with its ports
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count(PatchPort.id)).where(PatchPort.panel_id == c.pp_cu.id)) == 0
    # API
    hadmin, ha, hop = api_token(c.u.admin), api_token(c.u.a), api_token(c.u.op1)
    body = {"room_id": hall_id, "name": "PPB", "ports": 2, "medium": "copper"}
    r = client.post("/api/v1/colocation/patch_panels", json=body, headers=hadmin)
    assert r.status_code == 201
    assert client.post("/api/v1/colocation/patch_panels", json={**body, "ports": 0}, headers=hadmin).status_code == 422
    assert client.post("/api/v1/colocation/patch_panels", json={**body, "name": "PPB2"}, headers=hop).status_code == 403
    floor = client.get("/api/v1/colocation/floor", headers=hop).get_json()
    assert {p["name"] for p in floor["patch_panels"]["items"]} == {"Hall A / PPA", "Hall A / PPB", "Meet-me / MMR1"}
    detail = client.get(f"/api/v1/colocation/reservations/{res_id}", headers=ha).get_json()
    assert detail["cross_connects"] == ["Hall A / PPA:F1 <-> Meet-me / MMR1:F1 (fibre)"]
    r = client.post(
        "/api/v1/colocation/requests",
        json={"org_id": a_id, "u_count": 1, "max_w": 100, "cross_connects": 1, "cross_connect_medium": "copper",
              "cross_connect_to": "Carrier B"},
        headers=ha,
    )  # fmt: skip
    assert r.status_code == 202
    r = client.post(
        "/api/v1/colocation/requests",
        json={"org_id": a_id, "u_count": 1, "max_w": 100, "cross_connects": 9},
        headers=ha,
    )
    assert r.status_code == 409 and r.get_json()["key"] == "colocation.no_patch_ports"
    # CLI
    r = cli("colocation", "add-patch-panel", str(mmr_id), "MMR2", "--ports", "8")
    assert r.exit_code == 0 and "patch panel" in cli_text(r)
    r = cli("colocation", "add-patch-panel", str(mmr_id), "MMR3", "--ports", "500")
    assert r.exit_code == 2 and "ports must be a whole number from 1 to 144" in cli_text(r)
    r = cli("colocation", "reservation", str(res_id), "--as", "colo_a")
    assert r.exit_code == 0 and "PPA:F1 <-> Meet-me / MMR1:F1" in cli_text(r)
    r = cli("colocation", "request", "--org", str(a_id), "--units", "1", "--max-w", "100", "--cross-connects",
            "20", "--cross-connect-room", str(mmr_id), "--as", "colo_a")  # fmt: skip
    assert r.exit_code == 2 and "for the B ends" in cli_text(r)
    # web: the floor lists patch panels; the request form files cross-connects with their B room
    web_login(app, client, c.u.admin)
    page = client.get("/colocation/floor").get_data(as_text=True)
    assert "Patch panels" in page and "Meet-me / MMR1" in page
    r = client.post("/colocation/floor/patch_panel", data={"patch_panel-room_id": mmr_id, "patch_panel-name": "MMR9",
                    "patch_panel-ports": 4, "patch_panel-medium": "fibre"})  # fmt: skip
    assert r.status_code == 302
    client.get("/logout")
    web_login(app, client, c.u.a)
    form = {"org_id": a_id, "site_id": 0, "u_count": 1, "max_w": 100, "psus": 1, "port_speed_mbps": 1000,
            "port_medium": "copper", "cross_connects": 30, "cross_connect_medium": "fibre",
            "cross_connect_room_id": mmr_id, "cross_connect_to": "ISP"}  # fmt: skip
    bad = client.post("/colocation/request", data=form)
    assert bad.status_code == 409 and "for the B ends" in bad.get_data(as_text=True)
    ok = client.post("/colocation/request", data={**form, "cross_connects": 1})
    assert ok.status_code == 302
    detail = client.get(f"/colocation/reservations/{res_id}").get_data(as_text=True)
    assert "PPA:F1 &lt;-&gt; Meet-me / MMR1:F1" in detail
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "km"
    km = client.get("/colocation/").get_data(as_text=True)
    assert "Room of the B ends" not in km and "បន្ទប់នៃចុង B" in km
