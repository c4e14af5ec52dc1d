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
