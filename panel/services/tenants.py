"""Organizations: the data center, ministries and their departments, and who belongs to them.

Staff see every organization; a ministry user sees the organizations they are a member of and the
departments below them. Anything else does not exist for them (404, never 403, so ids of other
ministries cannot be probed). Only data-center admins create, move or deactivate organizations; a
ministry's org_admin may rename their own.
"""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select

from panel import db
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.services.actor import Actor, require_staff, require_write
from panel.services.audit import audited
from panel.services.pagination import Page, paginate

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_MULTILINE_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # tab and newline allowed
MAX_ID = 2**63 - 1  # the largest id any database here stores; bigger ones cannot exist


def clean_text(value, field: str, *, max_len: int = 200, required: bool = True, multiline: bool = False) -> str:
    """User text, trimmed and bounded, without control characters (NUL included): one line, or with
    `multiline` (comments) newlines and tabs allowed, Windows line ends made \\n."""
    value = "" if value is None else str(value)
    value = (value.replace("\r\n", "\n") if multiline else value).strip()
    if required and not value:
        raise Invalid(f"{field}.required", "This field is required.", field=field)
    if len(value) > max_len:
        raise Invalid(f"{field}.too_long", "At most {max} characters.", field=field, max=max_len)
    if (_MULTILINE_CONTROL_RE if multiline else _CONTROL_RE).search(value):
        raise Invalid(f"{field}.control_chars", "Control characters are not allowed.", field=field)
    return value


