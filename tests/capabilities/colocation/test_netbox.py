"""NetBox CSV and JSON: the floor exported with NetBox's own column names imports back into an empty
floor and exports the same again (CSV file by file, and JSON), patch panels with their rear and
front ports included; cross-connects go out as NetBox cables; importing twice adds nothing; a bad
row refuses the whole file with the row named; web, API and CLI over the same functions."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import delete, func, select

from panel import db
from panel.capabilities.colocation import netbox as nb
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import (
    AddressAllocation,
    ColoServer,
    ColoSite,
    CrossConnect,
    PatchPanel,
    PatchPort,
    PowerFeed,
    PowerPanel,
    Prefix,
    Rack,
    Reservation,
    Room,
    Switch,
    SwitchPort,
    UnitClaim,
    Vlan,
)
from panel.errors import Forbidden, Invalid
from panel.services import requests as req_svc
from tests.capabilities.colocation.conftest import SYSTEM
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login


@pytest.fixture
def floor(colo):
    """The conftest floor (two racks on shared feeds A1/B1) plus a rack on its own three-phase feeds,
    a fibre switch in a second room, a fibre patch panel in the first room and a copper one in the
    second, and a ministry's reservation with one cross-connect (both ends on the fibre panel)."""
    f = colo.floor
    cage = svc.room_create(SYSTEM, site_id=f.site.id, name="Cage 2")
    panel = svc.panel_create(SYSTEM, site_id=f.site.id, name="PP2")
    a3 = svc.feed_create(SYSTEM, panel_id=panel.id, name="A3", phase="three", voltage=400, amperage=32)
    b3 = svc.feed_create(SYSTEM, panel_id=panel.id, name="B3", phase="three", voltage=400, amperage=32)
    svc.rack_create(SYSTEM, room_id=cage.id, name="C1", height_u=48, depth_mm=1200, feed_a_id=a3.id, feed_b_id=b3.id)
    svc.switch_create(SYSTEM, room_id=cage.id, name="SW2", ports=2, speed_mbps=10000, medium="fibre")
    svc.prefix_create(SYSTEM, site_id=f.site.id, cidr="10.85.1.0/24", description="cage 2")
    svc.patch_panel_create(SYSTEM, room_id=f.room.id, name="PPA", ports=4, medium="fibre")
    svc.patch_panel_create(SYSTEM, room_id=cage.id, name="PPC", ports=2, medium="copper")
    req = svc.colocation_request(
        colo.actor(colo.u.a), org_id=colo.a.id, u_count=2, max_w=300, label="db1", cross_connects=1,
        cross_connect_to="ISP One",
    )  # fmt: skip
    req_svc.request_approve(colo.actor(colo.u.op1), req.id)
    return colo


def floor_reservation_id() -> int:
    with db.unit_of_work() as s:
        return s.scalars(select(Reservation.id)).one()


def _wipe_floor() -> None:
    with db.unit_of_work() as s:
        for model in (ColoServer, AddressAllocation, UnitClaim, SwitchPort, CrossConnect, PatchPort):
            s.execute(delete(model))
        s.execute(delete(Reservation))
        for model in (Switch, PatchPanel, Prefix, Vlan, Rack, PowerFeed, PowerPanel, Room, ColoSite):
            s.execute(delete(model))


def _floor_rows() -> int:
    with db.unit_of_work() as s:
        return sum(
            s.scalar(select(func.count()).select_from(m))
            for m in (
                ColoSite,
                Room,
                PowerPanel,
                PowerFeed,
                Rack,
                Switch,
                SwitchPort,
                Prefix,
                Vlan,
                PatchPanel,
                PatchPort,
            )
        )


