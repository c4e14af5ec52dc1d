"""The issue's named events that other capabilities' services write: remote database access granted,
revoked and expired, a database's quota (write) freeze and its lifting, and visitor access to the
data center (pass approved and revoked, check-in, check-out). Each entry is made by the real service
(or the real job completion handler), then rendered as the feed renders it: its own catalogue line
(not the catch-all configuration change), the values in the English and Khmer messages, the
ministry, and a valid event under the published schema, in an unbroken chain."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import jsonschema
from sqlalchemy import select

from panel import db
from panel.capabilities.colocation import visitors as vis
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases.jobs import _usage_done
from panel.capabilities.databases.models import Database, DbRemoteAccess, DbStatus, Engine
from panel.capabilities.databases.sweeps import remote_access_expire
from panel.capabilities.soc import catalogue
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.services import requests as req_svc
from panel.services.actor import system_actor
from provisioners.base import Result
from tests.capabilities.colocation.conftest import colo  # noqa: F401 - fixture

H = dt.timedelta(hours=1)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def _events() -> tuple[dict[str, list[dict]], list[dict]]:
    """Every audit entry as its feed event, by audit action, and the whole feed in chain order."""
    with db.unit_of_work() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        feed = [catalogue.event_of(r) for r in rows]
    by_action: dict[str, list[dict]] = {}
    for e in feed:
        by_action.setdefault(e["event"]["action"], []).append(e)
    return by_action, feed


def test_database_remote_access_and_quota_freeze_and_visitor_access_have_their_own_events(booted, colo):
    ministry, admin = colo.a, colo.actor(colo.u.a)
    with db.unit_of_work() as s:
        host = Host(
            name="db1", address="192.0.2.10", host_key_type="ssh-ed25519", host_key="AAAA", fingerprint="x",
            facts={"db_engines": ["mariadb"]},
        )  # fmt: skip
        host.roles, host.capacities = {"db"}, {"databases": 2}
        s.add(host)
        s.flush()
        name = f"mina{ministry.id}_soc"
        d = Database(
            org_id=ministry.id, host_id=host.id, engine=Engine.MARIADB, status=DbStatus.ACTIVE, name=name,
            size_mb=10, conn_limit=20,
        )  # fmt: skip
        s.add(d)
        s.flush()
        did = d.id
    until = (db.utcnow() + dt.timedelta(days=7)).date().isoformat()
    ask = {"database_id": did, "reason": "Ministry reporting office", "expires_at": until}

    # Remote access: granted (operator approves), one revoked by the ministry, one expired by the sweep.
    asked = {}
    for cidr in ("203.0.113.0/24", "198.51.100.0/24"):
        req = db_svc.db_remote_request(admin, **ask, cidr=cidr)
        asked[cidr] = req.payload["expires_at"]  # the end of the day asked for, as the request holds it
        req_svc.request_approve(colo.actor(colo.u.op1), req.id)
    with db.unit_of_work() as s:
        rows = {r.cidr: r.id for r in s.scalars(select(DbRemoteAccess))}
    db_svc.db_remote_revoke(admin, database_id=did, access_id=rows["203.0.113.0/24"])
    with db.unit_of_work() as s:
        s.get(DbRemoteAccess, rows["198.51.100.0/24"]).expires_at = db.utcnow() - dt.timedelta(minutes=1)
    assert remote_access_expire(system_actor("worker", "scheduler")) == [rows["198.51.100.0/24"]]

    # Quota freeze: the usage job's completion finds the database at its size limit, then below 90%.
    job = SimpleNamespace(params={"database_ids": [did]})
    for mb in (10, 3):
        with db.unit_of_work() as s:
            _usage_done(job, s, Result("successful", 0, data={"db_usage_mariadb": {name: int(mb * 2**20)}}))
    with db.unit_of_work() as s:
        assert s.get(Database, did).frozen_at is None  # frozen, then lifted

    # Visitor access: a signer names two visitors; DC staff approve, let one in and out, revoke the other.
    vis.signer_add(admin, org_id=ministry.id, username=colo.u.a.username)
    start = db.utcnow() - dt.timedelta(minutes=5)
    window = {"valid_from": _iso(start), "valid_until": _iso(start + 2 * H), "company": "Vendor Co"}
    passes = [
        vis.visitor_add(admin, org_id=ministry.id, full_name=who, id_number=number, **window)
        for who, number in (("Sok Dara", "N0123456"), ("Chan Sophea", "N0654321"))
    ]
    staff = colo.actor(colo.u.op1)
    for p in passes:
        vis.visitor_approve(staff, pass_id=p.id)
    vis.visit_check_in(staff, pass_id=passes[0].id)
    vis.visit_check_out(staff, pass_id=passes[0].id)
    vis.visitor_revoke(admin, pass_id=passes[1].id)

    events, feed = _events()
    expected = {
        "databases.remote_access_granted": ("govhost.database.remote_access_granted", 2),
        "databases.remote_access_revoked": ("govhost.database.remote_access_revoked", 1),
        "databases.remote_access_expired": ("govhost.database.remote_access_expired", 1),
        "databases.write_frozen": ("govhost.quota.freeze", 1),
        "databases.write_unfrozen": ("govhost.quota.freeze_lifted", 1),
        "colocation.visitor_approve": ("govhost.visitor.pass_approved", 2),
        "colocation.visitor_revoke": ("govhost.visitor.pass_revoked", 1),
        "colocation.visit_check_in": ("govhost.visitor.checked_in", 1),
        "colocation.visit_check_out": ("govhost.visitor.checked_out", 1),
    }
    for action, (code, n) in expected.items():
        got = events.get(action, [])
        assert [e["event"]["code"] for e in got] == [code] * n, action
        for e in got:
            assert e["organization"]["id"] == str(ministry.id), action
            assert "?" not in e["message"] and "?" not in e["govhost"]["message_km"], (action, e["message"])
            assert e["govhost"]["message_km"] != e["message"], action  # translated, not the English fallback

    granted = events["databases.remote_access_granted"][0]
    op = colo.u.op1.username  # the access opens when the data center approves it
    opened = f"{op} opened database {name} to the network 203.0.113.0/24 until {asked['203.0.113.0/24']}"
    assert granted["message"] == opened
    assert granted["event"]["severity"] == catalogue.WARNING and granted["event"]["category"] == ["database", "network"]
    expired = events["databases.remote_access_expired"][0]
    assert expired["message"] == f"The access of the network 198.51.100.0/24 to database {name} expired"
    assert "198.51.100.0/24" in expired["govhost"]["message_km"] and name in expired["govhost"]["message_km"]
    frozen = events["databases.write_frozen"][0]
    assert frozen["message"] == f"Database {name} is frozen for writing: 10 MB used of its 10 MB"
    assert (frozen["ocsf"]["class_uid"], frozen["ocsf"]["activity_name"]) == (3004, "Suspend")
    lifted = events["databases.write_unfrozen"][0]
    assert (lifted["ocsf"]["activity_name"], lifted["event"]["severity"]) == ("Resume", catalogue.NOTICE)
    inside = events["colocation.visit_check_in"][0]
    door = f"{op} let the holder of visitor pass {passes[0].id} into the data center"
    assert inside["message"] == door
    assert inside["event"]["type"] == ["start"] and events["colocation.visit_check_out"][0]["event"]["type"] == ["end"]
    assert not any("N0123456" in str(e) or "N0654321" in str(e) for e in feed), "ID numbers never reach the feed"

    schema = catalogue.schema()
    for e in feed:
        jsonschema.validate(e, schema, format_checker=jsonschema.FormatChecker())
    assert catalogue.check_sequence(feed) == []
