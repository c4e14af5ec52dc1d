"""Visitor access: a ministry's authorised signers name the people allowed in (ID number, company,
validity window; temporary passes of at most 24 hours), DC staff approve, passes expire by
themselves (window over, or unused for INACTIVE_DAYS), and DC staff log each visit in and out at
the door. Every change is an audit entry; the ID number never enters the audit log.

Expiry holds even before the sweep runs: `pass_state` computes it, and check-in refuses what it
says is expired; the sweep (`colocation.passes`) writes it down so lists and filters show it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import or_, select

from panel import db
from panel.capabilities.colocation.models import PassStatus, Signer, Visit, VisitorPass
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.tenants import Membership, Organization, Role
from panel.models.users import User
from panel.services.actor import Actor, get_scoped, require_org_role, require_staff, require_write, scoped
from panel.services.audit import audited
from panel.services.pagination import Page, paginate

TEMPORARY_MAX = dt.timedelta(hours=24)
LONGEST = dt.timedelta(days=366)
INACTIVE_DAYS = 90
PERSON = re.compile(r"^[^\x00-\x1f\x7f<>{}\\]{1,100}$")
ID_NUMBER = re.compile(r"^[A-Za-z0-9-]{4,40}$")
P = PassStatus


def _text(value, field: str, *, required: bool = True) -> str:
    text = " ".join(str(value or "").split())
    if not text and not required:
        return ""
    if not PERSON.match(text):
        raise Invalid(
            "colocation.visitor_text_invalid",
            "Use 1 to 100 characters, without control characters or < > { } \\.",
            field=field,
        )
    return text


def _when(value, field: str) -> dt.datetime:
    """An ISO 8601 time; without an offset it is UTC."""
    if isinstance(value, dt.datetime):
        when = value
    else:
        try:
            when = dt.datetime.fromisoformat(str(value or "").strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(
                "colocation.time_invalid", "Give a date and time such as 2026-12-24T08:00 (UTC).", field=field
            ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


# ---- signers ---------------------------------------------------------------------------------------


def signer_list(actor: Actor, *, org_id=None) -> list[tuple[Signer, str]]:
    stmt = scoped(select(Signer, User.username).join(User, User.id == Signer.user_id), actor, Signer)
    if org_id not in (None, ""):
        stmt = stmt.where(Signer.org_id == int(org_id))
    with db.unit_of_work() as s:
        return [(sg, name) for sg, name in s.execute(stmt.order_by(Signer.org_id, User.username))]


@audited("colocation.signer_add", "colo_signer")
def signer_add(actor: Actor, *, org_id: int, username: str) -> Signer:
    """A ministry admin (or DC staff) names one of the ministry's users as an authorised signer."""
    with db.unit_of_work() as s:
        org = s.get(Organization, int(org_id)) if str(org_id).isdigit() else None
        if org is None or not (actor.sees_all or org.id in actor.org_ids):
            raise NotFound("organization.not_found", "Not found.", field="org_id", id=str(org_id))
        require_org_role(actor, org.id, Role.ORG_ADMIN)
        user = s.scalars(select(User).where(User.username == str(username or "").strip()[:64])).first()
        member = (
            user is not None
            and s.scalars(
                select(Membership.id).where(Membership.user_id == user.id, Membership.org_id == org.id)
            ).first()
        )
        if not member:
            raise Invalid(
                "colocation.signer_not_member", "{username} is not a member of this organization.",
                field="username", username=str(username)[:64],
            )  # fmt: skip
        if s.scalars(select(Signer.id).where(Signer.org_id == org.id, Signer.user_id == user.id)).first():
            raise Conflict("colocation.signer_exists", "{username} is a signer already.", username=user.username)
        signer = Signer(org_id=org.id, user_id=user.id, named_by=actor.username)
        s.add(signer)
        s.flush()
        return signer


@audited("colocation.signer_remove", "colo_signer")
def signer_remove(actor: Actor, *, signer_id: int) -> Signer:
    with db.unit_of_work() as s:
        signer = get_scoped(Signer, signer_id, actor, "colo_signer")
        require_org_role(actor, signer.org_id, Role.ORG_ADMIN)
        s.delete(signer)
        s.flush()
        return signer


def is_signer(actor: Actor, org_id: int) -> bool:
    if actor.user_id is None:
        return False
    with db.unit_of_work() as s:
        return (
            s.scalars(select(Signer.id).where(Signer.org_id == org_id, Signer.user_id == actor.user_id)).first()
            is not None
        )


# ---- passes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassState:
    status: PassStatus
    reason: str = ""  # for expired: "window" or "inactive"