def test_export_speaks_netbox(floor):
    doc = nb.floor_export(SYSTEM)
    racks = {r["name"]: r for r in doc["dcim.rack"]}
    assert racks["C1"] == {
        "site": "DC1",
        "location": "Cage 2",
        "name": "C1",
        "status": "active",
        "width": "19",
        "u_height": "48",
        "mounting_depth": "1200",
    }
    feeds = {f["name"]: f for f in doc["dcim.powerfeed"]}
    assert (feeds["A3"]["rack"], feeds["A3"]["type"], feeds["B3"]["type"]) == ("C1", "primary", "redundant")
    assert feeds["A3"]["phase"] == "three-phase" and feeds["A3"]["max_utilization"] == "80"
    assert feeds["A1"]["rack"] == ""  # feeds R1 and R2: a NetBox feed feeds one rack
    ports = [p for p in doc["dcim.interface"] if p["device"] == "SW2"]
    assert ports == [
        {"device": "SW2", "name": "1", "type": "10gbase-x-sfpp", "speed": "10000000"},
        {"device": "SW2", "name": "2", "type": "10gbase-x-sfpp", "speed": "10000000"},
    ]
    assert {
        "prefix": doc["ipam.prefix"][0]["prefix"],
        "vid": doc["ipam.vlan"][0]["vid"],
    } == {"prefix": "10.85.0.248/29", "vid": "100"}
    assert doc["ipam.prefix"][0]["scope_type"] == "dcim.site" and doc["ipam.prefix"][0]["scope_name"] == "DC1"
    (res,) = doc["dcim.rackreservation"]
    assert (res["rack"], res["units"], res["tenant"], res["description"]) == ("R1", "1,2", "Ministry A", "db1")
    devices = {d["name"]: d for d in doc["dcim.device"]}
    assert devices["PPA"] == {
        "site": "DC1", "location": "Hall A", "name": "PPA", "role": "Patch panel", "manufacturer": "Generic",
        "device_type": "Patch panel", "status": "active",
    }  # fmt: skip
    assert devices["PPC"]["location"] == "Cage 2" and devices["SW2"]["role"] == "Switch"
    # each position a rear port of one position and the front port on it; 8P8C copper, LC fibre
    assert [r for r in doc["dcim.rearport"] if r["device"] == "PPC"] == [
        {"device": "PPC", "name": "R1", "type": "8p8c", "positions": "1"},
        {"device": "PPC", "name": "R2", "type": "8p8c", "positions": "1"},
    ]
    assert [r for r in doc["dcim.frontport"] if r["device"] == "PPA"][:2] == [
        {"device": "PPA", "name": "F1", "type": "lc", "rear_port": "R1", "rear_port_position": "1"},
        {"device": "PPA", "name": "F2", "type": "lc", "rear_port": "R2", "rear_port_position": "1"},
    ]
    assert len(doc["dcim.rearport"]) == len(doc["dcim.frontport"]) == 6
    # the cross-connect: a cable between two front ports of PPA (both ends in the rack's room)
    (cable,) = doc["dcim.cable"]
    assert cable == {
        "side_a_site": "DC1", "side_a_device": "PPA", "side_a_type": "dcim.frontport", "side_a_name": "F1",
        "side_b_site": "DC1", "side_b_device": "PPA", "side_b_type": "dcim.frontport", "side_b_name": "F2",
        "type": "", "status": "connected", "tenant": "Ministry A", "label": cable["label"],
        "description": f"fibre cross-connect of reservation {floor_reservation_id()} to ISP One",
    }  # fmt: skip
    assert cable["label"].startswith("XC")
    assert nb.to_csv(doc["dcim.cable"], "dcim.cable").splitlines()[0] == (
        "side_a_site,side_a_device,side_a_type,side_a_name,side_b_site,side_b_device,side_b_type,side_b_name,"
        "type,status,tenant,label,description"
    )
    assert nb.to_csv(doc["dcim.frontport"], "dcim.frontport").splitlines()[:2] == [
        "device,name,type,rear_port,rear_port_position",
        "PPA,F1,lc,R1,1",
    ]
    # a released cross-connect is no cable any more
    svc.reservation_release(SYSTEM, reservation_id=floor_reservation_id())
    assert nb.floor_export(SYSTEM)["dcim.cable"] == []
    text = nb.to_csv(doc["dcim.powerfeed"], "dcim.powerfeed")
    assert text.splitlines()[0] == (
        "site,power_panel,location,rack,name,status,type,supply,phase,voltage,amperage,max_utilization"
    )


