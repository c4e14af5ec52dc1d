"""A read-only API token changes nothing: every mutating operation in the OpenAPI document (POST, PUT,
PATCH, DELETE), called with a read token on objects its owner may change, answers 403 auth.read_only
and leaves every table as it was. The operations come from the document itself, so an endpoint added
later is covered the day it is added. The same rule holds in the services the web and CLI call."""

from __future__ import annotations

import dataclasses
import re

import pytest

from panel import boot
from panel.capabilities.mail import service as mail_svc
from panel.errors import Forbidden
from panel.models.users import TokenScope
from panel.services import notifications as notifications_svc
from panel.services.actor import actor_for_user
from tests.security.conftest import snapshot
from tests.security.test_isolation_matrix import API_BODY
from tests.support.surfaces import api_headers

MUTATING = ("post", "put", "patch", "delete")
# POSTs that only compute (checked below: a read token gets 200 and nothing changes).
CHANGE_NOTHING = {"POST /api/v1/audit/verify"}
PATH_PARAM = re.compile(r"\{(\w+)\}")


def mutating_operations(spec: dict):
    for path, ops in sorted(spec["paths"].items()):
        for method, op in sorted(ops.items()):
            if method in MUTATING and f"{method.upper()} {path}" not in CHANGE_NOTHING:
                yield method.upper(), path, op


def _body_for(op: dict) -> dict:
    """A body that passes validation where the isolation matrix knows one (else empty)."""
    return API_BODY.get(op.get("operationId", ""), {})


@pytest.mark.parametrize("who", ["a_admin", "admin"])
def test_every_mutating_operation_refuses_a_read_token(world, app, client, who):
    spec = client.get("/api/v1/openapi.json").get_json()
    headers = api_headers(getattr(world, who), scope="read")
    ids = {**world.ids, "b_org": world.b.id}
    before = snapshot()
    failures, seen = [], 0
    bodies = {f"{m} {p}": b for m, p, b in _known_bodies(app)}
    for method, path, op in mutating_operations(spec):
        seen += 1
        url = PATH_PARAM.sub(lambda m: str(ids.get(m.group(1), 1)), path)
        body = bodies.get(f"{method} {path}", _body_for(op))
        resp = client.open(url, method=method, json=body, headers=headers)
        key = (resp.get_json(silent=True) or {}).get("key")
        if resp.status_code != 403 or key != "auth.read_only":
            failures.append(f"{method} {url}: {resp.status_code} {key}")
        after = snapshot()
        if after != before:
            failures.append(f"{method} {url}: changed {sorted(t for t in after if after[t] != before[t])}")
            before = after
    assert seen > 30, seen  # the document walk itself works
    assert not failures, "\n".join(failures)


def _known_bodies(app):
    """(METHOD, OpenAPI path, body) for the endpoints the isolation matrix has valid bodies for."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in API_BODY:
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS", "GET"}:
                yield method, path, API_BODY[rule.endpoint]


def test_read_token_may_verify_the_audit_chain(world, app, client, make):
    from panel.models.tenants import Role

    auditor = make.make_user(Role.AUDITOR, world.dc)
    before = snapshot()
    resp = client.post("/api/v1/audit/verify", headers=api_headers(auditor, scope="read"))
    assert resp.status_code == 200 and resp.get_json()["ok"] is True
    after = snapshot()
    assert {t for t in after if after[t] != before[t]} <= {"api_tokens"}


def test_write_token_is_not_refused_by_the_same_walk(world, app, client):
    """The walk is not vacuous: the owner's write token gets past the read-only check."""
    headers = api_headers(world.a_admin, scope="write")
    resp = client.post(f"/api/v1/notifications/{world.ids['notification_id']}/read", headers=headers)
    assert resp.status_code == 200 and resp.get_json() == {"marked": 1}


def _read_actor(user):
    from panel import db

    with db.unit_of_work() as s:
        from panel.models.users import User

        return actor_for_user(s.get(User, user.id), surface="api", token_scope=TokenScope.READ.value)


def test_services_refuse_read_tokens(world):
    """The web and CLI call the same services: the rule lives there, not only in the API layer."""
    reader = _read_actor(world.a_admin)
    with pytest.raises(Forbidden) as err:
        mail_svc.mail_domain_dns_check(reader, domain_id=world.ids["domain_id"])
    assert err.value.key == "auth.read_only"
    with pytest.raises(Forbidden) as err:
        notifications_svc.notification_mark_read(reader, notification_id=world.ids["notification_id"])
    assert err.value.key == "auth.read_only"


def test_auditor_cannot_store_a_dns_check_on_web_or_cli(world, app, client, cli, make):
    from panel.models.tenants import Role
    from tests.support.surfaces import web_login

    auditor = make.make_user(Role.AUDITOR, world.dc, username="auditor1")
    web_login(app, client, auditor)
    with client.session_transaction() as sess:
        sess["csrf_token"] = "t"
    app.config["WTF_CSRF_ENABLED"] = False
    before = snapshot()
    page = client.post(f"/mail/domains/{world.ids['domain_id']}/dns-check", follow_redirects=True)
    assert "can only read" in page.get_data(as_text=True)
    result = cli("mail", "dns-check", "a.gov.kh", "--as", "auditor1")
    assert result.exit_code == 2 and "can only read" in result.output
    assert snapshot() == before


def test_dns_check_looks_up_outside_the_transaction(world, make, monkeypatch):
    """The look-ups go to a resolver on loopback (nothing answers there, so each is 'unknown'); the
    test-wide guard in tests/conftest.py fails the test if a datagram leaves inside a transaction."""
    monkeypatch.setattr(mail_svc, "RESOLVE_TIMEOUT_S", 0.5)
    loopback = dataclasses.replace(boot.current().dns, resolver="127.0.0.1")
    boot._booted = dataclasses.replace(boot.current(), dns=loopback)
    writer = make.actor_of(world.a_admin)
    dom = mail_svc.mail_domain_dns_check(writer, domain_id=world.ids["domain_id"])
    assert dom.dns_status and set(dom.dns_status.values()) <= {"unknown", "missing"}, dom.dns_status
    assert dom.dns_checked_at is not None
