"""Visitor access: signers named by the ministry admin, passes named by a signer (temporary ones at
most 24 hours), approved by DC staff, expired by their window or by inactivity (at the door at once,
written down by the sweep), visits logged in and out; all audited, the ID number never in the log;
a ministry sees only its own visitors on every surface."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.colocation import visitors as vis
from panel.capabilities.colocation.models import PassStatus, VisitorPass
from panel.errors import Conflict, Forbidden, Invalid, NotFound, PanelError
from panel.models.audit import AuditEntry
from tests.hosts.conftest import api_token  # noqa: F401 - fixture
from tests.support.surfaces import cli_text, web_login

H = dt.timedelta(hours=1)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def _signer(colo, who="a"):
    org, user = getattr(colo, who), getattr(colo.u, who)
    vis.signer_add(colo.actor(user), org_id=org.id, username=user.username)


def _pass(colo, who="a", *, hours=2, temporary=False, start=None):
    start = start or db.utcnow() - dt.timedelta(minutes=5)
    return vis.visitor_add(
        colo.actor(getattr(colo.u, who)),
        org_id=getattr(colo, who).id,
        full_name="Sok Dara",
        id_number="N0123456",
        company="Vendor Co",
        valid_from=_iso(start),
        valid_until=_iso(start + hours * H),
        temporary=temporary,
    )


def _set(pass_id, **values):
    with db.unit_of_work() as s:
        p = s.get(VisitorPass, pass_id)
        for k, v in values.items():
            setattr(p, k, v)


def test_signer_names_staff_approve_door_logs(colo):
    with pytest.raises(Forbidden) as e:
        _pass(colo)
    assert e.value.key == "colocation.not_signer"
    _signer(colo)
    with pytest.raises(PanelError) as e:  # a ministry cannot name another's member, nor a stranger
        vis.signer_add(colo.actor(colo.u.a), org_id=colo.a.id, username="colo_b")
    assert e.value.key == "colocation.signer_not_member"
    p = _pass(colo)
    assert p.status == PassStatus.PENDING
    with pytest.raises(PanelError) as e:
        vis.visit_check_in(colo.actor(colo.u.op1), pass_id=p.id)
    assert e.value.key == "colocation.pass_not_approved"
    with pytest.raises(Forbidden):
        vis.visitor_approve(colo.actor(colo.u.a), pass_id=p.id)
    vis.visitor_approve(colo.actor(colo.u.op1), pass_id=p.id)
    visit = vis.visit_check_in(colo.actor(colo.u.op2), pass_id=p.id)
    with pytest.raises(Conflict) as e:
        vis.visit_check_in(colo.actor(colo.u.op2), pass_id=p.id)
    assert e.value.key == "colocation.already_inside"
    vis.visit_check_out(colo.actor(colo.u.op2), pass_id=p.id)
    visits = vis.visit_list(colo.actor(colo.u.a), pass_id=p.id).items
    assert [v.id for v in visits] == [visit.id] and visits[0].checked_out_at is not None
    with db.unit_of_work() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action.like("colocation.%"))).all()
    actions = [e.action for e in entries]
    for action in ("signer_add", "visitor_add", "visitor_approve", "visit_check_in", "visit_check_out"):
        assert f"colocation.{action}" in actions
    assert not any("N0123456" in (e.summary or "") for e in entries), "the ID number never enters the audit log"


def test_window_rules(colo):
    _signer(colo)
    with pytest.raises(Invalid) as e:
        _pass(colo, hours=25, temporary=True)
    assert e.value.key == "colocation.temporary_too_long"
    assert _pass(colo, hours=24, temporary=True).temporary
    with pytest.raises(Invalid) as e:
        _pass(colo, hours=-1)
    assert e.value.key == "colocation.window_invalid"
    with pytest.raises(Invalid) as e:
        _pass(colo, hours=1, start=db.utcnow() - 3 * H)
    assert e.value.key == "colocation.window_past"
    with pytest.raises(Invalid) as e:
        _pass(colo, hours=24 * 400)
    assert e.value.key == "colocation.window_too_long"
    with pytest.raises(Invalid) as e:
        vis.visitor_add(
            colo.actor(colo.u.a), org_id=colo.a.id, full_name="X", id_number="12; rm", valid_from="x", valid_until="y"
        )
    assert e.value.key == "colocation.time_invalid"
    future = _pass(colo, start=db.utcnow() + 5 * H)
    vis.visitor_approve(colo.actor(colo.u.op1), pass_id=future.id)
    with pytest.raises(Conflict) as e:
        vis.visit_check_in(colo.actor(colo.u.op1), pass_id=future.id)
    assert e.value.key == "colocation.pass_not_yet"


def test_passes_expire_by_window_and_by_inactivity(colo):
    _signer(colo)
    ended, idle, fine = _pass(colo), _pass(colo, hours=24 * 300), _pass(colo, hours=24 * 300)
    for p in (ended, idle, fine):
        vis.visitor_approve(colo.actor(colo.u.op1), pass_id=p.id)
    now = db.utcnow()
    _set(ended.id, valid_from=now - 5 * H, valid_until=now - H)
    _set(idle.id, decided_at=now - dt.timedelta(days=vis.INACTIVE_DAYS + 1))
    # the door refuses both at once, before any sweep
    for p, reason in ((ended, "window"), (idle, "inactive")):
        with pytest.raises(Conflict) as e:
            vis.visit_check_in(colo.actor(colo.u.op1), pass_id=p.id)
        assert e.value.key == "colocation.pass_expired" and e.value.params["reason"] == reason
    # the sweep writes it down (and audits it); the pass in use stays
    assert sorted(vis.passes_expire(vis_system())) == sorted([ended.id, idle.id])
    with db.unit_of_work() as s:
        got = {p.id: (p.status, p.expired_reason) for p in s.scalars(select(VisitorPass))}
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "colocation.visitor_expire")).all()
    assert got[ended.id] == (PassStatus.EXPIRED, "window") and got[idle.id] == (PassStatus.EXPIRED, "inactive")
    assert got[fine.id] == (PassStatus.APPROVED, "")
    assert vis.passes_expire(vis_system()) == []
    # a visit keeps a pass alive: inactivity counts from the last visit
    vis.visit_check_in(colo.actor(colo.u.op1), pass_id=fine.id)
    _set(fine.id, decided_at=now - dt.timedelta(days=200))
    assert vis.passes_expire(vis_system()) == []


def vis_system():
    from panel.services.actor import system_actor

    return system_actor("worker", "scheduler")


def test_revoke_and_isolation(colo):
    _signer(colo)
    _signer(colo, "b")
    mine, theirs = _pass(colo), _pass(colo, "b")
    a = colo.actor(colo.u.a)
    assert [p.id for p in vis.visitor_list(a).items] == [mine.id]
    for fn in (vis.visitor_revoke, vis.visitor_approve, vis.visit_check_in):
        with pytest.raises(NotFound):
            fn(a, pass_id=theirs.id)
    with pytest.raises(NotFound):
        vis.visitor_get(a, theirs.id)
    vis.visitor_revoke(a, pass_id=mine.id)
    with pytest.raises(Conflict):
        vis.visitor_approve(colo.actor(colo.u.op1), pass_id=mine.id)


def test_surfaces(app, client, csrf_off, colo, api_token, cli):
    _signer(colo)
    _signer(colo, "b")
    theirs = _pass(colo, "b")
    # web: the signer names a visitor; bad input is a message beside the field
    web_login(app, client, colo.u.a)
    page = client.get("/colocation/visitors").get_data(as_text=True)
    assert "Name a visitor" in page and "Sok Dara" not in page
    start = db.utcnow()
    form = {
        "org_id": colo.a.id,
        "full_name": "Chan Sophea",
        "id_number": "P7654321",
        "company": "",
        "valid_from": _iso(start),
        "valid_until": _iso(start + 30 * H),
        "temporary": "y",
    }
    bad = client.post("/colocation/visitors", data=form)
    assert bad.status_code == 422 and "A temporary pass lasts at most 24 hours." in bad.get_data(as_text=True)
    ok = client.post("/colocation/visitors", data={**form, "valid_until": _iso(start + 8 * H)})
    assert ok.status_code == 302
    assert client.get(f"/colocation/visitors/{theirs.id}").status_code == 404
    assert client.post(f"/colocation/visitors/{theirs.id}/revoke").status_code == 404
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "km"
    assert "អ្នកទស្សនា" in client.get("/colocation/visitors").get_data(as_text=True)
    # API
    ha, hb, hop = api_token(colo.u.a), api_token(colo.u.b), api_token(colo.u.op1)
    body = {**form, "full_name": "Keo Rith", "valid_until": _iso(start + 8 * H), "temporary": True}
    r = client.post("/api/v1/colocation/visitors", json=body, headers=ha)
    assert r.status_code == 201 and r.get_json()["status"] == "pending"
    pid = r.get_json()["id"]
    assert client.get(f"/api/v1/colocation/visitors/{pid}", headers=hb).status_code == 404
    assert client.post(f"/api/v1/colocation/visitors/{pid}/approve", headers=hb).status_code == 404
    assert client.post(f"/api/v1/colocation/visitors/{pid}/approve", headers=ha).status_code == 403
    assert client.post(f"/api/v1/colocation/visitors/{pid}/approve", headers=hop).get_json()["status"] == "approved"
    r = client.post(f"/api/v1/colocation/visitors/{pid}/check_in", headers=hop)
    assert r.status_code == 200 and r.get_json()["checked_out_at"] is None
    r = client.post("/api/v1/colocation/visitors", json={**body, "id_number": "<script>"}, headers=ha)
    assert r.status_code == 422 and r.get_json()["key"] == "colocation.id_number_invalid"
    assert client.get("/api/v1/colocation/visitors", headers=hb).get_json()["total"] == 1
    # CLI
    r = cli("colocation", "visitor-approve", str(theirs.id), "--as", "colo_a")
    assert r.exit_code == 2 and "colo_visitor_pass.not_found" in cli_text(r)
    r = cli("colocation", "visitor-approve", str(theirs.id), "--as", "colo_op2")
    assert r.exit_code == 0, cli_text(r)
    r = cli("colocation", "visitor-add", "--org", str(colo.a.id), "--name", "Lim Chea", "--id-number", "AB12345",
            "--from", _iso(start), "--until", _iso(start + 48 * H), "--temporary", "--as", "colo_a")  # fmt: skip
    assert r.exit_code == 2 and "at most 24 hours" in cli_text(r)
    assert "Keo Rith" in cli_text(cli("colocation", "visitors", "--as", "colo_a"))
