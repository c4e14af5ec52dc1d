"""Helpers for the login tests: real forms with CSRF on, TOTP codes from pyotp, audit rows."""

from __future__ import annotations

import dataclasses
import re

import pyotp
import pytest
from sqlalchemy import select

from panel import db
from panel.models.audit import AuditEntry
from panel.models.tenants import OrgKind, Role
from panel.models.users import User
from tests.support.factories import PASSWORD

TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    m = TOKEN_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1) or m.group(2)


def post_form(client, url: str, data: dict, *, page: str | None = None, **kw):
    """GET `page` (default `url`) for its CSRF token, then POST `data` with it, like a browser."""
    html = client.get(page or url, **kw).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_from(html)}, **kw)


def login(client, username: str, password: str = PASSWORD, **kw):
    return post_form(client, "/login", {"username": username, "password": password}, **kw)


def now_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def audit_rows(action_prefix: str = "") -> list[AuditEntry]:
    with db.unit_of_work() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.seq)
        if action_prefix:
            stmt = stmt.where(AuditEntry.action.startswith(action_prefix))
        return list(s.scalars(stmt))


def reload_user(user_id: int) -> User:
    with db.unit_of_work() as s:
        s.expire_all()
        return s.get(User, user_id)


@pytest.fixture
def settings(settings):
    """Lower limits than production, so lockout tests need fewer (slow, argon2) attempts."""
    auth = dataclasses.replace(settings.auth, max_failures_per_account=3, max_failures_per_address=5)
    return dataclasses.replace(settings, auth=auth)


@pytest.fixture
def dc(make):
    return make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")


@pytest.fixture
def ministry_a(make):
    return make.make_org("Ministry A", slug="min-a")


@pytest.fixture
def ministry_b(make):
    return make.make_org("Ministry B", slug="min-b")


@pytest.fixture
def webmaster(make, ministry_a):
    return make.make_user(Role.WEBMASTER, ministry_a, username="webmaster")


@pytest.fixture
def staff_admin(make, dc):
    """A data-center admin who has TOTP already (its secret is on the object as `.plain_secret`)."""
    secret = pyotp.random_base32()
    user = make.make_user(Role.ADMIN, dc, username="dcadmin", totp_secret=secret)
    user.plain_secret = secret
    return user
