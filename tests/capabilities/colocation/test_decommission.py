"""Decommission of a colocation reservation: a request (the ministry's admins, DC staff) that DC
staff approve; approval retires the reservation's servers (a handed-over server's host is deleted
from govhost's inventory by the core), frees its units, power, switch and patch-panel ports and
addresses and the ministry's budget, all audited; refused with nothing changed while the host still
holds a site; a ministry cannot touch another's reservation on any surface."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from panel import db
from panel.capabilities.colocation import servers as srv
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import (
    AddressAllocation,
    ColoServer,
    CrossConnect,
    Management,
    PatchPort,
    Reservation,
    ServerStatus,
    SwitchPort,
    UnitClaim,
)
from panel.errors import Conflict, NotFound, PanelError
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.requests import RequestStatus
from panel.services import quotas
from panel.services import requests as req_svc
from tests.capabilities.colocation.conftest import SYSTEM
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.factories import make_host, make_site
from tests.support.surfaces import cli_text, web_login


@pytest.fixture
def held(colo):
    """Ministry A's reservation holding 2 U, 400 W on A+B, 2 switch ports, 2 IPv4 addresses and one
    cross-connect, with two servers: one handed over (a host in the inventory), one still at the dock."""
    svc.patch_panel_create(SYSTEM, room_id=colo.floor.room.id, name="PPA", ports=4)
    req = svc.colocation_request(
        colo.actor(colo.u.a), org_id=colo.a.id, u_count=2, max_w=400, psus=2, ab_feeds=True, ports=2, ipv4=2,
        cross_connects=1, label="db",
    )  # fmt: skip
    req_svc.request_approve(colo.actor(colo.u.op1), req.id)
    res = svc.reservation_list(colo.actor(colo.u.a)).items[0]
    op = colo.actor(colo.u.op1)
    enrolled = srv.server_receive(op, reservation_id=res.id, name="db1", address="10.85.0.250")
    srv.server_receive(op, reservation_id=res.id, name="db2", address="10.85.0.251")
    # hand-over reads a real host's key (test_enrolment_lab.py); here its outcome is set directly
    host = make_host("db1", address="10.85.0.250")
    with db.unit_of_work() as s:
        s.execute(
            update(ColoServer)
            .where(ColoServer.id == enrolled.id)
            .values(status=ServerStatus.HANDED_OVER, host_id=host.id, management=Management.CUSTOMER)
        )
    colo.res_id, colo.host_id, colo.host = res.id, host.id, host
    return colo


def _counts(res_id: int) -> dict[str, int]:
    with db.unit_of_work() as s:

        def n(stmt):
            return s.scalar(select(func.count()).select_from(stmt.subquery()))

        return {
            "units": n(select(UnitClaim).where(UnitClaim.reservation_id == res_id)),
            "ports": n(select(SwitchPort).where(SwitchPort.reservation_id == res_id)),
            "patch": n(select(PatchPort).where(PatchPort.reservation_id == res_id)),
            "addresses": n(select(AddressAllocation).where(AddressAllocation.reservation_id == res_id)),
        }


def _usage(colo) -> dict[str, int]:
    return {q.resource: q.used for q in quotas.quota_usage(colo.actor(colo.u.a), colo.a.id)}


def test_decommission_retires_servers_and_frees_everything(held):
    c = held
    assert _counts(c.res_id) == {"units": 2, "ports": 2, "patch": 2, "addresses": 2}
    assert _usage(c)["colo_units"] == 2
    req = srv.decommission_request(c.actor(c.u.a), reservation_id=c.res_id, reason="end of contract")
    assert req.status == RequestStatus.SUBMITTED and req.kind == "colocation.reservation_decommission"
    with pytest.raises(Conflict) as e:  # one at a time
        srv.decommission_request(c.actor(c.u.a), reservation_id=c.res_id)
    assert e.value.key == "colocation.decommission_pending"
    with pytest.raises(NotFound):  # another ministry cannot tell it exists
        srv.decommission_request(c.actor(c.u.b), reservation_id=c.res_id)
    with pytest.raises(NotFound):
        req_svc.request_create(
            c.actor(c.u.b), kind=svc.DECOMMISSION, org_id=c.b.id, payload={"reservation_id": c.res_id}
        )
    # nothing happens before the approval
    assert _counts(c.res_id)["units"] == 2
    done = req_svc.request_approve(c.actor(c.u.op1), req.id)
    assert done.status == RequestStatus.DONE
    assert _counts(c.res_id) == {"units": 0, "ports": 0, "patch": 0, "addresses": 0}
    usage = _usage(c)
    assert (usage["colo_units"], usage["colo_power_w"], usage["colo_ports"], usage["colo_addresses"]) == (0, 0, 0, 0)
    with db.unit_of_work() as s:
        res = s.get(Reservation, c.res_id)
        assert res.status.value == "released" and res.released_at is not None
        assert s.get(Host, c.host_id) is None  # out of govhost's inventory
        servers = {x.name: x for x in s.scalars(select(ColoServer))}
        assert {n: x.status for n, x in servers.items()} == {"db1": ServerStatus.RETIRED, "db2": ServerStatus.RETIRED}
        assert servers["db1"].retired_host == "db1" and servers["db1"].host_id is None
        assert servers["db2"].retired_host == "" and servers["db2"].retired_at is not None
        assert s.scalar(select(func.count()).select_from(CrossConnect).where(CrossConnect.released_at.is_(None))) == 0
        actions = [
            (a, t, o)
            for a, t, o in s.execute(
                select(AuditEntry.action, AuditEntry.object_type, AuditEntry.object_id).order_by(AuditEntry.seq)
            )
        ]
    assert len([a for a, _, _ in actions if a == "colocation.server_retire"]) == 2
    assert ("host.delete", "host", str(c.host_id)) in actions
    assert ("colocation.reservation_decommission", "colo_reservation", str(c.res_id)) in actions
    # the floor takes it all again; a decommissioned reservation cannot be decommissioned again
    with pytest.raises(Conflict) as e:
        srv.decommission_request(c.actor(c.u.a), reservation_id=c.res_id)
    assert e.value.key == "colocation.reservation_released"
    with pytest.raises(PanelError) as e:
        srv.server_advance(c.actor(c.u.op1), server_id=servers["db2"].id, status="racked")
    assert e.value.key == "request.invalid_transition"
    again = svc.colocation_request(c.actor(c.u.b), org_id=c.b.id, u_count=10, max_w=400, ports=4, ipv4=5)
    req_svc.request_approve(c.actor(c.u.op1), again.id)


def test_a_host_still_in_use_refuses_the_decommission_and_changes_nothing(held):
    c = held
    make_site(c.a, "shop.gov.test", host=c.host)
    req = srv.decommission_request(c.actor(c.u.a), reservation_id=c.res_id)
    with pytest.raises(Conflict) as e:
        req_svc.request_approve(c.actor(c.u.op1), req.id)
    assert e.value.key == "colocation.server_in_use"
    assert e.value.text() == (
        "db1 still holds sites or other objects as a govhost host; move them before the decommission."
    )
    assert _counts(c.res_id) == {"units": 2, "ports": 2, "patch": 2, "addresses": 2}
    with db.unit_of_work() as s:
        assert s.get(Host, c.host_id) is not None
        assert s.get(Reservation, c.res_id).status.value == "active"
        assert {x.status for x in s.scalars(select(ColoServer))} == {ServerStatus.HANDED_OVER, ServerStatus.RECEIVED}
        assert s.scalar(select(func.count()).where(AuditEntry.action == "colocation.server_retire")) == 0
    assert req_svc.request_get(c.actor(c.u.a), req.id).status == RequestStatus.SUBMITTED


def test_surfaces(app, client, csrf_off, cli, held, api_token):
    c = held
    res_id, a_id, b_id = c.res_id, c.a.id, c.b.id
    op, who_a, who_b = c.actor(c.u.op1), c.actor(c.u.a), c.actor(c.u.b)
    user_a = SimpleNamespace(id=c.u.a.id)  # web_login reads the id only (the rows detach as requests end)
    ha, hb = api_token(c.u.a), api_token(c.u.b)
    url = f"/api/v1/colocation/reservations/{res_id}/decommission"
    assert client.post(url, json={}, headers=hb).status_code == 404
    assert client.post(url, json={"reason": "x" * 101}, headers=ha).status_code == 422
    r = client.post(url, json={"reason": "moved out"}, headers=ha)
    assert r.status_code == 202 and r.get_json()["status"] == "submitted"
    r = client.post(url, json={}, headers=ha)
    assert r.status_code == 409 and r.get_json()["key"] == "colocation.decommission_pending"
    req_svc.request_approve(op, r_id := _last_request())
    assert req_svc.request_get(who_a, r_id).status == RequestStatus.DONE
    server = client.get("/api/v1/colocation/servers?per_page=10", headers=ha).get_json()["items"]
    assert {x["status"] for x in server} == {"retired"} and {x["retired_host"] for x in server} == {"db1", ""}
    # CLI: B's reservation (granted now), another's refused, a missing one refused
    b_req = svc.colocation_request(who_b, org_id=b_id, u_count=1, max_w=100)
    req_svc.request_approve(op, b_req.id)
    b_res = svc.reservation_list(who_b).items[0].id
    r = cli("colocation", "decommission", str(b_res), "--as", "colo_a")
    assert r.exit_code == 2 and "Not found" in cli_text(r)
    r = cli("colocation", "decommission", str(b_res), "--reason", "done", "--as", "colo_b")
    assert r.exit_code == 0 and "submitted" in cli_text(r)
    # web: the reservation page offers it to the ministry; a second ask is refused with the reason
    c_req = svc.colocation_request(who_a, org_id=a_id, u_count=1, max_w=100)
    req_svc.request_approve(op, c_req.id)
    a_res = svc.reservation_list(who_a).items[0].id
    web_login(app, client, user_a)
    page = client.get(f"/colocation/reservations/{a_res}").get_data(as_text=True)
    assert "Ask to decommission" in page
    r = client.post(f"/colocation/reservations/{a_res}/decommission", data={"reason": "bye"})
    assert r.status_code == 302 and "/requests/" in r.headers["Location"]
    r = client.post(f"/colocation/reservations/{a_res}/decommission", data={"reason": "bye"})
    assert r.status_code == 409 and "waiting for approval already" in r.get_data(as_text=True)
    assert client.post(f"/colocation/reservations/{b_res}/decommission", data={}).status_code == 404
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "km"
    km = client.get(f"/colocation/reservations/{a_res}").get_data(as_text=True)
    assert "Ask to decommission" not in km


def _last_request() -> int:
    from panel.models.requests import Request

    with db.unit_of_work() as s:
        return s.scalar(select(func.max(Request.id)))
