"""Users: accounts, memberships, passwords and their policy, and the scoping of who manages whom.

Staff (admin) manage every account. A ministry org_admin sees the users who belong to one of the
ministry's organizations, and changes only those who belong to nothing outside it (so an admin of
ministry A cannot take over an account that also holds rights in ministry B or in the data center).
"""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from panel import db, security
from panel.errors import Forbidden, Invalid, NotFound
from panel.models.tenants import MINISTRY_ROLES, STAFF_ROLES, Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.services.actor import Actor, refuse_read_token, require_org_role, require_write
from panel.services.audit import audited
from panel.services.pagination import Page, paginate

USERNAME_RE = re.compile(r"^[a-z][a-z0-9._-]{2,63}$")
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
LOCALES = ("km", "en")
PASSWORD_MIN = 12
PASSWORD_MAX = 1024


def _user_org(user: User, kwargs: dict) -> int | None:
    """The audit entry's organization: the one named, else the user's first (so ministry admins see it)."""
    if kwargs.get("org_id") is not None:
        return kwargs["org_id"]
    return min((m.org_id for m in user.memberships), default=None)


def user_for_session(user_id: int, version: int) -> User | None:
    user = db.session().get(User, user_id)
    if user is None or not user.is_active or user.session_version != version:
        return None
    return user


# ---- validation --------------------------------------------------------------------------------


def check_password_policy(password: str, username: str = "") -> None:
    """At least 12 characters, not the username, not all of one class; the key names the rule."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise Invalid(
            "user.password_too_short",
            "The password needs at least {min} characters.",
            field="new_password",
            min=PASSWORD_MIN,
        )
    if len(password) > PASSWORD_MAX or "\x00" in password:
        raise Invalid(
            "user.password_too_long",
            "The password is too long or holds a NUL character.",
            field="new_password",
            max=PASSWORD_MAX,
        )
    if username and username.lower() in password.lower():
        raise Invalid(
            "user.password_contains_username", "The password must not contain the username.", field="new_password"
        )
    classes = {
        "lower" if c.islower() else "upper" if c.isupper() else "digit" if c.isdigit() else "other" for c in password
    }
    if len(classes) < 2:
        raise Invalid(
            "user.password_one_class",
            "Mix at least two kinds of characters (letters, digits, symbols, capitals).",
            field="new_password",
        )


def _check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise Invalid(
            "user.username_invalid",
            "A username is 3-64 lowercase letters, digits, '.', '_' or '-', starting with a letter.",
            field="username",
        )
    return username


def _check_email(email: str) -> str:
    email = (email or "").strip()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise Invalid("user.email_invalid", "This is not a valid e-mail address.", field="email")
    return email


def _check_full_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise Invalid(
            "user.full_name_invalid", "The full name is too long or holds control characters.", field="full_name"
        )
    return name


def _check_role(org: Organization, role: str) -> Role:
    try:
        role = Role(role)
    except ValueError:
        raise Invalid("user.role_invalid", "Unknown role: {role}.", field="role", role=str(role)[:40]) from None
    if (org.kind == OrgKind.DATACENTER) != (role in STAFF_ROLES):
        raise Invalid(
            "user.role_org_mismatch",
            "The role {role} does not fit an organization of kind {kind}.",
            field="role",
            role=role.value,
            kind=org.kind.value,
        )
    return role


# ---- scoping -----------------------------------------------------------------------------------


def _require_manager(actor: Actor, org_id: int | None = None, role: Role | None = None) -> None:
    """Staff admins manage everyone; a ministry org_admin manages ministry roles of its own orgs."""
    require_write(actor)
    if actor.has_staff(Role.ADMIN):
        return
    if actor.is_staff:
        raise Forbidden("auth.forbidden", "This needs one of the roles: {roles}.", roles="admin")
    if org_id is None:
        if not any(Role.ORG_ADMIN in r for r in actor.org_roles.values()):
            raise Forbidden("auth.forbidden", "This needs one of the roles: {roles}.", roles="org_admin")
        return
    require_org_role(actor, org_id, Role.ORG_ADMIN)
    if role is not None and role not in MINISTRY_ROLES:
        raise Forbidden("user.role_forbidden", "A ministry admin can give ministry roles only.", field="role")


def _visible(actor: Actor, stmt):
    if actor.sees_all:
        return stmt
    return stmt.where(User.id.in_(select(Membership.user_id).where(Membership.org_id.in_(actor.org_ids))))


def _require_reader(actor: Actor) -> None:
    if actor.is_staff or any(Role.ORG_ADMIN in r for r in actor.org_roles.values()):
        return
    raise Forbidden("auth.forbidden", "This needs one of the roles: {roles}.", roles="org_admin, admin, auditor")


def db_id(value) -> bool:
    """A value that can be a row id (a huge number would overflow PostgreSQL's integer: a 500)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def user_get(actor: Actor, user_id: int) -> User:
    """One user the actor may see; another ministry's user does not exist (404)."""
    _require_reader(actor)
    if not db_id(user_id):
        raise NotFound("user.not_found", "Not found.", id=str(user_id)[:20])
    user = db.session().scalars(_visible(actor, select(User).where(User.id == user_id))).first()
    if user is None:
        raise NotFound("user.not_found", "Not found.", id=str(user_id))
    return user


def _managed(actor: Actor, user_id: int) -> User:
    user = user_get(actor, user_id)
    _require_manager(actor)
    if actor.has_staff(Role.ADMIN):
        return user
    if any(m.role in STAFF_ROLES or m.org_id not in actor.org_ids for m in user.memberships):
        raise Forbidden("user.foreign", "This account also belongs to another organization; ask the data center.")
    return user


def user_by_name(actor: Actor, username: str) -> User:
    _require_reader(actor)
    if not isinstance(username, str) or not USERNAME_RE.match(username):
        raise NotFound("user.not_found", "Not found.", id=str(username)[:64])
    user = db.session().scalars(_visible(actor, select(User).where(User.username == username))).first()
    if user is None:
        raise NotFound("user.not_found", "Not found.", id=str(username)[:64])
    return user


def org_ref(actor: Actor, ref: str | int) -> Organization:
    """An organization by id or slug, among those the actor sees (for the CLI and forms)."""
    if not str(ref).isprintable() or len(str(ref)) > 63:
        raise NotFound("organization.not_found", "Not found.", id=str(ref)[:64])
    by_id = str(ref).isdigit() and db_id(int(ref))
    stmt = select(Organization).where(Organization.id == int(ref) if by_id else Organization.slug == str(ref))
    if not actor.sees_all:
        stmt = stmt.where(Organization.id.in_(actor.org_ids))
    org = db.session().scalars(stmt).first()
    if org is None:
        raise NotFound("organization.not_found", "Not found.", id=str(ref)[:64])
    return org


def manageable_orgs(actor: Actor) -> list[Organization]:
    """Organizations in which the actor may give roles (choices of the web forms)."""
    stmt = select(Organization).where(Organization.is_active.is_(True)).order_by(Organization.name)
    if not actor.has_staff(Role.ADMIN):
        stmt = stmt.where(Organization.id.in_(actor.org_ids))
    return list(db.session().scalars(stmt))


def user_list(actor: Actor, page: int = 1, per_page: int = 50, q: str = "") -> Page:
    _require_reader(actor)
    stmt = _visible(actor, select(User).options(selectinload(User.memberships).selectinload(Membership.org)))
    q = "".join(c for c in (q or "") if c.isprintable()).strip()[:100]
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                User.username.ilike(like, escape="\\"),
                User.full_name.ilike(like, escape="\\"),
                User.email.ilike(like, escape="\\"),
            )
        )
    return paginate(stmt.order_by(User.username), page=page, per_page=per_page)


