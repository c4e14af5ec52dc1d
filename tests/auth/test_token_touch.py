"""An API call that carries both a token and a web session cookie (a browser's own fetch, a fuzz
client) must not wait on itself: the cookie's user is loaded first by this request's session, which
on SQLite holds the write lock the token's last-used touch needs. It answered 503 after 30 s."""

from __future__ import annotations

from panel.models.tenants import OrgKind, Role
from tests.support.surfaces import api_headers, web_login


def test_api_post_with_token_and_web_cookie_answers(app, make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    user = make.make_user(Role.ADMIN, dc)
    client = app.test_client()
    web_login(app, client, user)
    resp = client.post("/api/v1/audit/verify", headers=api_headers(user))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["ok"] is True


def test_the_api_neither_reads_nor_writes_the_web_session(app, make):
    """API requests get Flask's null session: a logged-in browser's cookie is not a credential there
    (401 without a token), and no answer of the API sets or refreshes the cookie."""
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    user = make.make_user(Role.ADMIN, dc)
    client = app.test_client()
    web_login(app, client, user)
    assert client.get("/").status_code == 200  # the cookie opens the web panel
    resp = client.get("/api/v1/sites")
    assert resp.status_code == 401 and resp.get_json()["key"] == "auth.token_required"
    assert "Set-Cookie" not in resp.headers
    resp = client.get("/api/v1/sites", headers=api_headers(user, "read"))
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers
    from flask import session
    from flask.sessions import NullSession

    cookie = client.get_cookie("govhost_session")
    environ = {"HTTP_COOKIE": f"govhost_session={cookie.value}"}
    with app.test_request_context("/api/v1/sites", environ_base=environ):
        assert isinstance(session._get_current_object(), NullSession)  # writing to it raises
    with app.test_request_context("/", environ_base=environ):
        assert session.get("_user_id")  # the same cookie on a web page: the logged-in session
