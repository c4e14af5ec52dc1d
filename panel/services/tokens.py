"""API tokens: made per user, shown once, stored as SHA-256, with expiry, scope and revocation.

A token acts with its user's roles, narrowed to reading when its scope is `read`. Staff accounts
need TOTP to log in to the web panel but not to use a token: tokens are made from a session that
passed the second factor (or by root on the panel server), and their secret is as strong as a key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import event, exc, or_, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from panel import db, security
from panel.boot import current as current_settings
from panel.errors import Forbidden, Invalid, NotFound, Unauthorized
from panel.models.tenants import Membership, Organization, Role
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
        owner_actor = actor_for_user(owner, surface=actor.surface)
        # SOC accounts change nothing else, but their containment actions need a write token.
        if scope == TokenScope.WRITE and not (owner_actor.can_write or owner_actor.has_staff(Role.SOC)):
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


# Authentication data of a token is kept per process for at most this long: a revoked or expired
# token, a deactivated user or a changed role takes effect in every worker within this bound (at
# once in the process that made the change). docs/security.md states it.
AUTH_CACHE_SECONDS = 10.0
_AUTH_CACHE_MAX = 10_000  # tokens per process; past it the cache starts over
_clock = time.monotonic  # tests move it forward


@dataclass(frozen=True)
class _Cached:
    actor: Actor  # client_addr and request_id are the first request's: each request sets its own
    token_id: int
    until: float  # _clock() time after which the database is asked again


_auth_cache: dict[str, _Cached] = {}
_last_used: dict[int, dt.datetime] = {}  # token id -> the last use this process has seen


def auth_cache_clear() -> None:
    _auth_cache.clear()


def token_authenticate(token: str, *, client_addr: str = "", request_id: str | None = None) -> Actor:
    """The actor of a bearer token, or 401 auth.token_invalid (unknown, expired, revoked, user off).

    A read changes nothing: the token is looked up at most every AUTH_CACHE_SECONDS per process, and
    last_used_at is written (in its own short transaction) only when it moves by more than a minute.
    """
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise Unauthorized("auth.token_invalid", "The API token is not valid.")
    digest = security.token_digest(token)
    now = db.utcnow()
    hit = _auth_cache.get(digest)
    if hit is None or hit.until <= _clock():
        hit = _load(digest, now)
    _last_used[hit.token_id] = now
    return dataclasses.replace(hit.actor, client_addr=client_addr, request_id=request_id or uuid.uuid4().hex)


def _load(digest: str, now: dt.datetime) -> _Cached:
    # A session of its own that only reads, closed before anything is written: the request's
    # session has not begun (on SQLite a begun write transaction would hold the lock _touch needs).
    with db.private_read_session() as s:
        row = s.scalars(
            select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == digest)
        ).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
            _auth_cache.pop(digest, None)
            raise Unauthorized("auth.token_invalid", "The API token is not valid.")
        actor = actor_for_user(row.user, surface="api", token_scope=row.scope.value, session=s)
        token_id, last_used_at, expires_at = row.id, row.last_used_at, row.expires_at
    seen = max(filter(None, (last_used_at, _last_used.get(token_id))), default=None)
    if last_used_at is None or (seen is not None and seen - last_used_at >= TOUCH_EVERY):
        _touch(token_id, now)
    until = min(_clock() + AUTH_CACHE_SECONDS, _clock() + (expires_at - now).total_seconds())
    if len(_auth_cache) >= _AUTH_CACHE_MAX:
        _auth_cache.clear()
        _last_used.clear()
    hit = _Cached(actor=actor, token_id=token_id, until=until)
    _auth_cache[digest] = hit
    return hit


# last_used_at is advisory. On SQLite a writer holds the one write lock; when this very request's own
# session holds it (an API call that also carries a web session cookie, whose user was loaded first),
# waiting would wait on ourselves for the whole busy timeout. So the touch waits briefly, then skips:
# a later request records it.
_TOUCH_BUSY_MS = 100


def _touch(token_id: int, now: dt.datetime) -> None:
    """last_used_at = now, in a short transaction of its own (the request may be a read)."""
    stmt = (
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_EVERY))
        .values(last_used_at=now)
    )
    engine = db.engine()
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            conn.execute(stmt)
        return
    with engine.connect() as conn:
        raw = conn.connection.driver_connection  # set before SQLAlchemy's BEGIN IMMEDIATE, not inside it
        raw.execute(f"PRAGMA busy_timeout = {_TOUCH_BUSY_MS}")
        try:
            with conn.begin():
                conn.execute(stmt)
        except exc.OperationalError:
            pass  # the lock is busy: skipped (see above)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {db.SQLITE_BUSY_MS}")


# Who may act is decided by tokens, users, memberships and organizations: when a commit changed any
# of them, this process forgets every cached token at once (other processes within the bound).
_AUTH_MODELS = (ApiToken, User, Membership, Organization)


@event.listens_for(Session, "before_flush")
def _note_auth_changes(session, _flush_context, _instances) -> None:
    if any(isinstance(o, _AUTH_MODELS) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info["auth_changed"] = True


@event.listens_for(Session, "after_commit")
def _forget_on_auth_change(session) -> None:
    if session.info.pop("auth_changed", False):
        auth_cache_clear()


__all__ = ["AUTH_CACHE_SECONDS", "auth_cache_clear", "token_authenticate", "token_create", "token_list", "token_revoke"]
