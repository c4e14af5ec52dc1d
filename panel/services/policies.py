"""Approval policies: per request kind, auto / one / two approvals, set by data-center admins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.errors import Invalid
from panel.models.requests import ApprovalMode, ApprovalPolicy
from panel.models.tenants import Role
from panel.services import request_kinds
from panel.services.actor import Actor, require_staff, require_write
from panel.services.audit import audited


@dataclass(frozen=True)
class PolicyRow:
    kind: str
    label: str
    mode: ApprovalMode
    is_default: bool
    updated_by: str = ""


def policy_mode(session: Session, kind: str) -> ApprovalMode:
    row = session.scalars(select(ApprovalPolicy).where(ApprovalPolicy.kind == kind)).first()
    return row.mode if row is not None else request_kinds.get(kind).default_policy


def policy_list(actor: Actor) -> list[PolicyRow]:
    """Every registered kind with its mode (the kind's default unless an admin set one)."""
    with db.unit_of_work() as s:
        rows = {p.kind: p for p in s.scalars(select(ApprovalPolicy))}
    out = []
    for k in request_kinds.all():
        if k.recorded_only:  # filed done by request_record: no approval to set
            continue
        p = rows.get(k.name)
        out.append(PolicyRow(k.name, k.label, p.mode if p else k.default_policy, p is None, p.updated_by if p else ""))
    return out


def check_mode(mode) -> ApprovalMode:
    try:
        return ApprovalMode(mode)
    except ValueError:
        raise Invalid("policy.mode_invalid", "Choose auto, one or two.", field="mode") from None


@audited("policy.set", "approval_policy")
def policy_set(actor: Actor, *, kind: str, mode: str) -> ApprovalPolicy:
    require_write(actor)
    require_staff(actor, Role.ADMIN)
    kind, mode = request_kinds.get(kind).name, check_mode(mode)
    with db.unit_of_work() as s:
        row = s.scalars(select(ApprovalPolicy).where(ApprovalPolicy.kind == kind)).first()
        if row is None:
            row = ApprovalPolicy(kind=kind, mode=mode)
            s.add(row)
        row.mode, row.updated_by, row.updated_at = mode, actor.username, db.utcnow()
        s.flush()
        return row