def pass_state(p: VisitorPass, now: dt.datetime) -> PassState:
    """What a pass is worth right now, whether or not the sweep has written it down yet."""
    if p.status == P.APPROVED:
        if now > p.valid_until:
            return PassState(P.EXPIRED, "window")
        since = p.last_visit_at or p.decided_at or p.created_at
        if now - since > dt.timedelta(days=INACTIVE_DAYS):
            return PassState(P.EXPIRED, "inactive")
    return PassState(p.status, p.expired_reason)


@audited("colocation.visitor_add", "colo_visitor_pass", exclude=("id_number",))
def visitor_add(
    actor: Actor,
    *,
    org_id: int,
    full_name: str,
    id_number: str,
    company: str = "",
    valid_from,
    valid_until,
    temporary: bool = False,
) -> VisitorPass:
    """An authorised signer of the ministry names a visitor; DC staff then approve the pass."""
    require_write(actor)
    now = db.utcnow()
    start, end = _when(valid_from, "valid_from"), _when(valid_until, "valid_until")
    if end <= start:
        raise Invalid("colocation.window_invalid", "The pass must end after it starts.", field="valid_until")
    if end <= now:
        raise Invalid("colocation.window_past", "The pass would end in the past.", field="valid_until")
    if temporary and end - start > TEMPORARY_MAX:
        raise Invalid("colocation.temporary_too_long", "A temporary pass lasts at most 24 hours.", field="valid_until")
    if end - start > LONGEST:
        raise Invalid("colocation.window_too_long", "A pass lasts at most one year.", field="valid_until")
    number = str(id_number or "").strip().upper()
    if not ID_NUMBER.match(number):
        raise Invalid(
            "colocation.id_number_invalid", "Give the ID card or passport number: 4 to 40 letters and digits.",
            field="id_number",
        )  # fmt: skip
    with db.unit_of_work() as s:
        org = s.get(Organization, int(org_id)) if str(org_id).isdigit() else None
        if org is None or not (actor.sees_all or org.id in actor.org_ids):
            raise NotFound("organization.not_found", "Not found.", field="org_id", id=str(org_id))
        if not is_signer(actor, org.id):
            raise Forbidden("colocation.not_signer", "Only an authorised signer of the ministry may name visitors.")
        p = VisitorPass(
            org_id=org.id,
            full_name=_text(full_name, "full_name"),
            id_number=number,
            company=_text(company, "company", required=False),
            valid_from=start,
            valid_until=end,
            temporary=bool(temporary),
            signer_id=actor.user_id,
            signer_name=actor.username,
        )
        s.add(p)
        s.flush()
        return p


def visitor_list(actor: Actor, *, page: int = 1, per_page: int = 50, status: str | None = None) -> Page:
    stmt = scoped(select(VisitorPass), actor, VisitorPass)
    if status:
        try:
            stmt = stmt.where(VisitorPass.status == PassStatus(status))
        except ValueError:
            raise Invalid("colocation.status_invalid", "Unknown status: {status}.", field="status",
                          status=str(status)[:20]) from None  # fmt: skip
    with db.unit_of_work():
        return paginate(stmt.order_by(VisitorPass.id.desc()), page=page, per_page=per_page)


def visitor_get(actor: Actor, pass_id) -> VisitorPass:
    with db.unit_of_work():
        return get_scoped(VisitorPass, pass_id, actor, "colo_visitor_pass")


def _decide(actor: Actor, pass_id, target: PassStatus) -> VisitorPass:
    with db.unit_of_work() as s:
        p = get_scoped(VisitorPass, pass_id, actor, "colo_visitor_pass")
        require_write(actor)
        require_staff(actor, Role.OPERATOR, Role.ADMIN)
        if p.status != P.PENDING:
            raise Conflict("colocation.pass_decided", "This pass is {status} already.", status=p.status.value)
        if actor.user_id is not None and actor.user_id == p.signer_id:
            raise Forbidden("request.self_approval", "Nobody decides on their own request.")
        if target == P.APPROVED and p.valid_until <= db.utcnow():
            raise Conflict("colocation.window_past", "The pass would end in the past.")
        p.move_to(target)
        p.decided_by, p.decided_at = actor.username, db.utcnow()
        s.flush()
        return p


@audited("colocation.visitor_approve", "colo_visitor_pass")
def visitor_approve(actor: Actor, *, pass_id: int) -> VisitorPass:
    return _decide(actor, pass_id, P.APPROVED)


@audited("colocation.visitor_reject", "colo_visitor_pass")
def visitor_reject(actor: Actor, *, pass_id: int) -> VisitorPass:
    return _decide(actor, pass_id, P.REJECTED)


