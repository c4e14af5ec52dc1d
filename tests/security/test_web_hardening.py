"""Web hardening across the whole url_map: CSRF on every state-changing route, local-only redirects,
a fresh session at login, and the security headers on every kind of answer."""

from __future__ import annotations

import pytest

from tests.auth.conftest import csrf_from, login
from tests.security.conftest import snapshot
from tests.security.test_isolation_matrix import WORLD_IDS, _fill
from tests.support.surfaces import web_login

HOSTILE_NEXT = [
    "//evil.example",
    "//evil.example/x",
    "https://evil.example",
    "http://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "///evil.example",
    "/\r\nSet-Cookie: x=1",
]


def test_every_web_post_route_needs_the_csrf_token(world, app, client):
    """As a data-center admin (who may do everything), no POST without the token changes anything."""
    WORLD_IDS.clear()
    WORLD_IDS.update(world.ids, b_org=world.b.id)
    web_login(app, client, world.admin)
    before = snapshot()
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods and not r.rule.startswith("/api/")]
    assert len(posts) > 40
    for rule in posts:
        url = _fill(
            rule.rule, rule.arguments and _choice(rule.rule), lambda name: WORLD_IDS.get(name, "sites.site_create")
        )
        r = client.post(url, data={"comment": "x", "name": "x"})
        assert r.status_code == 400, (url, r.status_code)
    assert snapshot() == before


def _choice(rule: str) -> str | None:
    return rule.split("any(", 1)[1].split(",", 1)[0].strip() if "any(" in rule else None


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_login_next_is_local_only(client, world, target):
    html = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in html or 'value="' + target not in html
    r = client.post(
        "/login",
        data={
            "username": "a_web",
            "password": "correct horse battery staple 1",
            "next": target,
            "csrf_token": csrf_from(html),
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == "/", r.headers["Location"]


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_language_switch_next_is_local_only(app, client, world, target):
    web_login(app, client, world.a_web)
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    r = client.post("/language", data={"locale": "en", "next": target, "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/", r.headers["Location"]


def test_anonymous_redirect_to_login_keeps_a_local_next(client, world):
    r = client.get("//evil.example/sites/")
    loc = r.headers.get("Location", "")
    assert "evil.example" not in loc.split("?")[0]


def test_login_starts_a_fresh_session(client, world):
    """Session fixation: nothing planted before the login survives it."""
    with client.session_transaction() as sess:
        sess["planted"] = "attacker"
        sess["mfa_ok"] = True
        sess["next"] = "//evil.example"
    assert login(client, "a_web").status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess.get("_user_id")
        assert sess.get("next", "") == ""
    r = client.get("/")
    assert r.status_code == 200


@pytest.mark.parametrize(
    "path", ["/login", "/", "/sites/987654", "/api/v1/sites/", "/api/v1/nope", "/static/css/govhost.css"]
)
def test_security_headers_on_every_kind_of_answer(app, client, world, path):
    web_login(app, client, world.a_web)
    r = client.get(path)
    r.close()
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[-1].split(";")[0]
    assert "frame-ancestors 'none'" in csp or r.headers["X-Frame-Options"] == "DENY"


def test_error_pages_do_not_leak_internals(app, client, world):
    web_login(app, client, world.a_web)
    for path in ("/sites/99999999999999999999999", "/requests/abc", "/jobs/-1"):
        r = client.get(path)
        text = r.get_data(as_text=True)
        assert r.status_code in (404, 405) and "Traceback" not in text and "sqlalchemy" not in text.lower(), path
