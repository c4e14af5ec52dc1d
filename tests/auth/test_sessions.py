"""Logout ends the session on the server, and "log out everywhere" for oneself or for a user one
manages (web, API, CLI): a cookie copied before either no longer opens the panel from any client."""

from __future__ import annotations

import pytest

from panel.models.tenants import Role
from tests.auth.conftest import csrf_from, login, now_code, post_form
from tests.support.surfaces import api_headers


def _logged_in(app, username: str, secret: str = ""):
    """A browser after a full login; returns (client, the session cookie's value)."""
    client = app.test_client()
    r = login(client, username)
    if secret:
        assert r.headers["Location"] == "/twofa"
        r = post_form(client, "/twofa", {"code": now_code(secret)})
    assert r.status_code == 302 and client.get("/").status_code == 200
    return client, client.get_cookie("govhost_session").value


def _opens_dashboard(app, cookie: str) -> bool:
    """The copied cookie, sent from another client (an attacker's, say)."""
    other = app.test_client()
    other.set_cookie("govhost_session", cookie)
    return other.get("/").status_code == 200


def test_a_cookie_kept_from_before_logout_is_refused(app, booted, webmaster):
    client, cookie = _logged_in(app, "webmaster")
    assert _opens_dashboard(app, cookie)
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/").get_data(as_text=True))})
    assert not _opens_dashboard(app, cookie)
    assert _logged_in(app, "webmaster")  # and a new login works


def test_logout_ends_the_users_other_sessions_too(app, booted, webmaster):
    _phone, phone_cookie = _logged_in(app, "webmaster")
    laptop, _ = _logged_in(app, "webmaster")
    laptop.post("/logout", data={"csrf_token": csrf_from(laptop.get("/").get_data(as_text=True))})
    assert not _opens_dashboard(app, phone_cookie)


def test_logout_before_the_second_factor_does_not_end_the_real_users_sessions(app, booted, staff_admin):
    """Someone who has only the password must not be able to log the real user out."""
    _, cookie = _logged_in(app, "dcadmin", staff_admin.plain_secret)
    half = app.test_client()
    assert login(half, "dcadmin").headers["Location"] == "/twofa"
    half.post("/logout", data={"csrf_token": csrf_from(half.get("/twofa").get_data(as_text=True))})
    assert _opens_dashboard(app, cookie)


def test_admin_logs_a_user_out_everywhere_on_the_web(app, booted, make, dc, webmaster, staff_admin):
    _, cookie = _logged_in(app, "webmaster")
    admin, _ = _logged_in(app, "dcadmin", staff_admin.plain_secret)
    page = admin.get(f"/users/{webmaster.id}")
    assert "Log out everywhere" in page.get_data(as_text=True)
    r = admin.post(f"/users/{webmaster.id}/end-sessions", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert r.status_code == 302
    assert not _opens_dashboard(app, cookie)
    assert admin.get("/").status_code == 200  # the admin's own session is untouched


def test_api_ends_a_users_sessions_and_ones_own(app, booted, make, dc, ministry_a, webmaster):
    _, cookie = _logged_in(app, "webmaster")
    client = app.test_client()
    org_admin = make.make_user(Role.ORG_ADMIN, ministry_a, username="orgadmin")
    r = client.post(f"/api/v1/users/{org_admin.id}/end-sessions", headers=api_headers(webmaster))
    assert r.status_code == 403  # a webmaster manages no one
    r = client.post(f"/api/v1/users/{webmaster.id}/end-sessions", headers=api_headers(org_admin))
    assert r.status_code == 200 and r.get_json()["username"] == "webmaster"
    assert not _opens_dashboard(app, cookie)

    _, cookie = _logged_in(app, "webmaster")
    read = client.post("/api/v1/me/end-sessions", headers=api_headers(webmaster, scope="read"))
    assert read.status_code == 403 and _opens_dashboard(app, cookie)
    own = api_headers(webmaster)
    assert client.post("/api/v1/me/end-sessions", headers=own).status_code == 200
    assert not _opens_dashboard(app, cookie)
    assert client.get("/api/v1/me", headers=own).status_code == 200  # tokens are not sessions


def test_other_ministry_cannot_end_a_users_sessions(app, booted, make, ministry_b, webmaster):
    _, cookie = _logged_in(app, "webmaster")
    other_admin = make.make_user(Role.ORG_ADMIN, ministry_b)
    r = app.test_client().post(f"/api/v1/users/{webmaster.id}/end-sessions", headers=api_headers(other_admin))
    assert r.status_code == 404
    assert _opens_dashboard(app, cookie)


@pytest.mark.parametrize("as_user", [None, "webmaster"])
def test_cli_logs_a_user_out_everywhere(app, booted, cli, webmaster, as_user):
    _, cookie = _logged_in(app, "webmaster")
    args = ["users", "end-sessions", "webmaster", *(["--as", as_user] if as_user else [])]
    result = cli(*args)
    assert result.exit_code == 0 and "logged out everywhere" in result.output
    assert not _opens_dashboard(app, cookie)
