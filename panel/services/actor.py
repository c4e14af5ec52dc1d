"""Who is acting, from which surface, and what they may see: every query is scoped here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Select, select

from panel import db
from panel.errors import Forbidden, NotFound, PanelError
from panel.models.tenants import STAFF_ROLES, Membership, Organization, OrgKind, Role
from panel.models.users import TokenScope, User
from panel.services.pagination import MAX_ID

SURFACES = ("web", "api", "cli", "worker")


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    staff_roles: frozenset[Role] = frozenset()
    org_roles: dict[int, frozenset[Role]] = field(default_factory=dict)  # direct memberships
    org_ids: frozenset[int] = frozenset()  # orgs whose objects are visible: memberships + departments
    surface: str = "cli"
    client_addr: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    token_scope: str | None = None  # set when the call comes with an API token
    locale: str = ""

    @property
    def is_staff(self) -> bool:
        return bool(self.staff_roles)

    @property
    def sees_all(self) -> bool:
        return self.is_staff

    @property
    def can_write(self) -> bool:
        if self.token_scope == TokenScope.READ:
            return False
        # The SOC changes nothing through the ordinary services, only through its containment actions.
        return bool(self.staff_roles - {Role.AUDITOR, Role.SOC}) or any(self.org_roles.values())

    def has_staff(self, *roles: Role) -> bool:
        return bool(self.staff_roles & set(roles))

    def roles_in(self, org_id: int) -> frozenset[Role]:
        return self.org_roles.get(org_id, frozenset())


def system_actor(surface: str = "cli", name: str = "system") -> Actor:
    """The machine itself (CLI run as root on the panel server, the worker): full staff rights."""
    return Actor(user_id=None, username=name, staff_roles=frozenset({Role.ADMIN}), surface=surface)


def actor_for_user(
    user: User,
    *,
    surface: str,
    client_addr: str = "",
    request_id: str | None = None,
    token_scope: str | None = None,
    session=None,
) -> Actor:
    s = session if session is not None else db.session()
    staff: set[Role] = set()
    org_roles: dict[int, set[Role]] = {}
    for m in user.memberships:
        if m.role in STAFF_ROLES:
            staff.add(m.role)
        else:
            org_roles.setdefault(m.org_id, set()).add(m.role)
    visible = set(org_roles)
    frontier = set(org_roles)
    while frontier:  # departments under the user's ministries, at any depth
        children = set(s.scalars(select(Organization.id).where(Organization.parent_id.in_(frontier))))
        frontier = children - visible
        visible |= children
    return Actor(
        user_id=user.id,
        username=user.username,
        staff_roles=frozenset(staff),
        org_roles={k: frozenset(v) for k, v in org_roles.items()},
        org_ids=frozenset(visible),
        surface=surface,
        client_addr=client_addr,
        request_id=request_id or uuid.uuid4().hex,
        token_scope=token_scope,
        locale=user.locale,
    )


def scoped(stmt: Select, actor: Actor, model) -> Select:
    """Restrict a select of `model` (which has org_id) to what the actor may see."""
    if actor.sees_all:
        return stmt
    return stmt.where(model.org_id.in_(actor.org_ids))


def get_scoped(model, object_id, actor: Actor, what: str | None = None):
    """Fetch one object the actor may see, or NotFound: another ministry's object does not exist."""
    obj = None
    if isinstance(object_id, int) and 0 < object_id <= MAX_ID:
        obj = db.session().scalars(scoped(select(model).where(model.id == object_id), actor, model)).first()
    if obj is None:
        raise NotFound(f"{what or model.__tablename__}.not_found", "Not found.", id=str(object_id))
    return obj


def require_staff(actor: Actor, *roles: Role) -> None:
    if not actor.has_staff(*(roles or (Role.OPERATOR, Role.ADMIN))):
        raise Forbidden(
            "auth.forbidden",
            "This needs one of the roles: {roles}.",
            roles=", ".join(r.value for r in roles or (Role.OPERATOR, Role.ADMIN)),
        )


def require_write(actor: Actor) -> None:
    if not actor.can_write:
        raise Forbidden("auth.read_only", "This account or token can only read.")


def refuse_read_token(actor: Actor) -> None:
    """A read-only token changes nothing, not even the user's own state (notifications read)."""
    if actor.token_scope == TokenScope.READ:
        raise Forbidden("auth.read_only", "This account or token can only read.")


def require_org_role(actor: Actor, org_id: int, *roles: Role) -> None:
    """Ministry-side permission on org_id (or a parent ministry's); staff admins/operators pass."""
    require_write(actor)
    if actor.has_staff(Role.ADMIN, Role.OPERATOR):
        return
    if org_id not in actor.org_ids:
        raise NotFound("organization.not_found", "Not found.", id=str(org_id))
    wanted = set(roles or (Role.WEBMASTER, Role.ORG_ADMIN))
    s = db.session()
    org = s.get(Organization, org_id)
    while org is not None:
        if actor.roles_in(org.id) & wanted:
            return
        org = org.parent
    raise Forbidden(
        "auth.forbidden", "This needs one of the roles: {roles}.", roles=", ".join(sorted(r.value for r in wanted))
    )


def datacenter_org_id() -> int | None:
    return db.session().scalars(select(Organization.id).where(Organization.kind == OrgKind.DATACENTER)).first()


__all__ = [
    "Actor",
    "Membership",
    "actor_for_user",
    "get_scoped",
    "refuse_read_token",
    "require_org_role",
    "require_staff",
    "require_write",
    "scoped",
    "system_actor",
]


def has_org_role(actor: Actor, org_id: int, *roles: Role) -> bool:
    """require_org_role as a question: pages offer a form only to those it would let through."""
    try:
        require_org_role(actor, org_id, *roles)
    except PanelError:
        return False
    return True
