"""Password login through the web form (CSRF on): success, failures, lockout, sessions, cookies."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from sqlalchemy import select, update

from panel import db
from panel.errors import TooManyAttempts, Unauthorized
from panel.models.users import LoginThrottle
from panel.services import auth as auth_svc
from tests.auth.conftest import audit_rows, csrf_from, login, post_form
from tests.support.factories import PASSWORD


def test_login_success_reaches_dashboard_and_is_audited(client, webmaster):
    r = login(client, "webmaster")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "webmaster" in page.get_data(as_text=True)
    entry = audit_rows("auth.login")[-1]
    assert entry.action == "auth.login" and entry.actor_name == "webmaster" and entry.surface == "web"
    assert entry.client_addr == "127.0.0.1"


def test_wrong_password_and_unknown_user_give_the_same_answer(client, webmaster):
    wrong = login(client, "webmaster", "not the password 9")
    unknown = login(client, "nobody-here", "not the password 9")
    assert wrong.status_code == unknown.status_code == 401
    text = "The username or password is not right."
    assert text in wrong.get_data(as_text=True) and text in unknown.get_data(as_text=True)
    with pytest.raises(Unauthorized) as e1:
        auth_svc.login_password("webmaster", "bad password 99", client_addr="10.9.9.9")
    with pytest.raises(Unauthorized) as e2:
        auth_svc.login_password("ghost", "bad password 99", client_addr="10.9.9.9")
    assert e1.value.key == e2.value.key == "auth.invalid_credentials"
    failed = audit_rows("auth.login_failed")
    assert len(failed) == 4 and {f.object_type for f in failed} == {"security"}


def test_lockout_per_account_then_unlock_after_the_lockout(booted, webmaster):
    n = booted.auth.max_failures_per_account
    for i in range(n):  # each from another address: the account counter alone locks
        with pytest.raises(Unauthorized):
            auth_svc.login_password("webmaster", f"wrong password {i}", client_addr=f"10.0.0.{i + 1}")
    with pytest.raises(TooManyAttempts) as e:
        auth_svc.login_password("webmaster", PASSWORD, client_addr="10.0.1.1")
    assert e.value.key == "auth.locked" and e.value.status == 429
    lock = audit_rows("auth.lockout")
    assert len(lock) == 1 and '"locked":"user"' in lock[0].summary and '"subject":"webmaster"' in lock[0].summary
    assert len(audit_rows("auth.login_failed")) == n
    with db.unit_of_work() as s:  # the lockout ends
        s.execute(update(LoginThrottle).values(locked_until=db.utcnow() - dt.timedelta(seconds=1)))
    assert auth_svc.login_password("webmaster", PASSWORD, client_addr="10.0.1.1").username == "webmaster"
    with db.unit_of_work() as s:  # and a success resets the account's counter
        row = s.get(LoginThrottle, "user:webmaster")
        assert row.failures == 0 and row.locked_until is None


def test_lockout_per_address_spans_accounts(booted, make, webmaster):
    other = make.make_user(username="someone")
    limit = booted.auth.max_failures_per_address
    for i in range(limit):  # spread over many names so no account reaches its own limit
        with pytest.raises(Unauthorized):
            auth_svc.login_password(f"guess{i}", "wrong password 1", client_addr="192.0.2.7")
    for name in ("webmaster", other.username):
        with pytest.raises(TooManyAttempts):
            auth_svc.login_password(name, PASSWORD, client_addr="192.0.2.7")
    assert auth_svc.login_password("webmaster", PASSWORD, client_addr="192.0.2.8").username == "webmaster"
    lock = audit_rows("auth.lockout")
    assert len(lock) == 1 and '"locked":"addr"' in lock[0].summary and lock[0].client_addr == "192.0.2.7"


def test_locked_account_shows_429_on_the_login_page(client, booted, webmaster):
    with db.unit_of_work() as s:
        s.add(LoginThrottle(key="user:webmaster", failures=9, locked_until=db.utcnow() + dt.timedelta(minutes=5)))
    r = login(client, "webmaster")
    assert r.status_code == 429 and "Too many failed attempts" in r.get_data(as_text=True)


def test_passwords_never_reach_the_audit_log(client, webmaster):
    login(client, "webmaster", "Secret-Wrong-Guess-77")
    login(client, "webmaster")
    post_form(
        client,
        "/password",
        {"old_password": PASSWORD, "new_password": "Brand-New-Pass-2024", "confirm": "Brand-New-Pass-2024"},
    )
    everything = " ".join(e.summary for e in audit_rows())
    assert audit_rows("user.password_change")
    for secret in ("Secret-Wrong-Guess-77", PASSWORD, "Brand-New-Pass-2024"):
        assert secret not in everything


def test_csrf_is_required_on_every_form(client, webmaster):
    r = client.post("/login", data={"username": "webmaster", "password": PASSWORD})
    assert r.status_code == 400
    assert login(client, "webmaster").status_code == 302
    assert client.post("/logout").status_code == 400  # logged in, but no token: refused
    assert client.post("/language", data={"locale": "km"}).status_code == 400
    assert client.get("/").status_code == 200


def test_logout_needs_post_and_ends_the_session(client, webmaster):
    login(client, "webmaster")
    assert client.get("/logout").status_code == 405
    html = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_from(html)}).status_code == 302
    assert client.get("/").status_code == 302


def test_session_expires(app, client, webmaster):
    app.config["PERMANENT_SESSION_LIFETIME"] = dt.timedelta(seconds=1)
    login(client, "webmaster")
    cookie = client.get_cookie("govhost_session")
    assert cookie is not None and cookie.expires is not None
    assert client.get("/").status_code == 200
    time.sleep(2.1)
    # Send the old cookie by hand: the server itself must refuse it, not only the browser drop it.
    fresh = app.test_client()
    fresh.set_cookie("govhost_session", cookie.value)
    r = fresh.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_secure_cookie_flags(booted, webmaster):
    import dataclasses

    from panel.app import create_app

    settings = dataclasses.replace(booted, web=dataclasses.replace(booted.web, secure_cookies=True))
    app = create_app(settings)
    client = app.test_client()
    html = client.get("/login", base_url="https://panel.test").get_data(as_text=True)
    r = client.post(
        "/login",
        base_url="https://panel.test",
        headers={"Referer": "https://panel.test/login"},
        data={"username": "webmaster", "password": PASSWORD, "csrf_token": csrf_from(html)},
    )
    assert r.status_code == 302
    header = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("govhost_session=")][-1]
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header and "Expires=" in header


def test_must_change_password_is_forced_then_cleared(client, booted, make, ministry_a):
    from panel.services import users as users_svc

    admin = make.make_user("org_admin", ministry_a, username="minadmin")
    _user, otp = users_svc.user_create(
        make.actor_of(admin),
        username="newbie",
        email="newbie@example.gov.kh",
        full_name="New Bie",
        org_id=ministry_a.id,
        role="webmaster",
    )
    r = login(client, "newbie", otp)
    assert r.headers["Location"] == "/password"
    assert client.get("/").headers["Location"] == "/password"
    bad = post_form(
        client, "/password", {"old_password": otp, "new_password": "aaaaaaaaaaaaaaa", "confirm": "aaaaaaaaaaaaaaa"}
    )
    assert bad.status_code == 422 and "Mix at least two kinds" in bad.get_data(as_text=True)
    ok = post_form(
        client, "/password", {"old_password": otp, "new_password": "Fresh-Own-Pass-1", "confirm": "Fresh-Own-Pass-1"}
    )
    assert ok.status_code == 302, ok.get_data(as_text=True)[-1500:]
    assert client.get("/").status_code == 200  # still logged in, no longer forced
    with db.unit_of_work() as s:
        assert s.scalars(select(LoginThrottle)).all() == []


def test_open_redirect_is_refused(client, webmaster):
    html = client.get("/login?next=//evil.example/x").get_data(as_text=True)
    r = client.post(
        "/login",
        data={"username": "webmaster", "password": PASSWORD, "next": "//evil.example/x", "csrf_token": csrf_from(html)},
    )
    assert r.headers["Location"] == "/"


def test_hostile_login_input_never_500(client, webmaster):
    for value in ("", "x" * 300, "a\x00b", "{{ 7*7 }}", "; id", "../", "ក្រសួង", "line\nbreak"):
        r = login(client, value, value or "x")
        assert r.status_code in (401, 422, 429), (value, r.status_code)  # 429: the address is locked
        # {{ 7*7 }} never rendered: no 49 anywhere but in the random CSRF token (which may hold one)
        assert "49" not in re.sub(r"<input[^>]*csrf_token[^>]*>", "", r.get_data(as_text=True))
