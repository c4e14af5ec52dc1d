"""API tokens: shown once, stored hashed, expiry, revocation, read scope, /me, every surface."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from panel import db, security
from panel.errors import Forbidden, Invalid, NotFound
from panel.models.tenants import Role
from panel.models.users import ApiToken
from panel.services import tokens as tokens_svc
from tests.auth.conftest import audit_rows, login, post_form


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def org_admin(make, ministry_a):
    return make.make_user(Role.ORG_ADMIN, ministry_a, username="orgadmin")


def _token(make, user, scope="write", days=30):
    # An actor, not the User row: a refused request rolls back the (shared, thread-local) session,
    # which expires every object loaded in it, the factory's too.
    a = user if hasattr(user, "can_write") else make.actor_of(user)
    return tokens_svc.token_create(a, name="ci", scope=scope, days=days)


def test_token_is_stored_hashed_and_works_once_created(client, make, org_admin):
    token, plaintext = _token(make, org_admin)
    with db.unit_of_work() as s:
        row = s.get(ApiToken, token.id)
        assert row.token_hash == security.token_digest(plaintext) and plaintext not in row.token_hash
        assert row.prefix == plaintext[:10]
    r = client.get("/api/v1/me", headers=bearer(plaintext))
    assert r.status_code == 200 and r.json["username"] == "orgadmin" and r.json["token_scope"] == "write"
    listed = client.get("/api/v1/tokens/", headers=bearer(plaintext)).json
    assert listed["total"] == 1 and "token" not in listed["items"][0] and plaintext not in str(listed)
    assert plaintext not in " ".join(e.summary for e in audit_rows())


def test_unknown_expired_revoked_tokens_get_401(client, make, org_admin):
    org_admin = make.actor_of(org_admin)
    _t, plaintext = _token(make, org_admin)
    for bad in ("gh_" + "x" * 43, "nonsense", plaintext + "x"):
        r = client.get("/api/v1/me", headers=bearer(bad))
        assert r.status_code == 401 and r.json["key"] == "auth.token_invalid"
        assert r.mimetype == "application/problem+json"
    assert client.get("/api/v1/me").json["key"] == "auth.token_required"
    with db.unit_of_work() as s:
        s.execute(update(ApiToken).values(expires_at=db.utcnow() - dt.timedelta(seconds=1)))
    assert client.get("/api/v1/me", headers=bearer(plaintext)).json["key"] == "auth.token_invalid"
    _t2, second = _token(make, org_admin)
    assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200
    other = client.get("/api/v1/tokens/", headers=bearer(second)).json["items"][0]["id"]
    assert client.delete(f"/api/v1/tokens/{other}", headers=bearer(second)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(second)).json["key"] == "auth.token_invalid"


def test_read_scope_cannot_write(client, make, org_admin, ministry_a):
    _t, read = _token(make, org_admin, scope="read")
    assert client.get("/api/v1/users/", headers=bearer(read)).status_code == 200
    r = client.post(
        "/api/v1/users/",
        headers=bearer(read),
        json={"username": "viaapi", "email": "v@example.gov.kh", "org_id": ministry_a.id, "role": "webmaster"},
    )
    assert r.status_code == 403 and r.json["key"] == "auth.read_only"
    r = client.post("/api/v1/tokens/", headers=bearer(read), json={"name": "more", "scope": "write"})
    assert r.status_code == 403 and r.json["key"] == "auth.read_only"
    _t, write = _token(make, org_admin, scope="write")
    r = client.post(
        "/api/v1/users/",
        headers=bearer(write),
        json={"username": "viaapi", "email": "v@example.gov.kh", "org_id": ministry_a.id, "role": "webmaster"},
    )
    assert r.status_code == 201 and len(r.json["one_time_password"]) == 20


def test_api_token_create_returns_plaintext_once(client, make, org_admin):
    _t, write = _token(make, org_admin)
    r = client.post("/api/v1/tokens/", headers=bearer(write), json={"name": "deploy", "scope": "read", "days": 7})
    assert r.status_code == 201 and r.json["token"].startswith("gh_") and r.json["scope"] == "read"
    assert client.get("/api/v1/me", headers=bearer(r.json["token"])).json["token_scope"] == "read"
    again = client.get("/api/v1/tokens/", headers=bearer(write)).json
    assert r.json["token"] not in str(again)
    too_long = client.post("/api/v1/tokens/", headers=bearer(write), json={"name": "x", "scope": "read", "days": 9999})
    assert too_long.status_code == 422 and too_long.json["key"] == "token.days_invalid"


def test_expiry_limit_and_validation(booted, make, org_admin):
    a = make.actor_of(org_admin)
    for kwargs, key in (
        ({"days": booted.auth.token_max_days + 1}, "token.days_invalid"),
        ({"days": 0}, "token.days_invalid"),
        ({"name": "a\x00b"}, "token.name_invalid"),
        ({"scope": "admin"}, "token.scope_invalid"),
    ):
        args = {"name": "ok", "scope": "read", "days": 10, **kwargs}
        with pytest.raises(Invalid) as e:
            tokens_svc.token_create(a, **args)
        assert e.value.key == key
    token, _p = tokens_svc.token_create(a, name="ok", scope="read", days=10)
    left = token.expires_at - db.utcnow()
    assert dt.timedelta(days=9, hours=23) < left <= dt.timedelta(days=10)


def test_auditor_gets_only_read_tokens_and_staff_token_needs_no_totp(client, make, dc):
    auditor = make.make_user(Role.AUDITOR, dc, username="aud", totp_secret="JBSWY3DPEHPK3PXP")
    with pytest.raises(Forbidden) as e:
        _token(make, auditor, scope="write")
    assert e.value.key == "token.write_not_allowed"
    _t, read = _token(make, auditor, scope="read")
    assert client.get("/api/v1/users/", headers=bearer(read)).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(client, make, org_admin):
    token, plaintext = _token(make, org_admin)
    client.get("/api/v1/me", headers=bearer(plaintext))
    with db.unit_of_work() as s:
        first = s.get(ApiToken, token.id).last_used_at
    client.get("/api/v1/me", headers=bearer(plaintext))
    with db.unit_of_work() as s:
        s.expire_all()
        assert first is not None and s.get(ApiToken, token.id).last_used_at == first


def test_other_users_token_is_404_to_revoke(booted, make, org_admin, webmaster):
    token, _p = _token(make, org_admin)
    with pytest.raises(NotFound):
        tokens_svc.token_revoke(make.actor_of(webmaster), token.id)


def test_web_token_pages_show_the_token_once(client, make, webmaster):
    login(client, "webmaster")
    r = post_form(client, "/tokens/", {"name": "laptop", "scope": "read", "days": "30"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    plaintext = re.search(r'id="api-token">(gh_[^<]+)<', r.get_data(as_text=True)).group(1)
    listing = client.get("/tokens/").get_data(as_text=True)
    assert "laptop" in listing and plaintext not in listing and plaintext[:10] in listing
    with db.unit_of_work() as s:
        token_id = s.scalars(select(ApiToken.id)).one()
    r = post_form(client, f"/tokens/{token_id}/revoke", {}, page="/tokens/")
    assert r.status_code == 302
    assert client.get("/api/v1/me", headers=bearer(plaintext)).status_code == 401


def test_cli_tokens_create_list_revoke(cli, make, webmaster):
    r = cli("tokens", "create", "webmaster", "--name", "backup", "--scope", "read", "--days", "5")
    assert r.exit_code == 0, r.output
    plaintext = re.search(r"(gh_[A-Za-z0-9_-]+)", r.output).group(1)
    listed = cli("tokens", "list")
    assert "backup" in listed.output and plaintext not in listed.output
    with db.unit_of_work() as s:
        token_id = s.scalars(select(ApiToken.id)).one()
    assert cli("tokens", "revoke", str(token_id)).exit_code == 0
    missing = cli("tokens", "revoke", "99999")
    assert missing.exit_code == 2 and "Not found" in missing.output
