"""Requests API: list, create, read, preview; approve, reject, cancel, retry, comment; policies."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import WindowArgs, actor, operation, plain_dumper, text, window_list, window_schema
from panel.models.requests import ApprovalMode, RequestStatus
from panel.services import policies as policies_svc
from panel.services import request_kinds
from panel.services import requests as requests_svc

blp = Blueprint("api_requests", __name__, url_prefix="/requests", description="Requests and their approvals")
policies_blp = Blueprint("api_policies", __name__, url_prefix="/policies", description="Approval policies")


class ApprovalSchema(Schema):
    approver_name = fields.String()
    decision = fields.Function(lambda a: a.decision.value)
    comment = fields.String()
    created_at = fields.DateTime()


class CommentSchema(Schema):
    id = fields.Integer()
    author_name = fields.String()
    body = fields.String()
    created_at = fields.DateTime()


class RequestSchema(Schema):
    """A request as clients see it: never its secrets."""

    id = fields.Integer()
    kind = fields.String()
    org_id = fields.Integer()
    requester_name = fields.String()
    status = fields.Function(lambda r: r.status.value)
    summary = fields.String()
    payload = fields.Dict()
    target_host_id = fields.Integer(allow_none=True)
    approvals_needed = fields.Integer()
    retries = fields.Integer()
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    approvals = fields.List(fields.Nested(ApprovalSchema))
    comments = fields.List(fields.Nested(CommentSchema))


class RequestListItemSchema(Schema):
    """A request in a list: GET /requests/{id} adds its approvals and comments."""

    id = fields.Integer()
    kind = fields.String()
    org_id = fields.Integer()
    requester_name = fields.String()
    status = fields.String()
    summary = fields.String()
    payload = fields.Dict()
    target_host_id = fields.Integer(allow_none=True)
    approvals_needed = fields.Integer()
    retries = fields.Integer()
    created_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


_dump_requests = plain_dumper(RequestListItemSchema)


class ImpactSchema(Schema):
    resource = fields.String()
    used = fields.Integer()
    asked = fields.Integer()
    limit = fields.Integer()
    after = fields.Integer()
    ok = fields.Boolean()


class PreviewSchema(Schema):
    request = fields.Nested(RequestSchema)
    impact = fields.List(fields.Nested(ImpactSchema))
    target_host = fields.String()
    mode = fields.Function(lambda p: p.mode.value)
    approvals_have = fields.Integer()
    within_budget = fields.Boolean()


class RequestListArgs(WindowArgs):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in RequestStatus]))
    kind = fields.String(load_default=None, validate=text(max=64))
    org_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**63 - 1))
    mine = fields.Boolean(load_default=False)


def document_payloads(spec) -> None:
    """OpenAPI tells the truth about payloads: each kind's own schema is a component, and
    RequestCreate.payload is one of them (or, while some kinds have no schema yet, any object)."""
    names: dict[type, str] = {}
    by_kind, untyped = [], False
    for kind in request_kinds.all():
        if kind.recorded_only:  # nobody creates these: request_record files them
            continue
        if kind.schema is None:
            untyped = True
            continue
        if kind.schema not in names:
            names[kind.schema] = kind.schema.__name__
            spec.components.schema(names[kind.schema], schema=kind.schema)
        by_kind.append(f"`{kind.name}`: {names[kind.schema]}")
    payload = spec.components.schemas["RequestCreate"]["properties"]["payload"]
    payload["anyOf"] = [{"$ref": f"#/components/schemas/{n}"} for n in sorted(names.values())]
    payload["anyOf"] += [{"type": "object"}] if untyped else []
    payload["description"] = "The payload of `kind`: " + "; ".join(by_kind) + "."


class RequestCreateSchema(Schema):
    kind = fields.String(required=True, validate=text(min=1, max=64))
    org_id = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1, max=2**63 - 1))
    payload = fields.Dict(keys=fields.String(validate=text(max=64)), required=True)
    secrets = fields.Dict(
        keys=fields.String(validate=text(max=64)), values=fields.String(), load_default=None, load_only=True
    )
    submit = fields.Boolean(load_default=True)


class DecisionSchema(Schema):
    comment = fields.String(load_default="", validate=text(max=2000, multiline=True))


class CommentCreateSchema(Schema):
    body = fields.String(required=True, validate=text(min=1, max=4000, multiline=True))


@operation(blp, "/")
@blp.arguments(RequestListArgs(), location="query")
@blp.response(200, window_schema(RequestListItemSchema))
def request_list(args):
    """Newest first, 50 a page (follow `next`); `status=submitted` is the approvals queue."""
    return window_list(requests_svc.request_window, args, _dump_requests)


@operation(blp, "/", "POST")
@blp.arguments(RequestCreateSchema)
@blp.response(201, RequestSchema)
def request_create(data):
    """File a request (submitted at once unless submit=false); 409 quota.<resource> when over budget."""
    return requests_svc.request_create(actor(), **data)


@operation(blp, "/<int:request_id>")
@blp.response(200, RequestSchema)
def request_get(request_id: int):
    return requests_svc.request_get(actor(), request_id)


@operation(blp, "/<int:request_id>/preview")
@blp.response(200, PreviewSchema)
def request_preview(request_id: int):
    """What an approver sees: payload, budget impact per resource, target host."""
    return requests_svc.request_preview(actor(), request_id)


@operation(blp, "/<int:request_id>/approve", "POST")
@blp.arguments(DecisionSchema)
@blp.response(200, RequestSchema)
def request_approve(data, request_id: int):
    return requests_svc.request_approve(actor(), request_id, comment=data["comment"])


@operation(blp, "/<int:request_id>/reject", "POST")
@blp.arguments(DecisionSchema)
@blp.response(200, RequestSchema)
def request_reject(data, request_id: int):
    return requests_svc.request_reject(actor(), request_id, comment=data["comment"])


@operation(blp, "/<int:request_id>/cancel", "POST")
@blp.arguments(DecisionSchema)
@blp.response(200, RequestSchema)
def request_cancel(data, request_id: int):
    return requests_svc.request_cancel(actor(), request_id, comment=data["comment"])


@operation(blp, "/<int:request_id>/retry", "POST")
@blp.response(200, RequestSchema)
def request_retry(request_id: int):
    return requests_svc.request_retry(actor(), request_id)


@operation(blp, "/<int:request_id>/submit", "POST")
@blp.response(200, RequestSchema)
def request_submit(request_id: int):
    return requests_svc.request_submit(actor(), request_id)


@operation(blp, "/<int:request_id>/comments", "POST")
@blp.arguments(CommentCreateSchema)
@blp.response(201, RequestSchema)
def request_comment(data, request_id: int):
    return requests_svc.request_comment(actor(), request_id, body=data["body"])


# ---- policies ------------------------------------------------------------------------------------


class PolicySchema(Schema):
    kind = fields.String()
    label = fields.String()
    mode = fields.Function(lambda p: p.mode.value)
    is_default = fields.Boolean()
    updated_by = fields.String()


class PolicySetSchema(Schema):
    kind = fields.String(required=True, validate=text(min=1, max=64))
    mode = fields.String(required=True, validate=validate.OneOf([m.value for m in ApprovalMode]))


@operation(policies_blp, "/")
@policies_blp.response(200, PolicySchema(many=True))
def policy_list():
    return policies_svc.policy_list(actor())


@operation(policies_blp, "/", "PUT")
@policies_blp.arguments(PolicySetSchema)
@policies_blp.response(200, PolicySchema)
def policy_set(data):
    """Data-center admins only."""
    policies_svc.policy_set(actor(), **data)
    return next(p for p in policies_svc.policy_list(actor()) if p.kind == data["kind"])