def test_csv_round_trip(floor):
    """Export every object type as CSV, empty the floor, import the files in NetBox's order, export again."""
    before = nb.floor_export(SYSTEM)
    files = {t: nb.to_csv(rows, t) for t, rows in before.items() if t not in nb.EXPORT_ONLY}
    again = nb.floor_import(SYSTEM, document=nb.read_csv(files["dcim.rack"], "dcim.rack"))
    assert again == {"dcim.rack": {"added": 0, "existing": 3}}  # twice adds nothing
    _wipe_floor()
    assert _floor_rows() == 0
    for object_type, text in files.items():
        counts = nb.floor_import(SYSTEM, document=nb.read_csv(text, object_type))
        # a VLAN group is only its room; a rear port brought its front port (F<n>, as exported)
        assert counts[object_type]["existing"] == 0 or object_type in ("ipam.vlangroup", "dcim.frontport"), counts
    after = nb.floor_export(SYSTEM)
    assert {t: rows for t, rows in after.items() if t not in nb.EXPORT_ONLY} == {
        t: rows for t, rows in before.items() if t not in nb.EXPORT_ONLY
    }
    with db.unit_of_work() as s:
        assert svc.summary_drift(s) == []  # the imported racks' and feeds' capacity summaries are right
        c1 = s.scalars(select(Rack).where(Rack.name == "C1")).one()
        assert c1.feed_a_id and c1.feed_b_id and c1.free_run_u == 48


def test_json_round_trip_and_a_bad_row_refuses_the_file(floor):
    before = nb.floor_export(SYSTEM)
    text = nb.to_json(before)
    _wipe_floor()
    broken = json.loads(text)
    broken["dcim.rack"][1]["u_height"] = "99"
    with pytest.raises(Invalid) as e:
        nb.floor_import(SYSTEM, document=nb.read_json(json.dumps(broken)))
    assert e.value.key == "colocation.netbox_row_invalid" and e.value.params["row"] == 2
    assert e.value.text() == "dcim.rack row 2: height_u must be a whole number from 1 to 60."
    assert _floor_rows() == 0  # nothing half-applied
    counts = nb.floor_import(SYSTEM, document=nb.read_json(text))
    assert counts["dcim.site"] == {"added": 1, "existing": 0} and counts["dcim.interface"]["added"] == 6
    after = nb.floor_export(SYSTEM)
    assert {t: r for t, r in after.items() if t not in nb.EXPORT_ONLY} == {
        t: r for t, r in before.items() if t not in nb.EXPORT_ONLY
    }


