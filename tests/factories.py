"""Factories: one object each, relations explicit. They write through the models, not the services,
so a test of a service starts from known rows without depending on other services."""

from __future__ import annotations

import itertools

from panel import db
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.security import hash_password
from panel.services.actor import Actor, actor_for_user

_n = itertools.count(1)
PASSWORD = "correct horse battery staple 1"
_HASH = None


def _password_hash() -> str:
    global _HASH
    if _HASH is None:  # argon2 is slow on purpose; one hash serves every factory user
        _HASH = hash_password(PASSWORD)
    return _HASH


def make_org(
    name: str | None = None,
    *,
    kind: OrgKind = OrgKind.MINISTRY,
    parent: Organization | None = None,
    slug: str | None = None,
) -> Organization:
    i = next(_n)
    with db.unit_of_work() as s:
        org = Organization(
            slug=slug or f"org{i}", name=name or f"Ministry {i}", kind=kind, parent_id=parent.id if parent else None
        )
        s.add(org)
        s.flush()
    return org


def make_user(
    role: Role | str | None = Role.WEBMASTER,
    org: Organization | None = None,
    *,
    username: str | None = None,
    totp_secret: str | None = None,
) -> User:
    from panel import security

    i = next(_n)
    role = Role(role) if role else None
    with db.unit_of_work() as s:
        user = User(
            username=username or f"user{i}",
            email=f"user{i}@test.invalid",
            full_name=f"User {i}",
            password_hash=_password_hash(),
        )
        if totp_secret:
            user.totp_secret = security.seal(totp_secret)
            user.totp_enabled = True
        s.add(user)
        s.flush()
        if role is not None:
            if org is None:
                org = (
                    make_org(kind=OrgKind.DATACENTER)
                    if role in (Role.OPERATOR, Role.ADMIN, Role.AUDITOR)
                    else make_org()
                )
            s.add(Membership(user_id=user.id, org_id=org.id, role=role))
    with db.unit_of_work() as s:
        return s.get(User, user.id)


def actor_of(user: User, surface: str = "web") -> Actor:
    with db.unit_of_work() as s:
        return actor_for_user(s.get(User, user.id), surface=surface)
