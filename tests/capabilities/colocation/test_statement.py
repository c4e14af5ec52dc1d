"""The monthly statement: the reservations a ministry held during the month (with what they were
granted, even after release, and the days held) and its visits; km/en on the web, API, CLI; a
ministry reads only its own."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from panel import db
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import statement as st
from panel.capabilities.colocation.models import PassStatus, Reservation, Visit, VisitorPass
from panel.errors import Invalid, NotFound
from panel.services import requests as req_svc
from panel.services.actor import system_actor
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login

UTC = dt.UTC


def _at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def _visit(pass_id: int, org_id: int, inn: dt.datetime, out: dt.datetime | None = None) -> Visit:
    return Visit(pass_id=pass_id, org_id=org_id, checked_in_at=inn, checked_out_at=out, checked_in_by="op")


def _grant(colo, who="a", **spec) -> int:
    spec = {"u_count": 2, "max_w": 400, **spec}
    req = svc.colocation_request(colo.actor(getattr(colo.u, who)), org_id=getattr(colo, who).id, **spec)
    req_svc.request_approve(colo.actor(colo.u.op1), req.id)
    return max(r.id for r in svc.reservation_list(colo.actor(getattr(colo.u, who))).items)


@pytest.fixture
def month(colo):
    """November 2026 for ministry A: a reservation held all month, one held 10-25 November then
    released, one taken in December; visits in November (one still inside) and one in October; B's."""
    svc.patch_panel_create(system_actor(), room_id=colo.floor.room.id, name="PPA", ports=6)  # 3 cross-connects
    whole = _grant(colo, u_count=2, max_w=400, ports=2, ipv4=1, cross_connects=3, label="db1")
    part = _grant(colo, u_count=1, max_w=300, ports=1, ipv4=2, ipv6=1, label="web1")
    later = _grant(colo, u_count=1, max_w=100, label="next")
    other = _grant(colo, "b", u_count=1, max_w=100, label="b-only")
    svc.reservation_release(colo.actor(colo.u.op1), reservation_id=part)
    times = {
        whole: (_at(2026, 10, 20), None),
        part: (_at(2026, 11, 10), _at(2026, 11, 25)),
        later: (_at(2026, 12, 2), None),
        other: (_at(2026, 11, 1), None),
    }
    with db.unit_of_work() as s:
        for rid, (created, released) in times.items():
            s.execute(update(Reservation).where(Reservation.id == rid).values(created_at=created, released_at=released))
        passes = {}
        for org in (colo.a, colo.b):
            p = VisitorPass(
                org_id=org.id,
                full_name=f"Engineer of {org.name}",
                id_number="P1234567",
                company="Vendor Co",
                valid_from=_at(2026, 10, 1),
                valid_until=_at(2026, 12, 31),
                status=PassStatus.APPROVED,
                signer_name="x",
            )
            s.add(p)
            s.flush()
            passes[org.id] = p.id
        a, b = passes[colo.a.id], passes[colo.b.id]
        s.add_all(
            [
                _visit(a, colo.a.id, _at(2026, 11, 3, 9), _at(2026, 11, 3, 11, 30)),
                _visit(a, colo.a.id, _at(2026, 11, 30, 23)),  # still inside
                _visit(a, colo.a.id, _at(2026, 10, 31, 23), _at(2026, 11, 1, 1)),  # October's
                _visit(b, colo.b.id, _at(2026, 11, 5, 9), _at(2026, 11, 5, 10)),
            ]
        )
    return colo


def test_the_month(month):
    colo = month
    x = st.statement_get(colo.actor(colo.u.a), org_id=colo.a.id, month="2026-11")
    assert [ln.label for ln in x.lines] == ["db1", "web1"]
    db1, web1 = x.lines
    assert (db1.days, db1.ports, db1.addresses, db1.cross_connects, db1.released) == (30.0, 2, 1, 3, False)
    assert (web1.days, web1.ports, web1.addresses, web1.released) == (15.0, 1, 3, True)  # kept after release
    assert (x.units, x.contracted_w, x.ports, x.addresses, x.cross_connects) == (3, 700, 3, 4, 3)
    assert x.unit_days == 2 * 30 + 15
    assert x.visit_count == 2 and [v.hours for v in x.visits] == [2.5, None]  # one still inside
    assert x.visitor_hours == 2.5
    assert x.visits[0].company == "Vendor Co" and not hasattr(x.visits[0], "id_number")
    december = st.statement_get(colo.actor(colo.u.a), org_id=colo.a.id, month="2026-12")
    assert [ln.label for ln in december.lines] == ["db1", "next"] and december.visit_count == 0
    assert st.statement_get(colo.actor(colo.u.op1), org_id=colo.b.id, month="2026-11").units == 1  # staff: any
    with pytest.raises(NotFound):
        st.statement_get(colo.actor(colo.u.b), org_id=colo.a.id, month="2026-11")
    for bad in ("2026-13", "26-11", "november", "2026-1"):
        with pytest.raises(Invalid) as e:
            st.statement_get(colo.actor(colo.u.a), org_id=colo.a.id, month=bad)
        assert e.value.key == "colocation.month_invalid"
    assert st.month_bounds("2026-12")[1:] == (_at(2026, 12, 1), _at(2027, 1, 1))


def test_surfaces(app, client, cli, month, api_token):
    colo = month
    r = client.get(f"/api/v1/colocation/statement/{colo.a.id}?month=2026-11", headers=api_token(colo.u.a))
    body = r.get_json()
    assert r.status_code == 200 and (body["units"], body["contracted_w"], body["visit_count"]) == (3, 700, 2)
    assert body["lines"][1]["released"] is True and body["unit_days"] == 75.0
    r = client.get(f"/api/v1/colocation/statement/{colo.a.id}?month=2026-11", headers=api_token(colo.u.b))
    assert r.status_code == 404
    r = client.get(f"/api/v1/colocation/statement/{colo.a.id}?month=11-2026", headers=api_token(colo.u.a))
    assert r.status_code == 422
    out = " ".join(
        cli_text(
            cli("colocation", "statement", "--org", str(colo.a.id), "--month", "2026-11", "--as", "colo_a")
        ).split()
    )
    assert "total: 3 U, 0.70 kW contracted, 3 ports, 4 addresses, 3 cross-connects, 75.00 unit-days; 2 visits" in out
    r = cli("colocation", "statement", "--org", str(colo.a.id), "--month", "2026-11", "--as", "colo_b")
    assert r.exit_code == 2
    web_login(app, client, colo.u.a)
    page = client.get(f"/colocation/statement/{colo.a.id}?month=2026-11").get_data(as_text=True)
    assert "Ministry A, 2026-11" in page and "db1" in page and "Vendor Co" in page and "75 unit-days" in page
    assert "P1234567" not in page  # the ID number stays at the door
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "km"
    km = client.get(f"/colocation/statement/{colo.a.id}?month=2026-11").get_data(as_text=True)
    assert "របាយការណ៍ប្រចាំខែ" in km and "ថាមពលតាមកិច្ចសន្យា (kW)" in km
    bad = client.get(f"/colocation/statement/{colo.a.id}?month=2026-13")
    assert bad.status_code == 422 and "YYYY-MM" in bad.get_data(as_text=True)
    assert client.get(f"/colocation/statement/{colo.b.id}?month=2026-11").status_code == 404
    r = client.get("/colocation/statement?month=2026-11")  # A's only organization
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/colocation/statement/{colo.a.id}?month=2026-11")