def valid_id(value, what: str = "organization") -> int:
    """An id from the outside world; one that cannot exist is simply not found."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"{what}.not_found", "Not found.", id=str(value)[:64]) from None
    if not 0 < n <= MAX_ID:
        raise NotFound(f"{what}.not_found", "Not found.", id=str(n)[:64])
    return n


def _org_id(target, _kwargs) -> int | None:
    return getattr(target, "id", None)


def _check_slug(slug: str) -> str:
    slug = (slug or "").strip()
    if not SLUG_RE.match(slug):
        raise Invalid(
            "organization.slug_invalid", "2-63 lowercase letters, digits and '-', starting with a letter.", field="slug"
        )
    if db.session().scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
        raise Conflict("organization.slug_taken", "The short name {slug} is already used.", field="slug", slug=slug)
    return slug


def _check_kind(kind) -> OrgKind:
    try:
        return OrgKind(kind)
    except ValueError:
        raise Invalid("organization.kind_invalid", "Choose datacenter, ministry or department.", field="kind") from None


def _check_parent(kind: OrgKind, parent_id) -> int | None:
    s = db.session()
    if kind != OrgKind.DEPARTMENT:
        if parent_id not in (None, "", 0):
            raise Invalid(
                "organization.parent_not_allowed", "Only a department has a parent ministry.", field="parent_id"
            )
        return None
    if parent_id in (None, "", 0):
        raise Invalid("organization.parent_required", "A department needs its ministry.", field="parent_id")
    try:
        pid = valid_id(parent_id)
    except NotFound:
        raise Invalid(
            "organization.parent_invalid", "The parent must be an active ministry.", field="parent_id"
        ) from None
    parent = s.get(Organization, pid)
    if parent is None or parent.kind != OrgKind.MINISTRY or not parent.is_active:
        raise Invalid("organization.parent_invalid", "The parent must be an active ministry.", field="parent_id")
    return parent.id


@audited("org.create", "organization", org=_org_id)
def org_create(
    actor: Actor, *, slug: str, name: str, name_km: str = "", kind: str, parent_id: int | None = None
) -> Organization:
    require_write(actor)
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        kind = _check_kind(kind)
        org = Organization(
            slug=_check_slug(slug),
            name=clean_text(name, "name"),
            name_km=clean_text(name_km, "name_km", required=False),
            kind=kind,
            parent_id=_check_parent(kind, parent_id),
        )
        if (
            kind == OrgKind.DATACENTER
            and s.scalar(select(Organization.id).where(Organization.kind == OrgKind.DATACENTER)) is not None
        ):
            raise Conflict(
                "organization.datacenter_exists", "There is already a data-center organization.", field="kind"
            )
        s.add(org)
        s.flush()
        return org


def _visible(stmt, actor: Actor):
    return stmt if actor.sees_all else stmt.where(Organization.id.in_(actor.org_ids))


def org_list(actor: Actor, page: int = 1, per_page: int = 50, q: str = "") -> Page:
    q = clean_text(q, "q", max_len=100, required=False)
    stmt = _visible(select(Organization), actor)
    if q:
        like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                func.lower(Organization.name).like(like, escape="\\"),
                Organization.slug.like(like, escape="\\"),
                Organization.name_km.like(like, escape="\\"),
            )
        )
    return paginate(stmt.order_by(Organization.kind, Organization.name, Organization.id), page=page, per_page=per_page)


def org_get(actor: Actor, id) -> Organization:
    org_id = valid_id(id)
    org = db.session().scalars(_visible(select(Organization).where(Organization.id == org_id), actor)).first()
    if org is None:
        raise NotFound("organization.not_found", "Not found.", id=str(org_id))
    return org


def _require_manager(actor: Actor, org: Organization) -> None:
    """Staff admins, or an org_admin of this organization or of its ministry."""
    require_write(actor)
    if actor.has_staff(Role.ADMIN):
        return
    if Role.ORG_ADMIN in actor.roles_in(org.id) or (org.parent_id and Role.ORG_ADMIN in actor.roles_in(org.parent_id)):
        return
    raise Forbidden("auth.forbidden", "This needs one of the roles: {roles}.", roles="admin, org_admin")


@audited("org.update", "organization", org=_org_id)
def org_update(
    actor: Actor, *, id: int, name: str | None = None, name_km: str | None = None, parent_id: int | None = None
) -> Organization:
    """Rename (admins and the ministry's org_admins); moving a department is for staff admins."""
    with db.unit_of_work():
        org = org_get(actor, id)
        _require_manager(actor, org)
        if name is not None:
            org.name = clean_text(name, "name")
        if name_km is not None:
            org.name_km = clean_text(name_km, "name_km", required=False)
        if parent_id not in (None, "", 0) and parent_id != org.parent_id:
            require_staff(actor, Role.ADMIN)
            org.parent_id = _check_parent(org.kind, parent_id)
        return org


@audited("org.deactivate", "organization", org=_org_id)
def org_deactivate(actor: Actor, *, id: int) -> Organization:
    with db.unit_of_work() as s:
        org = org_get(actor, id)  # another ministry's organization: 404 before any 403
        require_write(actor)
        require_staff(actor, Role.ADMIN)
        if org.kind == OrgKind.DATACENTER:
            raise Conflict("organization.datacenter_required", "The data-center organization cannot be deactivated.")
        if not org.is_active:
            raise Conflict("organization.inactive", "This organization is already inactive.")
        active_children = s.scalar(
            select(func.count()).where(Organization.parent_id == org.id, Organization.is_active.is_(True))
        )
        if active_children:
            raise Conflict("organization.has_departments", "Deactivate its {n} departments first.", n=active_children)
        org.is_active = False
        return org


def org_members(actor: Actor, org_id, page: int = 1, per_page: int = 50) -> Page:
    """The users with a role in the organization (items are User; their memberships come loaded)."""
    org = org_get(actor, org_id)
    stmt = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org.id)
        .order_by(User.username)
    )
    return paginate(stmt, page=page, per_page=per_page)


def roles_in(user: User, org_id: int) -> list[str]:
    return sorted(m.role.value for m in user.memberships if m.org_id == org_id)


def ministries(actor: Actor) -> list[Organization]:
    """Active ministries the actor sees (choices for a department's parent)."""
    stmt = _visible(
        select(Organization).where(Organization.kind == OrgKind.MINISTRY, Organization.is_active.is_(True)), actor
    )
    return list(db.session().scalars(stmt.order_by(Organization.name).limit(500)))


def org_find(actor: Actor, ref: str | int) -> Organization:
    """An organization by id or slug (the CLI's SLUG|ID arguments), among those the actor sees."""
    ref = str(ref).strip()
    if ref.isdigit():
        return org_get(actor, ref)
    org = db.session().scalars(_visible(select(Organization).where(Organization.slug == ref[:63]), actor)).first()
    if org is None:
        raise NotFound("organization.not_found", "Not found.", id=ref[:64])
    return org
