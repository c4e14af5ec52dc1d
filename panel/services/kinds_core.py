"""The core request kinds: quota.change (ministries ask for a bigger budget), host.bootstrap, host.ping.

Importing this module registers them; services.requests imports it, so they exist wherever requests
are handled.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from panel import db
from panel.errors import NotFound
from panel.models.hosts import Host
from panel.models.quotas import DEFAULT_LIMITS
from panel.models.requests import ApprovalMode, Decision, Request
from panel.models.tenants import Organization, Role
from panel.services import jobs
from panel.services.actor import Actor
from panel.services.quotas import MAX_LIMIT, apply_limit, check_limit, check_resource, limits_map, usage_map
from panel.services.quotas import budget_org_id as budget_of
from panel.services.request_kinds import N_, RequestKind, register, reject_unknown, require_int, require_text

# ---- quota.change --------------------------------------------------------------------------------


def _known_resource(value: str) -> None:
    """The resources the enabled capabilities declare (registered at load, so checked at call time)."""
    if value not in DEFAULT_LIMITS:
        raise ValidationError("Unknown quota resource.")


class QuotaChangePayload(Schema):
    resource = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=32), _known_resource],
        metadata={"description": "a quota resource declared by an enabled capability (sites, mailboxes, ...)"},
    )
    new_limit = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_LIMIT))
    reason = fields.String(load_default="", validate=validate.Length(max=500))


def _quota_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"resource", "new_limit", "reason"})
    resource = check_resource(payload.get("resource"))
    new_limit = check_limit(payload.get("new_limit"))
    reason = require_text(payload, "reason", max_len=500)
    return {"resource": resource, "new_limit": new_limit, "reason": reason}


def _quota_describe(payload: dict) -> tuple[str, dict]:
    return (N_("{resource}: new limit {limit}"), {"resource": payload["resource"], "limit": payload["new_limit"]})


def _quota_apply(actor: Actor, request: Request) -> list:
    """Approved: the limit changes now (no job), with who asked and who approved in its history."""
    approvers = [a.approver_name for a in request.approvals if a.decision == Decision.APPROVE]
    p = request.payload
    apply_limit(
        db.session(),
        org_id=request.org_id,
        resource=p["resource"],
        new_limit=p["new_limit"],
        requested_by=request.requester_name,
        approved_by=", ".join(approvers) or actor.username,
        request_id=request.id,
        reason=p.get("reason", ""),
    )
    return []


def quota_change_current(session: Session, org_id: int, resource: str) -> tuple[int, int]:
    """(used, limit) of one resource, for forms that show what a change would mean."""
    budget = budget_of(session, org_id)
    return usage_map(session, budget).get(resource, 0), limits_map(session, budget)[resource]


QUOTA_CHANGE = register(
    RequestKind(
        name="quota.change",
        label=N_("Quota change"),
        who_may_request=frozenset({Role.ORG_ADMIN, Role.ADMIN, Role.OPERATOR}),
        validate=_quota_validate,
        schema=QuotaChangePayload,
        on_approve=_quota_apply,
        describe=_quota_describe,
        default_policy=ApprovalMode.ONE,
    )
)


# ---- host.bootstrap / host.ping (data-center staff only) ----------------------------------------------


class HostPayload(Schema):
    host_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**63 - 1))


def _host_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"host_id"})
    host_id = require_int(payload, "host_id", minimum=1, maximum=2**63 - 1)
    if db.session().get(Host, host_id) is None:
        raise NotFound("host.not_found", "Not found.", field="host_id", id=str(host_id))
    return {"host_id": host_id}


def _host_place(session: Session, org: Organization, payload: dict) -> int | None:
    return payload["host_id"]


def _host_describe(payload: dict) -> str:
    host = db.session().get(Host, payload["host_id"])
    return f"host {host.name if host else payload['host_id']}"


def _host_job(actor: Actor, request: Request) -> list:
    """The job of the same kind on the one host; the job service enqueues it after commit."""
    return [
        jobs.job_submit(
            actor,
            kind=request.kind,
            org_id=request.org_id,
            host_ids=[request.payload["host_id"]],
            params={},
            request_id=request.id,
        )
    ]


STAFF = frozenset({Role.OPERATOR, Role.ADMIN})


def _host_kind(name: str, label: str, policy: ApprovalMode) -> RequestKind:
    """A staff request for one job of the same kind on one host."""
    return register(
        RequestKind(
            name=name,
            label=label,
            who_may_request=STAFF,
            validate=_host_validate,
            schema=HostPayload,
            place=_host_place,
            on_approve=_host_job,
            describe=_host_describe,
            default_policy=policy,
        )
    )


HOST_BOOTSTRAP = _host_kind("host.bootstrap", N_("Prepare a new host"), ApprovalMode.ONE)
HOST_PING = _host_kind("host.ping", N_("Check a host answers"), ApprovalMode.AUTO)
