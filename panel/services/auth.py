"""Logging in: password check with throttling and lockout, the TOTP second factor, recovery codes.

Failures are counted per account ("user:<name>") and per client address ("addr:<ip>") in
`LoginThrottle`; N failures inside the window lock the key for `lockout_minutes`. Failed second
factors count the same way, so guessing TOTP codes is as bounded as guessing passwords. Every
failure and every lockout is a security event in the audit chain. An unknown user and a wrong
password give the same error (and the same argon2 work), so the answer does not tell which names exist.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import segno
from sqlalchemy import select

from panel import db, security
from panel.boot import current as current_settings
from panel.errors import Forbidden, Invalid, NotFound, TooManyAttempts, Unauthorized
from panel.models.tenants import STAFF_ROLES
from panel.models.users import LoginThrottle, User
from panel.services.actor import Actor, actor_for_user
from panel.services.audit import append, audited, security_event

ISSUER = "govhost"


@dataclass(frozen=True)
class Client:
    """Where a login attempt comes from (for throttling and the audit entry)."""

    addr: str = ""
    request_id: str = ""
    surface: str = "web"

    def anonymous(self, username: str = "anonymous") -> Actor:
        return Actor(
            user_id=None,
            username=(username or "anonymous")[:64],
            surface=self.surface,
            client_addr=self.addr[:64],
            request_id=self.request_id or "",
        )


def printable(text: str | None) -> str:
    """Drop control characters (PostgreSQL refuses NUL in text; logs must not get newlines)."""
    return "".join(c for c in (text or "") if c.isprintable())


# ---- throttling --------------------------------------------------------------------------------


def _keys(username: str, addr: str) -> list[str]:
    keys = ["user:" + (username or "").strip().lower()[:64]]
    if addr:
        keys.append("addr:" + addr[:64])
    return keys


def _locked_minutes(keys: list[str]) -> int:
    """Minutes left on the longest lock among `keys` (0 if none is locked)."""
    now = db.utcnow()
    rows = db.session().scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    left = [r.locked_until - now for r in rows if r.locked_until and r.locked_until > now]
    return max((int(d.total_seconds() // 60) + 1 for d in left), default=0)


def _check_unlocked(username: str, client: Client) -> None:
    with db.unit_of_work():
        minutes = _locked_minutes(_keys(username, client.addr))
    if minutes:
        raise TooManyAttempts(minutes=minutes)


def _record_failure(username: str, client: Client, reason: str) -> None:
    """Count a failure on every key; lock the keys that reach their limit. Commits on its own."""
    cfg = current_settings().auth
    now = db.utcnow()
    window = dt.timedelta(minutes=cfg.failure_window_minutes)
    who = client.anonymous(username)
    with db.unit_of_work() as s:
        security_event(who, "auth.login_failed", username=who.username, reason=reason)
        for key in _keys(username, client.addr):
            row = s.scalars(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()).first()
            if row is None:
                row = LoginThrottle(key=key, failures=0, window_start=now)
                s.add(row)
            if row.window_start + window < now:
                row.failures, row.window_start = 0, now
            row.failures += 1
            limit = cfg.max_failures_per_account if key.startswith("user:") else cfg.max_failures_per_address
            if row.failures >= limit and not (row.locked_until and row.locked_until > now):
                row.locked_until = now + dt.timedelta(minutes=cfg.lockout_minutes)
                security_event(
                    who,
                    "auth.lockout",
                    locked=key.split(":", 1)[0],
                    subject=key.split(":", 1)[1],
                    failures=row.failures,
                    minutes=cfg.lockout_minutes,
                )
            s.flush()


def _reset_account(username: str) -> None:
    s = db.session()
    row = s.get(LoginThrottle, _keys(username, "")[0])
    if row is not None:
        row.failures, row.locked_until, row.window_start = 0, None, db.utcnow()


# ---- password ----------------------------------------------------------------------------------


def login_password(
    username: str, password: str, *, client_addr: str = "", request_id: str = "", surface: str = "web"
) -> User:
    """The user whose password this is, or auth.invalid_credentials; refuses while locked."""
    client = Client(client_addr or "", request_id or "", surface)
    username = printable(username).strip().lower()[:64]
    _check_unlocked(username, client)
    with db.unit_of_work() as s:
        user = s.scalars(select(User).where(User.username == username)).first() if username else None
        ok = security.verify_password(user.password_hash if user else None, password or "")
        ok = ok and user is not None and user.is_active
    if not ok:
        _record_failure(username, client, "password")
        raise Unauthorized("auth.invalid_credentials", "The username or password is not right.")
    with db.unit_of_work() as s:
        user = s.get(User, user.id)
        if security.needs_rehash(user.password_hash):
            user.password_hash = security.hash_password(password)
        needs_second = needs_second_factor(user)
        if not needs_second:
            # The failure count resets only when the whole login succeeded: after the password,
            # the second factor is still due and its wrong codes must add to the same count.
            _reset_account(username)
            user.last_login_at = db.utcnow()
        append(
            _actor(user, client),
            "auth.login" if not needs_second else "auth.password_ok",
            object_type="user",
            object_id=user.id,
            summary={"second_factor": needs_second},
        )
    return user


def needs_second_factor(user: User) -> bool:
    """Enrolled users give a code; staff without one must enrol first (when the config says so)."""
    return user.totp_enabled or (is_staff(user) and current_settings().auth.staff_require_2fa)


def is_staff(user: User) -> bool:
    return any(m.role in STAFF_ROLES for m in user.memberships)


def _actor(user: User, client: Client) -> Actor:
    return actor_for_user(user, surface=client.surface, client_addr=client.addr, request_id=client.request_id)


# ---- second factor -----------------------------------------------------------------------------


def login_second_factor(
    user_id: int, code_or_recovery: str, *, client_addr: str = "", request_id: str = "", surface: str = "web"
) -> User:
    """Check a TOTP code (never the same time step twice) or consume one recovery code."""
    client = Client(client_addr or "", request_id or "", surface)
    with db.unit_of_work() as s:
        user = s.get(User, user_id)
        if user is None or not user.is_active or not user.totp_enabled:
            raise Unauthorized("auth.second_factor_unavailable", "Log in again.")
        username = user.username
    _check_unlocked(username, client)
    with db.unit_of_work() as s:
        # Locked so two requests with the same code cannot both pass the replay check.
        user = s.scalars(select(User).where(User.id == user_id).with_for_update()).one()
        how = _use_code(user, (code_or_recovery or "").strip()[:64])
        if how:
            _reset_account(username)
            user.last_login_at = db.utcnow()
            append(
                _actor(user, client),
                "auth.login",
                object_type="user",
                object_id=user.id,
                summary={"second_factor": how, "recovery_codes_left": len(_codes(user))},
            )
    if not how:
        _record_failure(username, client, "second_factor")
        raise Unauthorized("auth.code_invalid", "The code is not right or was already used.", field="code")
    return user


def _codes(user: User) -> list[str]:
    return [c for c in (user.recovery_codes or "").splitlines() if c]


def _use_code(user: User, code: str) -> str:
    """'totp' or 'recovery' when the code is good (and now spent), else ''."""
    secret = security.unseal(user.totp_secret) if user.totp_secret else ""
    step = security.totp_match(secret, code, user.totp_last_step) if secret else None
    if step is not None:
        user.totp_last_step = step
        return "totp"
    normalized = code.lower().replace(" ", "")
    if len(normalized) != 13 or normalized[6] != "-":
        return ""  # not shaped like a recovery code: spare the argon2 work
    codes = _codes(user)
    for i, stored in enumerate(codes):
        if security.verify_password(stored, normalized):
            user.recovery_codes = "\n".join(codes[:i] + codes[i + 1 :])
            return "recovery"
    return ""


def totp_begin_enrolment(actor: Actor, secret: str = "") -> tuple[str, str, str]:
    """A fresh secret (or the pending one again, so a reload shows the same QR code), its otpauth://
    URI and a QR code of it as inline SVG. Nothing is stored until the user confirms a code."""
    with db.unit_of_work():
        user = _self(actor)
    if not (isinstance(secret, str) and 16 <= len(secret) <= 64 and secret.isalnum()):
        secret = security.totp_new_secret()
    uri = security.totp_uri(secret, user.username, ISSUER)
    buf = io.BytesIO()
    segno.make(uri, error="m").save(
        buf, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title="otpauth QR code", dark="#1d2733"
    )
    return secret, uri, buf.getvalue().decode()


@audited("auth.totp_enrol", "user", exclude=("secret", "code"))
def totp_confirm_enrolment(actor: Actor, *, secret: str, code: str) -> tuple[User, list[str]]:
    """Store the seed (sealed) once the user proves the app shows the right code; returns the
    recovery codes, which are shown once and kept only as argon2 hashes."""
    if not isinstance(secret, str) or not (16 <= len(secret) <= 64) or not secret.isalnum():
        raise Invalid("auth.totp_secret_invalid", "Start the enrolment again.")
    with db.unit_of_work() as s:
        user = _self(actor, lock=True)
        if user.totp_enabled:
            raise Invalid("auth.totp_already_enabled", "Two-factor login is already on.")
        step = security.totp_match(secret, code, 0)
        if step is None:
            raise Invalid("auth.code_invalid", "The code is not right or was already used.", field="code")
        codes = security.recovery_codes()
        user.totp_secret = security.seal(secret)
        user.totp_enabled = True
        user.totp_last_step = step
        user.recovery_codes = "\n".join(security.hash_recovery_code(c) for c in codes)
        _reset_account(user.username)  # a forced enrolment is the last step of that login
        s.flush()
        return user, codes


@audited("auth.totp_disable", "user", exclude=("password",))
def totp_disable(actor: Actor, *, password: str) -> User:
    """Turn the second factor off (ministry users only when staff must use it)."""
    with db.unit_of_work() as s:
        user = _self(actor, lock=True)
        if is_staff(user) and current_settings().auth.staff_require_2fa:
            raise Forbidden("auth.2fa_required", "Data-center staff must keep two-factor login.")
        if not security.verify_password(user.password_hash, password or ""):
            raise Invalid("user.password_wrong", "The current password is not right.", field="password")
        user.totp_secret, user.totp_enabled, user.recovery_codes = None, False, ""
        s.flush()
        return user


def recovery_codes_left(actor: Actor) -> int:
    with db.unit_of_work():
        return len(_codes(_self(actor)))


def _self(actor: Actor, lock: bool = False) -> User:
    if actor.user_id is None or actor.token_scope is not None:
        raise Forbidden("auth.session_required", "Do this in the web panel, logged in as yourself.")
    stmt = select(User).where(User.id == actor.user_id)
    user = db.session().scalars(stmt.with_for_update() if lock else stmt).first()
    if user is None or not user.is_active:
        raise NotFound("user.not_found", "Not found.", id=str(actor.user_id))
    return user


def actor_by_username(username: str, *, surface: str = "cli") -> Actor:
    """Act as a named user (the CLI's --as, to work with a user's own rights instead of root's)."""
    with db.unit_of_work() as s:
        user = s.scalars(select(User).where(User.username == printable(username))).first()
        if user is None or not user.is_active:
            raise NotFound("user.not_found", "Not found.", id=str(username)[:64])
        return actor_for_user(user, surface=surface)


def pending_seal(secret: str) -> str:
    """Seal an enrolment secret kept in the browser session between the two enrolment steps."""
    return security.seal(secret)


def pending_unseal(sealed: str) -> str:
    try:
        return security.unseal(sealed or "")
    except ValueError:
        return ""


__all__ = [
    "actor_by_username",
    "is_staff",
    "login_password",
    "login_second_factor",
    "needs_second_factor",
    "pending_seal",
    "pending_unseal",
    "recovery_codes_left",
    "totp_begin_enrolment",
    "totp_confirm_enrolment",
    "totp_disable",
]
