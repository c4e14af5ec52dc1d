"""Quotas API: a ministry's budget (used / limit per resource), its limit history, and setting a limit."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import PageArgs, actor, operation, page_body, text
from panel.models.quotas import DEFAULT_LIMITS
from panel.services import quotas as quotas_svc

blp = Blueprint("api_quotas", __name__, url_prefix="/quotas", description="Quota budgets of ministries")


class QuotaRowSchema(Schema):
    resource = fields.String()
    used = fields.Integer()
    limit = fields.Integer()


class QuotaBodySchema(Schema):
    org_id = fields.Integer()
    quotas = fields.List(fields.Nested(QuotaRowSchema))


class LimitChangeSchema(Schema):
    id = fields.Integer()
    resource = fields.String()
    old = fields.Integer()
    new = fields.Integer()
    requested_by = fields.String()
    approved_by = fields.String()
    request_id = fields.Integer(allow_none=True)
    reason = fields.String()
    created_at = fields.DateTime()


class _OneOfResources(validate.OneOf):
    """OneOf over the live registry: the enabled capabilities register their resources after import."""

    choices_text = property(lambda self: ", ".join(self.choices), lambda self, value: None)


class QuotaSetSchema(Schema):
    resource = fields.String(required=True, validate=_OneOfResources(DEFAULT_LIMITS))
    limit = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=quotas_svc.MAX_LIMIT))
    reason = fields.String(load_default="", validate=text(max=500))


@operation(blp, "/<int:org_id>")
@blp.response(200, QuotaBodySchema)
def quota_usage(org_id: int):
    return {"org_id": org_id, "quotas": quotas_svc.quota_usage(actor(), org_id)}


@operation(blp, "/<int:org_id>", "PUT")
@blp.arguments(QuotaSetSchema)
@blp.response(200, LimitChangeSchema)
def quota_set(data, org_id: int):
    """Data-center admins set a limit directly; ministries ask with a quota.change request."""
    return quotas_svc.quota_set(actor(), org_id=org_id, **data)


@operation(blp, "/<int:org_id>/history")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def quota_history(args, org_id: int):
    return page_body(quotas_svc.quota_history(actor(), org_id, **args), LimitChangeSchema())
