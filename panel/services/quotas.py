"""Quota budgets per ministry: limits, derived usage, the check before approval, limit history.

Budgets belong to ministries; a department's requests draw on its ministry's budget. Usage is the sum
of the RequestQuota rows of requests in a holding status that are not released (see models.quotas),
computed by one grouped query, so it cannot drift. quota_check runs at submission and again at
approval under a row lock on the ministry, so two concurrent approvals cannot both pass the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from panel import db
from panel.errors import Invalid, NotFound, QuotaExceeded
from panel.models.quotas import DEFAULT_LIMITS, QuotaLimit, QuotaLimitChange, RequestQuota
from panel.models.requests import HOLDING, Request
from panel.models.tenants import Organization, OrgKind, Role
from panel.services import request_kinds
from panel.services.actor import Actor, require_staff, require_write
from panel.services.audit import audited
from panel.services.pagination import Page, paginate
from panel.services.tenants import valid_id

MAX_LIMIT = 10**12


@dataclass(frozen=True)
class Resource:
    name: str
    label: str  # English, marked for translation where it is declared; surfaces translate it
    default: int  # DEFAULT_LIMITS[name]
    watched: bool = False  # shown on a ministry's dashboard


RESOURCES: dict[str, Resource] = {}  # in registration order: the order of every budget listing


def resource_register(name: str, label: str, default: int, *, watched: bool = False) -> Resource:
    """A budget resource (a capability's manifest declares it; the capability loader calls this)."""
    res = RESOURCES[name] = Resource(name, label, default, watched)
    DEFAULT_LIMITS[name] = default
    return res


def resource_unregister(name: str) -> None:
    RESOURCES.pop(name, None)
    DEFAULT_LIMITS.pop(name, None)


def resource_label(name: str) -> str:
    """The English label of a resource (the name itself for one no capability declares any more)."""
    res = RESOURCES.get(name)
    return res.label if res else name


@dataclass(frozen=True)
class QuotaRow:
    resource: str
    used: int
    limit: int


@dataclass(frozen=True)
class Impact:
    """A request's effect on one resource: `after` = used + asked, as approvers see it."""

    resource: str
    used: int
    asked: int
    limit: int

    @property
    def after(self) -> int:
        return self.used + self.asked

    @property
    def ok(self) -> bool:
        return self.asked <= 0 or self.after <= self.limit


def check_resource(resource) -> str:
    if not isinstance(resource, str) or resource not in DEFAULT_LIMITS:
        raise Invalid(
            "quota.resource_unknown",
            "Unknown quota resource: {resource}.",
            field="resource",
            resource=str(resource)[:64],
        )
    return resource


def check_deltas(deltas: dict) -> dict[str, int]:
    clean = {}
    for resource, amount in (deltas or {}).items():
        check_resource(resource)
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_LIMIT:
            raise Invalid("quota.amount_invalid", "A quota amount must be a whole number from 0.", field="resource")
        if amount:
            clean[resource] = amount
    return clean


def budget_org_id(session: Session, org_id: int) -> int:
    """The ministry whose budget an organization draws on (itself unless it is a department)."""
    org = session.get(Organization, org_id)
    seen = set()
    while org is not None and org.kind == OrgKind.DEPARTMENT and org.parent_id and org.id not in seen:
        seen.add(org.id)
        org = session.get(Organization, org.parent_id)
    return org.id if org is not None else org_id


def _visible_org(actor: Actor, org_id) -> int:
    org_id = valid_id(org_id)
    if not actor.sees_all and org_id not in actor.org_ids:
        raise_not_found(org_id)
    if db.session().get(Organization, org_id) is None:
        raise_not_found(org_id)
    return org_id


def raise_not_found(org_id) -> None:
    raise NotFound("organization.not_found", "Not found.", id=str(org_id))


def usage_map(session: Session, budget_id: int, *, exclude_request_id: int | None = None) -> dict[str, int]:
    """Held amounts per resource, in one grouped query over the ministry's quota rows."""
    stmt = (
        select(RequestQuota.resource, func.sum(RequestQuota.amount))
        .join(Request, Request.id == RequestQuota.request_id)
        .where(
            RequestQuota.org_id == budget_id,
            RequestQuota.released_at.is_(None),
            Request.status.in_([s.value for s in HOLDING]),
        )
        .group_by(RequestQuota.resource)
    )
    if exclude_request_id is not None:
        stmt = stmt.where(RequestQuota.request_id != exclude_request_id)
    return {r: int(n or 0) for r, n in session.execute(stmt)}


def limits_map(session: Session, budget_id: int) -> dict[str, int]:
    rows = session.execute(select(QuotaLimit.resource, QuotaLimit.limit).where(QuotaLimit.org_id == budget_id))
    return {**DEFAULT_LIMITS, **dict(rows.all())}


def lock_budget(session: Session, budget_id: int) -> None:
    """Serialise approvals of one ministry (PostgreSQL row lock; SQLite writers already queue)."""
    session.execute(select(Organization.id).where(Organization.id == budget_id).with_for_update())


def quota_impact(
    session: Session, org_id: int, deltas: dict, *, exclude_request_id: int | None = None, lock: bool = False
) -> list[Impact]:
    budget = budget_org_id(session, org_id)
    if lock:
        lock_budget(session, budget)
    used = usage_map(session, budget, exclude_request_id=exclude_request_id)
    limits = limits_map(session, budget)
    return [Impact(r, used.get(r, 0), int(a), limits.get(r, 0)) for r, a in sorted(deltas.items())]


def quota_check(
    actor: Actor, org_id: int, deltas: dict, *, exclude_request_id: int | None = None, lock: bool = False
) -> list[Impact]:
    """Raise QuotaExceeded("quota.<resource>", used=, asked=, limit=) if any resource would overflow."""
    with db.unit_of_work() as s:
        impact = quota_impact(s, org_id, check_deltas(deltas), exclude_request_id=exclude_request_id, lock=lock)
    for row in impact:
        if not row.ok:
            raise QuotaExceeded(
                f"quota.{row.resource}",
                resource=f"quota.{row.resource}",
                used=row.used,
                asked=row.asked,
                limit=row.limit,
            )
    return impact


def quota_record(session: Session, request: Request, deltas: dict[str, int]) -> None:
    """Store what a request asks; it counts only while the request holds (see models.quotas)."""
    budget = budget_org_id(session, request.org_id)
    for resource, amount in check_deltas(deltas).items():
        session.add(RequestQuota(request_id=request.id, org_id=budget, resource=resource, amount=amount))
    session.flush()


def quota_release(session: Session, request_ids: Iterable[int | None]) -> int:
    """Objects these requests made are gone: their budget is free again. A request whose kind made
    several objects (RequestKind.kept) keeps holding what its other live objects hold (quota_keep).
    Runs in the caller's transaction (a capability's job hook that deleted the object, after the
    object's row says so); returns the rows released in full. With quota_keep, the one place a hold
    ends besides the request's own status (see models.quotas)."""
    ids = sorted({i for i in request_ids if i is not None})
    if not ids:
        return 0
    for req in session.scalars(select(Request).where(Request.id.in_(ids))):
        kind = request_kinds.find(req.kind)
        kept = kind.kept(session, req) if kind is not None and kind.kept is not None else {}
        if kept:
            quota_keep(session, req.id, kept)
            ids.remove(req.id)
    if not ids:
        return 0
    result = session.execute(
        update(RequestQuota)
        .where(RequestQuota.request_id.in_(ids), RequestQuota.released_at.is_(None))
        .values(released_at=db.utcnow())
    )
    return result.rowcount or 0


def quota_keep(session: Session, request_id: int, kept: dict[str, int]) -> None:
    """A request is cancelled: what it made that still lives (`kept`, per resource, from its kind)
    keeps holding, capped at what it asked; the rest of its budget is free again. A request of
    several objects whose job applied some and failed others is given up with its live ones still
    counted. Runs in the caller's transaction (requests.request_cancel)."""
    rows = session.scalars(
        select(RequestQuota)
        .where(RequestQuota.request_id == request_id, RequestQuota.released_at.is_(None))
        .with_for_update()
    )
    for row in rows:
        keep = kept.get(row.resource, 0)
        if isinstance(keep, int) and not isinstance(keep, bool) and keep > 0:
            row.amount = min(row.amount, keep)
        else:
            row.released_at = db.utcnow()
    session.flush()


def quota_usage(actor: Actor, org_id) -> list[QuotaRow]:
    """Every resource of the ministry's budget: (resource, used, limit)."""
    with db.unit_of_work() as s:
        budget = budget_org_id(s, _visible_org(actor, org_id))
        used = usage_map(s, budget)
        limits = limits_map(s, budget)
    return [QuotaRow(r, used.get(r, 0), limits[r]) for r in DEFAULT_LIMITS]


def apply_limit(
    session: Session,
    *,
    org_id: int,
    resource: str,
    new_limit: int,
    requested_by: str,
    approved_by: str,
    request_id: int | None = None,
    reason: str = "",
) -> QuotaLimitChange:
    """Set a limit and append its history row; the caller has checked permissions."""
    budget = budget_org_id(session, org_id)
    row = session.scalars(
        select(QuotaLimit).where(QuotaLimit.org_id == budget, QuotaLimit.resource == resource).with_for_update()
    ).first()
    old = row.limit if row is not None else DEFAULT_LIMITS[resource]
    if row is None:
        row = QuotaLimit(org_id=budget, resource=resource, limit=new_limit)
        session.add(row)
    row.limit, row.updated_at = new_limit, db.utcnow()
    change = QuotaLimitChange(
        org_id=budget,
        resource=resource,
        old=old,
        new=new_limit,
        requested_by=requested_by,
        approved_by=approved_by,
        request_id=request_id,
        reason=reason,
    )
    session.add(change)
    session.flush()
    return change


def check_limit(value) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise Invalid(
            "quota.limit_invalid", "The limit must be a whole number from 0 to {max}.", field="limit", max=MAX_LIMIT
        )
    return value


@audited("quota.set", "quota_limit")
def quota_set(actor: Actor, *, org_id: int, resource: str, limit: int, reason: str = "") -> QuotaLimitChange:
    """A data-center admin sets a limit directly (the history shows them as asker and approver)."""
    require_write(actor)
    require_staff(actor, Role.ADMIN)
    resource, limit = check_resource(resource), check_limit(limit)
    with db.unit_of_work() as s:
        org_id = _visible_org(actor, org_id)
        return apply_limit(
            s,
            org_id=org_id,
            resource=resource,
            new_limit=limit,
            requested_by=actor.username,
            approved_by=actor.username,
            reason=(reason or "")[:500],
        )


def quota_history(actor: Actor, org_id, *, page: int = 1, per_page: int = 50) -> Page:
    with db.unit_of_work() as s:
        budget = budget_org_id(s, _visible_org(actor, org_id))
        stmt = select(QuotaLimitChange).where(QuotaLimitChange.org_id == budget).order_by(QuotaLimitChange.id.desc())
        return paginate(stmt, page=page, per_page=per_page)
