"""Token authentication is cached per process for a bounded time, and a read writes nothing.

The bound (tokens_svc.AUTH_CACHE_SECONDS, stated in docs/security.md) is how long another process's
revocation, a deactivated account or a changed role may take to reach this one; in the process that
made the change it takes effect at once.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import create_engine, event, select, update

from panel import db
from panel.models.tenants import Role
from panel.models.users import ApiToken, User
from panel.services import tokens as tokens_svc
from tests.auth.test_tokens import bearer


@pytest.fixture
def org_admin(make, ministry_a):
    return make.make_user(Role.ORG_ADMIN, ministry_a, username="orgadmin")


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved forward by the test."""
    now = [1000.0]
    monkeypatch.setattr(tokens_svc, "_clock", lambda: now[0])
    return now


def _elsewhere(booted, stmt) -> None:
    """A change made by another process: its own engine, so this process hears nothing of it."""
    engine = create_engine(booted.database.url)
    try:
        with engine.begin() as conn:
            conn.execute(stmt)
    finally:
        engine.dispose()


def test_revocation_elsewhere_takes_effect_within_the_bound(booted, client, make, org_admin, clock):
    token, plain = tokens_svc.token_create(make.actor_of(org_admin), name="ci", scope="read", days=3)
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    _elsewhere(booted, update(ApiToken).where(ApiToken.id == token.id).values(revoked_at=db.utcnow()))
    clock[0] += tokens_svc.AUTH_CACHE_SECONDS / 2
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200  # cached: not asked again
    clock[0] += tokens_svc.AUTH_CACHE_SECONDS / 2 + 0.01
    resp = client.get("/api/v1/me", headers=bearer(plain))
    assert resp.status_code == 401 and resp.get_json()["key"] == "auth.token_invalid"
    clock[0] -= 100  # and it stays refused: a refused token is not cached as valid
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 401


def test_deactivation_elsewhere_takes_effect_within_the_bound(booted, client, make, org_admin, clock):
    _token, plain = tokens_svc.token_create(make.actor_of(org_admin), name="ci", scope="read", days=3)
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    _elsewhere(booted, update(User).where(User.id == org_admin.id).values(is_active=False))
    clock[0] += tokens_svc.AUTH_CACHE_SECONDS + 0.01
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 401


def test_revocation_in_this_process_takes_effect_at_once(client, make, org_admin, clock):
    a = make.actor_of(org_admin)
    token, plain = tokens_svc.token_create(a, name="ci", scope="read", days=3)
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    tokens_svc.token_revoke(a, token.id)
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 401


def test_a_cached_token_does_not_outlive_its_expiry(booted, client, make, org_admin, clock):
    token, plain = tokens_svc.token_create(make.actor_of(org_admin), name="ci", scope="read", days=3)
    soon = db.utcnow() + dt.timedelta(seconds=2)
    with db.unit_of_work() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token.id).values(expires_at=soon))
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    clock[0] += 2.5
    while db.utcnow() <= soon:  # the database's clock past the expiry (asleep: a busy loop cost 2 s of CPU)
        time.sleep(max((soon - db.utcnow()).total_seconds(), 0) + 0.01)
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 401


def test_an_api_read_writes_nothing_and_takes_no_write_lock(client, make, org_admin, clock):
    token, plain = tokens_svc.token_create(make.actor_of(org_admin), name="ci", scope="write", days=3)
    assert client.get("/api/v1/sites/", headers=bearer(plain)).status_code == 200
    with db.unit_of_work() as s:
        first_use = s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token.id))
    assert first_use is not None  # the first use is recorded (in a transaction of its own)
    db.remove()
    sent = []
    engine = db.engine()
    listener = lambda conn, cur, stmt, *a: sent.append(stmt)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for _ in range(3):
            assert client.get("/api/v1/sites/", headers=bearer(plain)).status_code == 200
            assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    verbs = [s.split(None, 1)[0].upper() for s in sent]
    assert not {"INSERT", "UPDATE", "DELETE"} & set(verbs), sent
    assert "BEGIN IMMEDIATE" not in [s.strip().upper() for s in sent], sent  # SQLite's write lock
    assert "api_tokens" not in " ".join(sent)  # authentication came from the cache
    with db.unit_of_work() as s:
        assert s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token.id)) == first_use


def test_last_used_moves_when_a_minute_has_passed(client, make, org_admin, clock):
    token, plain = tokens_svc.token_create(make.actor_of(org_admin), name="ci", scope="read", days=3)
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    old = db.utcnow() - dt.timedelta(minutes=5)
    with db.unit_of_work() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=old))
    clock[0] += tokens_svc.AUTH_CACHE_SECONDS + 0.01
    assert client.get("/api/v1/me", headers=bearer(plain)).status_code == 200
    with db.unit_of_work() as s:
        assert s.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token.id)) > old + dt.timedelta(minutes=4)


def test_a_read_that_tries_to_write_is_refused(booted):
    s = db.read_only_session()
    s.add(User(username="x", email="x@example.invalid", password_hash="!"))
    with pytest.raises(db.ReadOnlyViolation):
        s.flush()
    db.remove()
