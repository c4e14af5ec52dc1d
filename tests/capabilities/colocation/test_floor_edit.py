"""DC admins change and delete floor objects on every surface; a change under what is reserved and a
delete of something in use are refused with the reason, and nothing changes; the capacity summaries
follow every change; ministries cannot tell floor objects exist; the floor's lists are paginated."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from panel import db
from panel.capabilities.colocation import edit as ed
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import ColoSite, PowerFeed, Rack, Room, Switch
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.services import requests as req_svc
from tests.capabilities.colocation.conftest import SYSTEM
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login


def _grant(colo, **spec):
    spec = {"u_count": 3, "max_w": 1000, "depth_mm": 700, "ports": 1, "ipv4": 1, **spec}
    req = svc.colocation_request(colo.actor(colo.u.a), org_id=colo.a.id, **spec)
    req_svc.request_approve(colo.actor(colo.u.op1), req.id)
    return svc.reservation_list(colo.actor(colo.u.a)).items[0]


def _drift():
    with db.unit_of_work() as s:
        return svc.summary_drift(s)


def test_changes_under_reservations_are_refused_with_the_reason(colo):
    res = _grant(colo)  # R1: U1-U3, 1000 W on feed A, 700 mm deep, a port and an address
    admin, f = colo.actor(colo.u.admin), colo.floor
    refusals = (
        ("rack", res.rack_id, {"height_u": 2}, "colocation.rack_below_reserved", "Units up to U3 of R1"),
        ("rack", res.rack_id, {"depth_mm": 600}, "colocation.rack_too_shallow", "a device 700 mm deep"),
        ("rack", res.rack_id, {"feed_a_id": None}, "colocation.in_use", "R1 has 1 reservations drawing"),
        ("feed", f.feed_a.id, {"amperage": 4}, "colocation.feed_below_reserved", "carries 1000 W"),
        ("rack", res.rack_id, {"vlan": 5}, "colocation.field_not_editable", "A rack has no vlan"),
    )
    for what, oid, changes, key, text in refusals:
        with pytest.raises((Conflict, Invalid)) as e:
            ed.floor_update(admin, what=what, floor_id=oid, **changes)
        assert e.value.key == key and text in e.value.text(), (changes, e.value.text())
    deletes = (
        ("site", f.site.id, "DC1 still has 1 rooms."),
        ("room", f.room.id, "Hall A still has 2 racks."),
        ("feed", f.feed_a.id, "A1 still feeds 2 racks."),
        ("rack", res.rack_id, "R1 has 1 reservations (current or past)"),
        ("switch", f.switch.id, "SW1 has 1 ports given to ministries."),
        ("prefix", f.p4.id, "10.85.0.248/29 has 1 addresses in use."),
    )
    for what, oid, text in deletes:
        with pytest.raises(Conflict) as e:
            ed.floor_delete(admin, what=what, floor_id=oid)
        assert e.value.key == "colocation.in_use" and text in e.value.text(), e.value.text()
    with db.unit_of_work() as s:
        assert s.get(Rack, res.rack_id).height_u == 10 and s.get(PowerFeed, f.feed_a.id).amperage == 16
    # allowed: taller, deeper, a bigger breaker; the summaries follow
    ed.floor_update(admin, what="rack", floor_id=res.rack_id, height_u=12, depth_mm=900, name="R1a")
    ed.floor_update(admin, what="feed", floor_id=f.feed_a.id, amperage=32)
    with db.unit_of_work() as s:
        rack, feed = s.get(Rack, res.rack_id), s.get(PowerFeed, f.feed_a.id)
        assert (rack.name, rack.height_u, rack.free_run_u) == ("R1a", 12, 9)
        assert (feed.capacity_w, feed.reserved_w) == (5888, 1000)
    assert _drift() == []
    # the second rack holds nothing: its feeds may change; then the first feed can be freed from it
    r2 = f.racks[1]
    ed.floor_update(admin, what="rack", floor_id=r2, feed_a_id=f.feed_b.id, feed_b_id=None)
    with pytest.raises(Invalid) as e:
        ed.floor_update(admin, what="rack", floor_id=r2, feed_b_id=f.feed_b.id)
    assert e.value.key == "colocation.feeds_same"
    assert _drift() == []
    ed.floor_delete(admin, what="rack", floor_id=r2)
    with db.unit_of_work() as s:
        assert s.get(Rack, r2) is None
    # after release the units are free but the reservation is history: the rack stays
    svc.reservation_release(colo.actor(colo.u.op1), reservation_id=res.id)
    with pytest.raises(Conflict):
        ed.floor_delete(admin, what="rack", floor_id=res.rack_id)
    ed.floor_update(admin, what="rack", floor_id=res.rack_id, height_u=1)
    assert _drift() == []


def test_who_may(colo):
    f = colo.floor
    with pytest.raises(NotFound):  # a ministry cannot tell the floor object exists
        ed.floor_update(colo.actor(colo.u.a), what="site", floor_id=f.site.id, name="X")
    with pytest.raises(Forbidden):  # DC operators read the floor, admins change it
        ed.floor_delete(colo.actor(colo.u.op1), what="site", floor_id=f.site.id)
    with pytest.raises(NotFound):
        ed.floor_delete(SYSTEM, what="site", floor_id=999)
    with pytest.raises(Invalid):
        ed.floor_update(SYSTEM, what="site", floor_id=f.site.id, name="bad;name")


def test_delete_when_unused(colo):
    admin = colo.actor(colo.u.admin)
    site = svc.site_create(SYSTEM, name="DC2")
    room = svc.room_create(SYSTEM, site_id=site.id, name="Cage")
    sw = svc.switch_create(SYSTEM, room_id=room.id, name="SWX", ports=4)
    panel = svc.panel_create(SYSTEM, site_id=site.id, name="PPX")
    feed = svc.feed_create(SYSTEM, panel_id=panel.id, name="FX")
    for what, oid in (("switch", sw.id), ("room", room.id), ("feed", feed.id), ("panel", panel.id), ("site", site.id)):
        ed.floor_delete(admin, what=what, floor_id=oid)
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ColoSite)) == 1
        assert s.scalar(select(func.count()).select_from(Room)) == 1
        assert s.scalar(select(func.count()).select_from(Switch)) == 1


def test_surfaces(app, client, csrf_off, cli, colo, api_token):
    f = colo.floor
    hadmin, ha, hop = api_token(colo.u.admin), api_token(colo.u.a), api_token(colo.u.op1)
    url = f"/api/v1/colocation/floor/feed/{f.feed_a.id}"
    r = client.patch(url, json={"max_utilisation": 90}, headers=hadmin)
    assert r.status_code == 200 and r.get_json()["id"] == f.feed_a.id
    assert client.patch(url, json={"max_utilisation": 101}, headers=hadmin).status_code == 422
    assert client.patch(url, json={"height_u": 4}, headers=hadmin).get_json()["key"] == "colocation.field_not_editable"
    assert client.patch(url, json={"amperage": 20}, headers=ha).status_code == 404
    assert client.patch(url, json={"amperage": 20}, headers=hop).status_code == 403
    r = client.delete(f"/api/v1/colocation/floor/site/{f.site.id}", headers=hadmin)
    assert r.status_code == 409 and r.get_json()["key"] == "colocation.in_use"
    floor = client.get("/api/v1/colocation/floor?per_page=1&feeds_page=2", headers=hop).get_json()
    assert floor["feeds"]["page"] == 2 and floor["feeds"]["total"] == 2 and len(floor["feeds"]["items"]) == 1
    assert floor["feeds"]["items"][0]["name"] == "B1"
    # CLI
    r = cli("colocation", "edit", "rack", str(f.racks[1]), "--name", "R2b", "--height-u", "20")
    assert r.exit_code == 0 and "rack" in cli_text(r)
    r = cli("colocation", "delete", "room", str(f.room.id))
    assert r.exit_code == 2 and "Hall A still has 2 racks." in cli_text(r)
    r = cli("colocation", "edit", "site", str(f.site.id), "--name", "X", "--as", "colo_a")
    assert r.exit_code == 2
    # web: the floor links each object's page; a refusal shows its reason
    web_login(app, client, colo.u.admin)
    page = client.get("/colocation/floor").get_data(as_text=True)
    assert f"/colocation/floor/rack/{f.racks[0]}" in page and f"/colocation/floor/site/{f.site.id}" in page
    edit = client.get(f"/colocation/floor/rack/{f.racks[1]}").get_data(as_text=True)
    assert 'value="R2b"' in edit
    r = client.post(f"/colocation/floor/feed/{f.feed_b.id}", data={"edit-name": "B1x", "edit-phase": "single",
                    "edit-voltage": "230", "edit-amperage": "16", "edit-max_utilisation": "80"})  # fmt: skip
    assert r.status_code == 302
    r = client.post(f"/colocation/floor/site/{f.site.id}/delete", follow_redirects=True)
    assert "DC1 still has 1 rooms." in r.get_data(as_text=True)
    client.get("/logout")
    web_login(app, client, colo.u.a)
    assert client.get(f"/colocation/floor/rack/{f.racks[0]}").status_code == 404
