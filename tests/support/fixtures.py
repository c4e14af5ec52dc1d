"""Fixtures shared by tests/requests and tests/quotas: two ministries, their users, staff, a test kind
that draws on the `sites` budget, and logins on each surface (real forms, real tokens)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pyotp
import pytest
from sqlalchemy import inspect, select

from panel import db
from panel.models.audit import AuditEntry
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import OrgKind, Role
from panel.services import policies, quotas, request_kinds, tokens
from panel.services.actor import system_actor
from panel.services.request_kinds import RequestKind, reject_unknown, require_int
from tests.support.factories import PASSWORD

MINISTRY = frozenset({Role.WEBMASTER, Role.ORG_ADMIN, Role.OPERATOR, Role.ADMIN})


def _widget_validate(actor, org, payload):
    reject_unknown(payload, {"count"})
    return {"count": require_int(payload, "count", minimum=1, maximum=1000)}


# A stand-in for site.create (which lands later): each widget is one site of the budget.
WIDGET = request_kinds.register(
    RequestKind(
        name="test.widget",
        label="Test widget",
        who_may_request=MINISTRY,
        validate=_widget_validate,
        quota=lambda p: {"sites": p["count"]},
        describe=lambda p: f"{p['count']} widget(s)",
        default_policy=ApprovalMode.ONE,
    )
)

SYSTEM = system_actor("cli", "test-system")


def set_policy(kind: str, mode: str) -> None:
    policies.policy_set(SYSTEM, kind=kind, mode=mode)


def set_limit(org_id: int, resource: str, limit: int) -> None:
    quotas.quota_set(SYSTEM, org_id=org_id, resource=resource, limit=limit)


def reload(request_id: int) -> Request:
    with db.unit_of_work() as s:
        s.expire_all()
        return s.get(Request, request_id)


def audit_rows(prefix: str = "") -> list[AuditEntry]:
    with db.unit_of_work() as s:
        s.expire_all()
        stmt = select(AuditEntry).order_by(AuditEntry.seq)
        if prefix:
            stmt = stmt.where(AuditEntry.action.startswith(prefix))
        return list(s.scalars(stmt))


# ---- organizations and people ------------------------------------------------------------------


@pytest.fixture
def dc(make):
    return make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")


@pytest.fixture
def min_a(make):
    return make.make_org("Ministry A", slug="min-a")


@pytest.fixture
def min_b(make):
    return make.make_org("Ministry B", slug="min-b")


@pytest.fixture
def wm_a(make, min_a):
    return make.make_user(Role.WEBMASTER, min_a, username="wm_a")


@pytest.fixture
def oa_a(make, min_a):
    return make.make_user(Role.ORG_ADMIN, min_a, username="oa_a")


@pytest.fixture
def wm_b(make, min_b):
    return make.make_user(Role.WEBMASTER, min_b, username="wm_b")


def _staff(make, dc, role, name):
    secret = pyotp.random_base32()
    user = make.make_user(role, dc, username=name, totp_secret=secret)
    user.plain_secret = secret
    return user


@pytest.fixture
def op1(make, dc):
    return _staff(make, dc, Role.OPERATOR, "op1")


@pytest.fixture
def op2(make, dc):
    return _staff(make, dc, Role.OPERATOR, "op2")


@pytest.fixture
def admin(make, dc):
    return _staff(make, dc, Role.ADMIN, "dcadmin")


@pytest.fixture
def auditor(make, dc):
    return _staff(make, dc, Role.AUDITOR, "aud")


# ---- surfaces ----------------------------------------------------------------------------------

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = TOKEN_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1) or m.group(2)


def post_form(client, url: str, data: dict, *, page: str | None = None):
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_from(html)})


def web_login(client, user) -> None:
    """The real login (password, then the TOTP code for staff)."""
    r = post_form(client, "/login", {"username": user.username, "password": PASSWORD})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    secret = getattr(user, "plain_secret", None)
    if secret:
        r = post_form(client, "/twofa", {"code": pyotp.TOTP(secret).now()})
        assert r.status_code == 302, r.get_data(as_text=True)[:500]


@pytest.fixture
def login_as(app):
    """login_as(user) -> a test client logged in as that user (one client per user)."""

    def _login(user):
        c = app.test_client()
        web_login(c, user)
        return c

    return _login


@pytest.fixture
def token_for(make):
    """token_for(user, scope="write") -> headers with a real API token of that user."""

    def _token(user, scope: str = "write") -> dict:
        # The fixture's object may be expired and detached by now; its identity is enough.
        actor = make.actor_of(SimpleNamespace(id=inspect(user).identity[0]), "cli")
        _row, plain = tokens.token_create(actor, name="t", scope=scope, days=1)
        return {"Authorization": f"Bearer {plain}"}

    return _token
