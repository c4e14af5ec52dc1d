"""API tokens: made per user, shown once, stored as SHA-256, with expiry, scope and revocation.

A token acts with its user's roles, narrowed to reading when its scope is `read`. Staff accounts
need TOTP to log in to the web panel but not to use a token: tokens are made from a session that
passed the second factor (or by root on the panel server), and their secret is as strong as a key.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from panel import db, security
from panel.boot import current as current_settings
from panel.errors import Forbidden, Invalid, NotFound, Unauthorized
from panel.models.tenants import Role
from panel.models.users import ApiToken, TokenScope, User
from panel.services.actor import Actor, actor_for_user
from panel.services.audit import audited
from panel.services.pagination import Page, paginate
from panel.services.users import db_id

NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
# Writing last_used_at on every call would turn each read into a write; once a minute is enough.
TOUCH_EVERY = dt.timedelta(minutes=1)
_TOKEN_RE = re.compile(r"^gh_[A-Za-z0-9_-]{20,100}$")


def _owner(actor: Actor, user_id: int | None) -> User:
    s = db.session()
    if user_id is None or user_id == actor.user_id:
        user = s.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None:
            raise Invalid("token.owner_required", "Name the user the token is for.", field="user")
        return user
    if not actor.has_staff(Role.ADMIN):
        raise NotFound("user.not_found", "Not found.", id=str(user_id))
    user = s.get(User, user_id)
    if user is None:
        raise NotFound("user.not_found", "Not found.", id=str(user_id))
    return user


@audited("token.create", "token")
def token_create(actor: Actor, *, name: str, scope: str, days: int, user_id: int | None = None) -> tuple[ApiToken, str]:
    """A new token for the actor (or, for a staff admin, for `user_id`); the plaintext is returned once."""
    if actor.token_scope == TokenScope.READ:
        raise Forbidden("auth.read_only", "This account or token can only read.")
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise Invalid(
            "token.name_invalid", "A token name is 1-100 characters without control characters.", field="name"
        )
    try:
        scope = TokenScope(scope)
    except ValueError:
        raise Invalid("token.scope_invalid", "The scope is read or write.", field="scope") from None
    max_days = current_settings().auth.token_max_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        raise Invalid("token.days_invalid", "A token lives 1 to {max} days.", field="days", max=max_days)
    with db.unit_of_work() as s:
        owner = _owner(actor, user_id)
        if not owner.is_active:
            raise Invalid("token.owner_inactive", "The account is deactivated.", field="user")
        if scope == TokenScope.WRITE and not actor_for_user(owner, surface=actor.surface).can_write:
            raise Forbidden("token.write_not_allowed", "This account can only have read tokens.", field="scope")
        plaintext = security.new_token()
        token = ApiToken(
            user_id=owner.id,
            name=name,
            prefix=plaintext[:10],
            scope=scope,
            token_hash=security.token_digest(plaintext),
            expires_at=db.utcnow() + dt.timedelta(days=days),
        )
        s.add(token)
        s.flush()
        return token, plaintext


def token_list(
    actor: Actor, page: int = 1, per_page: int = 50, *, user_id: int | None = None, include_revoked: bool = False
) -> Page:
    """The actor's own tokens; staff admins and auditors may name another user or see all (user_id=0)."""
    target = actor.user_id if user_id is None else user_id
    if (target is None or target != actor.user_id) and not actor.has_staff(Role.ADMIN, Role.AUDITOR):
        raise NotFound("user.not_found", "Not found.", id=str(user_id))
    stmt = select(ApiToken).options(selectinload(ApiToken.user))
    if target:
        stmt = stmt.where(ApiToken.user_id == target)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return paginate(stmt.order_by(ApiToken.created_at.desc(), ApiToken.id.desc()), page=page, per_page=per_page)


@audited("token.revoke", "token")
def token_revoke(actor: Actor, token_id: int) -> ApiToken:
    """Revoke the actor's own token (staff admins: anyone's); another user's token is a 404."""
    if actor.token_scope == TokenScope.READ:
        raise Forbidden("auth.read_only", "This account or token can only read.")
    with db.unit_of_work() as s:
        token = s.get(ApiToken, token_id) if db_id(token_id) else None
        if token is None or not (token.user_id == actor.user_id or actor.has_staff(Role.ADMIN)):
            raise NotFound("token.not_found", "Not found.", id=str(token_id)[:64])
        if token.revoked_at is None:
            token.revoked_at = db.utcnow()
        s.flush()
        return token


def token_authenticate(token: str, *, client_addr: str = "", request_id: str | None = None) -> Actor:
    """The actor of a bearer token, or 401 auth.token_invalid (unknown, expired, revoked, user off)."""
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise Unauthorized("auth.token_invalid", "The API token is not valid.")
    digest = security.token_digest(token)
    with db.unit_of_work() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
        now = db.utcnow()
        if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
            raise Unauthorized("auth.token_invalid", "The API token is not valid.")
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            row.last_used_at = now
        return actor_for_user(
            row.user, surface="api", client_addr=client_addr, request_id=request_id, token_scope=row.scope.value
        )


__all__ = ["token_authenticate", "token_create", "token_list", "token_revoke"]