# ---- changes -----------------------------------------------------------------------------------


@audited("user.create", "user", exclude=("password",), org=_user_org)
def user_create(
    actor: Actor, *, username: str, email: str, full_name: str, org_id: int, role: str, password: str | None = None
) -> tuple[User, str | None]:
    """A new account with one membership; without a password, a one-time one is made and returned."""
    username = _check_username(username)
    email = _check_email(email)
    full_name = _check_full_name(full_name)
    with db.unit_of_work() as s:
        org = s.get(Organization, org_id) if db_id(org_id) else None
        if org is None or not (actor.sees_all or org.id in actor.org_ids):
            raise NotFound("organization.not_found", "Not found.", field="org_id", id=str(org_id)[:64])
        role = _check_role(org, role)
        _require_manager(actor, org.id, role)
        if s.scalars(select(User.id).where(User.username == username)).first() is not None:
            raise Invalid("user.username_taken", "This username is already taken.", field="username")
        one_time = None
        if password is None:
            password = one_time = security.new_password()
        else:
            check_password_policy(password, username)
        user = User(
            username=username,
            email=email,
            full_name=full_name,
            password_hash=security.hash_password(password),
            must_change_password=one_time is not None,
        )
        s.add(user)
        s.flush()
        s.add(Membership(user_id=user.id, org_id=org.id, role=role))
        s.flush()
        s.refresh(user)
        return user, one_time