def test_refusals(floor):
    cases = (
        ("dcim.rack", "site,location,name\nDC9,Hall A,R9\n", "There is no site DC9."),
        ("dcim.rack", "site,location,name\nDC1,Hall A\n", "name is missing."),
        ("dcim.interface", "device,name,type\nSW1,9,sonet-oc3\n", "The type is one of"),
        ("dcim.interface", "device,name,type,speed\nSW1,9,1000base-t,10\n", "A 1000base-t port runs at 1000000 kb/s."),
        ("dcim.device", "site,location,name,role\nDC1,Hall A,fw1,Firewall\n", "Only switches"),
        ("ipam.prefix", "prefix,scope_type,scope_name\n10.85.0.0/24,dcim.site,DC1\n", "overlaps"),
        ("dcim.powerfeed", "site,power_panel,name,phase\nDC1,PP1,X,two-phase\n", "single-phase or three-phase"),
        ("dcim.rearport", "device,name,type,positions\nPPA,R9,lc,2\n", "one front port on one rear port"),
        ("dcim.rearport", "device,name,type\nPPA,R9,8p8c\n", "PPA is a fibre patch panel; 8p8c is not."),
        ("dcim.rearport", "device,name,type\nPPA,R9,bnc\n", "The type is one of"),
        ("dcim.frontport", "device,name,type,rear_port\nPPA,F9,lc,R9\n", "There is no rear port R9."),
        ("dcim.frontport", "device,name,type,rear_port\nPPX,F9,lc,R1\n", "There is no patch panel PPX."),
        # R1 of PPA holds the ministry's cross-connect: its front port keeps its name
        ("dcim.frontport", "device,name,type,rear_port\nPPA,Front 1,lc,R1\n", "R1 of PPA has the front port F1"),
    )
    for object_type, text, message in cases:
        with pytest.raises(Invalid) as e:
            nb.floor_import(SYSTEM, document=nb.read_csv(text, object_type))
        assert message in e.value.text(), (object_type, e.value.text())
    with pytest.raises(Invalid) as e:
        nb.read_csv("name\nA,B\n", "dcim.site")
    assert e.value.key == "colocation.netbox_csv_invalid"
    with pytest.raises(Invalid) as e:
        nb.read_csv("name\nA\n", "dcim.rackreservation")
    assert e.value.key == "colocation.netbox_object_invalid"
    with pytest.raises(Invalid):
        nb.read_json("[1, 2]")
    with pytest.raises(Invalid) as e:
        nb.read_json('{"dcim.site": [{"name": "DC\\u0000"}]}')
    assert e.value.key == "colocation.netbox_control"
    with pytest.raises(Forbidden):
        nb.floor_import(floor.actor(floor.u.op1), document={"dcim.site": [{"name": "DC2"}]})
    with pytest.raises(Forbidden):
        nb.floor_export(floor.actor(floor.u.a))


def test_a_netbox_patch_panel_imports_file_by_file(floor):
    """A patch panel as NetBox's own files describe it (its device, then its rear ports, then its
    front ports named in NetBox's way), one object type per import: the panel, its positions and
    their front port names are on the floor; the same files again add nothing; a second front port
    on a named rear port is refused with nothing changed."""
    files = [
        ("dcim.device", "site,location,name,role,manufacturer,device_type,status\n"
                        "DC1,Cage 2,ODF-1,Patch panel,Acme,ODF 3,active\n"),
        ("dcim.rearport", "device,name,type,positions\nODF-1,Rear 1,lc-upc,1\nODF-1,Rear 2,lc-upc,1\n"
                          "ODF-1,Rear 3,lc-upc,1\n"),
        ("dcim.frontport", "device,name,type,rear_port,rear_port_position\nODF-1,Front 1,lc-upc,Rear 1,1\n"
                           "ODF-1,Front 2,lc-upc,Rear 2,1\nODF-1,Front 3,lc-upc,Rear 3,\n"),
    ]  # fmt: skip
    for object_type, text in files:
        assert nb.floor_import(SYSTEM, document=nb.read_csv(text, object_type))[object_type]["added"] >= 1
    with db.unit_of_work() as s:
        panel = s.scalars(select(PatchPanel).where(PatchPanel.name == "ODF-1")).one()
        ports = [
            (p.position, p.front_name, p.rear_name)
            for p in s.scalars(select(PatchPort).where(PatchPort.panel_id == panel.id).order_by(PatchPort.position))
        ]
        assert (panel.medium.value, panel.room.name) == ("fibre", "Cage 2")
    assert ports == [(1, "Front 1", "Rear 1"), (2, "Front 2", "Rear 2"), (3, "Front 3", "Rear 3")]
    for object_type, text in files:
        counts = nb.floor_import(SYSTEM, document=nb.read_csv(text, object_type))
        assert counts[object_type]["added"] == 0, counts
    exported = [r for r in nb.floor_export(SYSTEM)["dcim.frontport"] if r["device"] == "ODF-1"]
    assert exported[0] == {
        "device": "ODF-1", "name": "Front 1", "type": "lc", "rear_port": "Rear 1", "rear_port_position": "1"
    }  # fmt: skip
    with pytest.raises(Invalid) as e:
        nb.floor_import(
            SYSTEM, document=nb.read_csv("device,name,type,rear_port\nODF-1,Other,lc,Rear 2\n", "dcim.frontport")
        )
    assert e.value.text() == "dcim.frontport row 1: Rear 2 of ODF-1 has the front port Front 2 already."