@audited("colocation.visitor_revoke", "colo_visitor_pass")
def visitor_revoke(actor: Actor, *, pass_id: int) -> VisitorPass:
    """The ministry's signer or admin, or DC staff, withdraw a pass at once."""
    with db.unit_of_work() as s:
        p = get_scoped(VisitorPass, pass_id, actor, "colo_visitor_pass")
        require_write(actor)
        if not (actor.has_staff(Role.OPERATOR, Role.ADMIN) or is_signer(actor, p.org_id)):
            require_org_role(actor, p.org_id, Role.ORG_ADMIN)
        if p.status not in (P.PENDING, P.APPROVED):
            raise Conflict("colocation.pass_decided", "This pass is {status} already.", status=p.status.value)
        p.move_to(P.REVOKED)
        p.decided_by, p.decided_at = actor.username, db.utcnow()
        s.flush()
        return p


# ---- the door --------------------------------------------------------------------------------------


@audited("colocation.visit_check_in", "colo_visit")
def visit_check_in(actor: Actor, *, pass_id: int) -> Visit:
    """DC staff at the door: the person shows the ID named on the pass; the pass must be valid now."""
    with db.unit_of_work() as s:
        p = get_scoped(VisitorPass, pass_id, actor, "colo_visitor_pass")
        require_write(actor)
        require_staff(actor, Role.OPERATOR, Role.ADMIN)
        s.refresh(p, with_for_update=True)
        now = db.utcnow()
        state = pass_state(p, now)
        if state.status == P.EXPIRED:  # the sweep writes it down; the door refuses it already
            if state.reason == "inactive":
                raise Conflict(
                    "colocation.pass_expired", "This pass has expired: it was unused for too long.", reason="inactive"
                )
            raise Conflict("colocation.pass_expired", "This pass has expired: its window ended.", reason="window")
        if state.status != P.APPROVED:
            raise Conflict("colocation.pass_not_approved", "This pass is {status}, not approved.",
                           status=state.status.value)  # fmt: skip
        if now < p.valid_from:
            raise Conflict("colocation.pass_not_yet", "This pass is valid from {start} (UTC).",
                           start=p.valid_from.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
        inside = s.scalars(select(Visit.id).where(Visit.pass_id == p.id, Visit.checked_out_at.is_(None))).first()
        if inside:
            raise Conflict("colocation.already_inside", "{name} is inside already.", name=p.full_name)
        visit = Visit(pass_id=p.id, org_id=p.org_id, checked_in_at=now, checked_in_by=actor.username)
        p.last_visit_at = now
        s.add(visit)
        s.flush()
        return visit


@audited("colocation.visit_check_out", "colo_visit")
def visit_check_out(actor: Actor, *, pass_id: int) -> Visit:
    with db.unit_of_work() as s:
        p = get_scoped(VisitorPass, pass_id, actor, "colo_visitor_pass")
        require_write(actor)
        require_staff(actor, Role.OPERATOR, Role.ADMIN)
        visit = s.scalars(
            select(Visit).where(Visit.pass_id == p.id, Visit.checked_out_at.is_(None)).with_for_update()
        ).first()
        if visit is None:
            raise Conflict("colocation.not_inside", "{name} is not inside.", name=p.full_name)
        visit.checked_out_at, visit.checked_out_by = db.utcnow(), actor.username
        p.last_visit_at = visit.checked_out_at
        s.flush()
        return visit


def visit_list(actor: Actor, *, pass_id=None, page: int = 1, per_page: int = 50) -> Page:
    stmt = scoped(select(Visit), actor, Visit)
    if pass_id not in (None, ""):
        stmt = stmt.where(Visit.pass_id == visitor_get(actor, pass_id).id)
    with db.unit_of_work():
        return paginate(stmt.order_by(Visit.id.desc()), page=page, per_page=per_page)


def _expire(p: VisitorPass, reason: str) -> None:
    p.move_to(P.EXPIRED)
    p.expired_reason = reason


def passes_expire(actor: Actor) -> list[int]:
    """The sweep: approved passes past their window, or unused for INACTIVE_DAYS, become expired
    (one audit entry each, as the system). Returns their ids."""
    require_staff(actor, Role.ADMIN)
    now = db.utcnow()
    idle = now - dt.timedelta(days=INACTIVE_DAYS)
    with db.unit_of_work() as s:
        rows = s.scalars(
            select(VisitorPass)
            .where(
                VisitorPass.status == P.APPROVED,
                or_(
                    VisitorPass.valid_until < now,
                    VisitorPass.last_visit_at < idle,
                    (VisitorPass.last_visit_at.is_(None) & (VisitorPass.decided_at < idle)),
                ),
            )
            .limit(1000)
        ).all()
    return [pass_expire(actor, pass_id=p.id).id for p in rows]


@audited("colocation.visitor_expire", "colo_visitor_pass")
def pass_expire(actor: Actor, *, pass_id: int) -> VisitorPass:
    with db.unit_of_work() as s:
        p = s.get(VisitorPass, pass_id, with_for_update=True)
        state = pass_state(p, db.utcnow())
        if state.status == P.EXPIRED and p.status == P.APPROVED:
            _expire(p, state.reason)
            s.flush()
        return p