@audited("user.set_role", "user", org=_user_org)
def user_set_role(actor: Actor, user_id: int, *, org_id: int, role: str) -> User:
    """Give the user `role` in `org_id` (a new membership, or a changed one)."""
    with db.unit_of_work() as s:
        user = user_get(actor, user_id)
        org = s.get(Organization, org_id) if db_id(org_id) else None
        if org is None or not (actor.sees_all or org.id in actor.org_ids):
            raise NotFound("organization.not_found", "Not found.", field="org_id", id=str(org_id)[:64])
        role = _check_role(org, role)
        _require_manager(actor, org.id, role)
        if not actor.has_staff(Role.ADMIN) and any(m.role in STAFF_ROLES for m in user.memberships):
            raise Forbidden("user.foreign", "This account also belongs to another organization; ask the data center.")
        current = next((m for m in user.memberships if m.org_id == org.id), None)
        if current is None:
            user.memberships.append(Membership(user_id=user.id, org_id=org.id, role=role))
        else:
            current.role = role
        s.flush()
        return user


@audited("user.reset_password", "user", org=_user_org)
def user_reset_password(actor: Actor, user_id: int) -> tuple[User, str]:
    """A new one-time password (returned once); every session of the user ends."""
    with db.unit_of_work() as s:
        user = _managed(actor, user_id)
        one_time = security.new_password()
        user.password_hash = security.hash_password(one_time)
        user.must_change_password = True
        user.session_version += 1
        s.flush()
        return user, one_time


@audited("user.reset_2fa", "user", org=_user_org)
def user_reset_2fa(actor: Actor, user_id: int) -> User:
    """Remove the second factor (lost phone); staff must enrol again at their next login."""
    with db.unit_of_work() as s:
        user = _managed(actor, user_id)
        _clear_totp(user)
        user.session_version += 1
        s.flush()
        return user


@audited("user.sessions_end", "user", org=_user_org)
def user_sessions_end(actor: Actor, user_id: int | None = None) -> User:
    """Log a user out everywhere: every web session of theirs ends at its next request, whichever
    browser holds it (the session version it carries no longer matches). Without user_id, or with the
    actor's own, it is the actor's own sessions; anyone else's needs the right to manage that user.
    API tokens are not sessions and stay valid: revoke them on the tokens page."""
    refuse_read_token(actor)
    with db.unit_of_work() as s:
        user = user_self(actor) if user_id is None or user_id == actor.user_id else _managed(actor, user_id)
        user.session_version += 1
        s.flush()
        return user


def _clear_totp(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled = False
    user.totp_last_step = 0
    user.recovery_codes = ""


@audited("user.deactivate", "user", org=_user_org)
def user_deactivate(actor: Actor, user_id: int) -> User:
    """The account can no longer log in or use its tokens; it stays for the audit trail."""
    with db.unit_of_work() as s:
        user = _managed(actor, user_id)
        if user.id == actor.user_id:
            raise Invalid("user.deactivate_self", "You cannot deactivate your own account.")
        user.is_active = False
        user.session_version += 1
        s.flush()
        return user


def user_self(actor: Actor) -> User:
    """The actor's own account (404 for the system actor)."""
    user = db.session().get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.is_active:
        raise NotFound("user.not_found", "Not found.", id=str(actor.user_id))
    return user


@audited("user.password_change", "user", exclude=("old_password", "new_password"))
def password_change(actor: Actor, *, old_password: str, new_password: str) -> User:
    """The user's own password; ends the user's other sessions (the caller logs this one in again)."""
    if actor.token_scope is not None:
        raise Forbidden("auth.session_required", "Change the password in the web panel.")
    with db.unit_of_work() as s:
        user = user_self(actor)
        if not security.verify_password(user.password_hash, old_password or ""):
            raise Invalid("user.password_wrong", "The current password is not right.", field="old_password")
        check_password_policy(new_password, user.username)
        if security.verify_password(user.password_hash, new_password):
            raise Invalid(
                "user.password_unchanged", "Choose a password different from the current one.", field="new_password"
            )
        user.password_hash = security.hash_password(new_password)
        user.must_change_password = False
        user.session_version += 1
        s.flush()
        return user


@audited("user.set_locale", "user")
def user_set_locale(actor: Actor, *, locale: str) -> User:
    if locale not in (*LOCALES, ""):
        raise Invalid("user.locale_invalid", "Unknown language.", field="locale")
    with db.unit_of_work() as s:
        user = user_self(actor)
        user.locale = locale
        s.flush()
        return user


__all__ = [
    "check_password_policy",
    "manageable_orgs",
    "org_ref",
    "password_change",
    "user_by_name",
    "user_create",
    "user_deactivate",
    "user_for_session",
    "user_get",
    "user_list",
    "user_reset_2fa",
    "user_reset_password",
    "user_self",
    "user_sessions_end",
    "user_set_locale",
    "user_set_role",
]