def test_api_cli_web(app, client, csrf_off, cli, floor, api_token, tmp_path):
    hop, hadmin, ha = api_token(floor.u.op1), api_token(floor.u.admin), api_token(floor.u.a)
    r = client.get("/api/v1/colocation/netbox/export?format=csv&object=dcim.rack", headers=hop)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert next(csv.reader(io.StringIO(r.get_data(as_text=True))))[:3] == ["site", "location", "name"]
    assert client.get("/api/v1/colocation/netbox/export", headers=ha).status_code == 403
    body = {"format": "csv", "object": "dcim.location", "data": "site,name,slug,status\nDC1,Cage 9,cage-9,active\n"}
    assert client.post("/api/v1/colocation/netbox/import", json=body, headers=hop).status_code == 403
    r = client.post("/api/v1/colocation/netbox/import", json=body, headers=hadmin)
    assert r.status_code == 200 and r.get_json() == {"dcim.location": {"added": 1, "existing": 0}}
    r = client.post("/api/v1/colocation/netbox/import", json={**body, "object": "dcim.nothing"}, headers=hadmin)
    assert r.status_code == 422
    r = client.post("/api/v1/colocation/netbox/import", json={"data": "{"}, headers=hadmin)
    assert r.status_code == 422 and r.get_json()["key"] == "colocation.netbox_json_invalid"
    # CLI: export to a file, import it again (all existing)
    out = tmp_path / "floor.json"
    assert cli("colocation", "netbox-export", "--out", str(out)).exit_code == 0
    r = cli("colocation", "netbox-import", str(out))
    assert r.exit_code == 0 and "dcim.rack: 0 added, 3 existing" in cli_text(r), cli_text(r)
    rack_csv = tmp_path / "racks.csv"
    rack_csv.write_text("site,location,name,u_height\nDC1,Cage 9,Z1,12\n")
    r = cli("colocation", "netbox-import", str(rack_csv), "--object", "dcim.rack")
    assert r.exit_code == 0 and "dcim.rack: 1 added" in cli_text(r)
    r = cli("colocation", "netbox-import", str(rack_csv), "--object", "dcim.rack", "--as", "colo_op1")
    assert r.exit_code == 2
    # web: the floor page links the files; an admin uploads one
    web_login(app, client, floor.u.admin)
    page = client.get("/colocation/floor").get_data(as_text=True)
    assert "/colocation/floor/netbox?object=dcim.rack" in page
    r = client.get("/colocation/floor/netbox")
    assert r.status_code == 200 and json.loads(r.get_data(as_text=True))["dcim.site"][0]["name"] == "DC1"
    data = {"object": "dcim.site", "file": (io.BytesIO(b"name,slug,status\nDC7,dc7,active\n"), "sites.csv")}
    r = client.post("/colocation/floor/netbox", data=data, content_type="multipart/form-data")
    assert r.status_code == 302
    bad = {"object": "dcim.site", "file": (io.BytesIO(b"name\nbad;name\n"), "sites.csv")}
    r = client.post("/colocation/floor/netbox", data=bad, content_type="multipart/form-data")
    assert r.status_code == 422 and "dcim.site row 1" in r.get_data(as_text=True)
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(ColoSite)) == 2
