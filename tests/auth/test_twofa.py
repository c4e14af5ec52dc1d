"""The TOTP second factor: forced enrolment for staff, codes from pyotp, replay, recovery codes."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from panel.errors import Forbidden, Invalid, TooManyAttempts, Unauthorized
from panel.models.tenants import Role
from panel.services import auth as auth_svc
from tests.auth.conftest import audit_rows, csrf_from, login, now_code, post_form, reload_user
from tests.support.factories import PASSWORD

PAGES = ("/", "/users/", "/tokens/", "/profile", "/password", "/audit/")


def test_staff_without_totp_reaches_only_the_enrolment_page(client, make, dc):
    make.make_user(Role.OPERATOR, dc, username="operator1")
    r = login(client, "operator1")
    assert r.headers["Location"] == "/enrol"
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"] == "/enrol", path
    assert client.get("/enrol").status_code == 200
    assert client.get("/twofa").headers["Location"] == "/enrol"


def test_enrolment_with_a_real_authenticator_code_then_login(client, make, dc):
    user = make.make_user(Role.AUDITOR, dc, username="auditor1")
    login(client, "auditor1")
    page = client.get("/enrol").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "<svg" in page and "otpauth" not in page.split("<svg", 1)[0][-200:]
    assert client.get("/enrol").get_data(as_text=True).count(secret) == 1  # a reload keeps the same secret
    bad = post_form(client, "/enrol", {"code": "000000"})
    assert bad.status_code == 422
    r = post_form(client, "/enrol", {"code": now_code(secret)})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li>([0-9a-f]{6}-[0-9a-f]{6})</li>", r.get_data(as_text=True))
    assert len(codes) == 10
    assert client.get("/").status_code == 200  # the second factor is done for this session
    stored = reload_user(user.id)
    assert stored.totp_enabled and secret not in stored.totp_secret  # sealed, not plain
    assert all(c not in stored.recovery_codes for c in codes) and stored.recovery_codes.count("$argon2id$") == 10
    assert audit_rows("auth.totp_enrol") and secret not in " ".join(e.summary for e in audit_rows())

    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    assert login(client, "auditor1").headers["Location"] == "/twofa"
    assert client.get("/").headers["Location"] == "/twofa"
    # The enrolment code's time step is spent: use the next step's code (one step of drift is allowed).
    totp = pyotp.TOTP(secret)
    next_code = totp.at(int(time.time()) + 30)
    r = post_form(client, "/twofa", {"code": next_code})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_replayed_code_is_refused(booted, staff_admin):
    code = now_code(staff_admin.plain_secret)
    assert auth_svc.login_second_factor(staff_admin.id, code, client_addr="10.1.1.1").id == staff_admin.id
    with pytest.raises(Unauthorized) as e:
        auth_svc.login_second_factor(staff_admin.id, code, client_addr="10.1.1.1")
    assert e.value.key == "auth.code_invalid"
    assert audit_rows("auth.login_failed")[-1].summary == '{"reason":"second_factor","username":"dcadmin"}'


def test_recovery_code_works_once(booted, staff_admin, make):
    actor = make.actor_of(make.make_user(Role.WEBMASTER, username="wm2"))
    secret, uri, svg = auth_svc.totp_begin_enrolment(actor)
    assert uri.startswith("otpauth://totp/govhost:wm2?") and svg.startswith("<svg")
    _user, codes = auth_svc.totp_confirm_enrolment(actor, secret=secret, code=now_code(secret))
    user_id = actor.user_id
    assert auth_svc.login_second_factor(user_id, codes[3].upper()).id == user_id
    with pytest.raises(Unauthorized):
        auth_svc.login_second_factor(user_id, codes[3])
    assert auth_svc.login_second_factor(user_id, codes[4]).id == user_id
    assert len(reload_user(user_id).recovery_codes.splitlines()) == 8


def test_second_factor_failures_lock_the_account(booted, staff_admin):
    for _ in range(booted.auth.max_failures_per_account):
        with pytest.raises(Unauthorized):
            auth_svc.login_second_factor(staff_admin.id, "123456", client_addr="10.2.2.2")
    with pytest.raises(TooManyAttempts):
        auth_svc.login_second_factor(staff_admin.id, now_code(staff_admin.plain_secret), client_addr="10.2.2.3")
    assert len(audit_rows("auth.lockout")) == 1


def test_a_right_password_does_not_reset_second_factor_failures(booted, staff_admin):
    """Password, wrong codes, password again, more wrong codes: the count goes on until the lock."""
    limit = booted.auth.max_failures_per_account
    for attempt in range(limit):
        auth_svc.login_password("dcadmin", PASSWORD, client_addr=f"10.3.3.{attempt}")
        with pytest.raises(Unauthorized):
            auth_svc.login_second_factor(staff_admin.id, "123456", client_addr=f"10.3.3.{attempt}")
    with pytest.raises(TooManyAttempts):
        auth_svc.login_password("dcadmin", PASSWORD, client_addr="10.3.4.1")
    with pytest.raises(TooManyAttempts):
        auth_svc.login_second_factor(staff_admin.id, now_code(staff_admin.plain_secret), client_addr="10.3.4.1")


def test_the_count_resets_after_the_whole_login(booted, staff_admin):
    limit = booted.auth.max_failures_per_account
    for _ in range(limit - 1):
        with pytest.raises(Unauthorized):
            auth_svc.login_second_factor(staff_admin.id, "123456", client_addr="10.4.4.4")
    auth_svc.login_password("dcadmin", PASSWORD, client_addr="10.4.4.5")
    assert auth_svc.login_second_factor(staff_admin.id, now_code(staff_admin.plain_secret), client_addr="10.4.4.5")
    for _ in range(limit - 1):  # a fresh count: as many wrong codes again before the lock
        with pytest.raises(Unauthorized):
            auth_svc.login_second_factor(staff_admin.id, "123456", client_addr="10.4.4.6")


def test_web_second_factor_guesses_across_logins_lock_the_account(app, booted, staff_admin):
    limit = booted.auth.max_failures_per_account
    for _ in range(limit):
        client = app.test_client()  # a new browser each time, like an attacker starting over
        assert login(client, "dcadmin").headers["Location"] == "/twofa"
        assert post_form(client, "/twofa", {"code": "000000"}).status_code in (401, 422)
    assert login(app.test_client(), "dcadmin").status_code == 429


def test_staff_cannot_turn_2fa_off_but_a_ministry_user_can(booted, staff_admin, make):
    with pytest.raises(Forbidden) as e:
        auth_svc.totp_disable(make.actor_of(staff_admin), password="correct horse battery staple 1")
    assert e.value.key == "auth.2fa_required"
    secret = pyotp.random_base32()
    wm = make.make_user(Role.WEBMASTER, username="wm3", totp_secret=secret)
    with pytest.raises(Invalid) as e:
        auth_svc.totp_disable(make.actor_of(wm), password="wrong password 12")
    assert e.value.key == "user.password_wrong"
    auth_svc.totp_disable(make.actor_of(wm), password="correct horse battery staple 1")
    assert not reload_user(wm.id).totp_enabled
