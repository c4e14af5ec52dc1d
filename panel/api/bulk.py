"""Bulk provisioning API: plan files, read a plan, submit it, resume it, its report, templates, the
JSON Schema of the hierarchical file, and the one-time delivery of generated passwords.

Approving a submitted plan is approving its request (POST /requests/{id}/approve).
"""

from __future__ import annotations

import base64
import binascii

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from panel.api.common import ID, actor, operation, text
from panel.errors import Invalid
from panel.services import bulk as bulk_svc
from panel.services.tabular import MAX_FILE_BYTES

blp = Blueprint("api_bulk", __name__, url_prefix="/bulk", description="Bulk provisioning from files")


class BulkFileSchema(Schema):
    name = fields.String(
        required=True,
        validate=text(min=1, max=200),
        metadata={"description": "sites.csv, mailboxes.csv, aliases.csv, dns_records.csv, or *.yaml / *.json"},
    )
    content = fields.String(
        validate=text(max=MAX_FILE_BYTES, multiline=True),
        metadata={"description": "the file as text (UTF-8); the whole request body is at most 8 MB"},
    )
    content_base64 = fields.String(
        validate=text(max=MAX_FILE_BYTES * 4 // 3 + 4),
        metadata={
            "description": "or the file's bytes in base64 (UTF-8, or UTF-16 with its byte-order mark: commas, "
            "or tabs as in Excel's Unicode text)"
        },
    )

    @validates_schema
    def one_content(self, data, **kwargs):
        if ("content" in data) == ("content_base64" in data):
            raise ValidationError("Give content or content_base64.", "content")


class BulkPlanCreateSchema(Schema):
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    files = fields.List(
        fields.Nested(BulkFileSchema), required=True, validate=validate.Length(min=1, max=bulk_svc.MAX_FILES)
    )


class RowErrorSchema(Schema):
    column = fields.String()
    key = fields.String()
    message = fields.String()


class BulkRowSchema(Schema):
    row = fields.Integer(attribute="seq")
    file = fields.String()
    line = fields.Integer()
    kind = fields.String()
    key = fields.String()
    action = fields.String(metadata={"description": "create | update | delete | noop | conflict | invalid"})
    status = fields.String(metadata={"description": "planned | running | done | failed | skipped"})
    object_id = fields.Integer(allow_none=True)
    request_id = fields.Integer(allow_none=True)
    errors = fields.List(fields.Nested(RowErrorSchema))


class BulkImpactSchema(Schema):
    resource = fields.String()
    used = fields.Integer()
    asked = fields.Integer()
    limit = fields.Integer()
    ok = fields.Boolean()


class BulkPlanSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    created_by_name = fields.String()
    created_at = fields.DateTime()
    digest = fields.String(metadata={"description": "SHA-256 of the rows, their actions and the budget"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    quota = fields.Dict(keys=fields.String(), values=fields.Integer())
    files = fields.List(fields.Dict())
    request_id = fields.Integer(allow_none=True)
    applied_at = fields.DateTime(allow_none=True)
    passwords_waiting = fields.Function(lambda p: p.delivery is not None)


class BulkPlanViewSchema(Schema):
    plan = fields.Nested(BulkPlanSchema)
    rows = fields.List(fields.Nested(BulkRowSchema), metadata={"description": "up to rows_limit, errors first"})
    total_rows = fields.Integer()
    impact = fields.List(fields.Nested(BulkImpactSchema))
    placement = fields.List(fields.String())
    progress = fields.Dict(keys=fields.String(), values=fields.Integer())
    within_budget = fields.Boolean()
    submittable = fields.Boolean()


class PlanShowArgs(Schema):
    rows_limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))
    only = fields.String(load_default=None, validate=validate.OneOf(bulk_svc.ACTIONS))


class ReportArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class PasswordsSchema(Schema):
    passwords = fields.Dict(keys=fields.String(), values=fields.String())


def _files(data: dict) -> list[tuple[str, bytes | str]]:
    out = []
    for f in data["files"]:
        if "content_base64" in f:
            try:
                out.append((f["name"], base64.b64decode(f["content_base64"], validate=True)))
            except (binascii.Error, ValueError):
                raise Invalid("bulk.base64_invalid", "{file}: content_base64 is not base64.", file=f["name"]) from None
        else:
            out.append((f["name"], f["content"]))
    return out


@operation(blp, "/plans", "POST")
@blp.arguments(BulkPlanCreateSchema)
@blp.response(201, BulkPlanViewSchema)
def plan_create(data):
    """Check the files and store a plan; nothing is applied. Rows with errors are in the plan with
    every error (file, line, column); such a plan cannot be submitted."""
    result = bulk_svc.bulk_plan(actor(), org_id=data["org_id"], files=_files(data))
    return bulk_svc.bulk_show(actor(), result.plan.id)


@operation(blp, "/plans")
@blp.response(200, BulkPlanSchema(many=True))
def plan_list():
    """The newest 50 plans the caller may see."""
    return bulk_svc.bulk_list(actor(), page=1, per_page=50).items


@operation(blp, "/plans/<int:plan_id>")
@blp.arguments(PlanShowArgs, location="query")
@blp.response(200, BulkPlanViewSchema)
def plan_get(args, plan_id: int):
    return bulk_svc.bulk_show(actor(), plan_id, rows_limit=args["rows_limit"], only=args["only"])


@operation(blp, "/plans/<int:plan_id>/submit", "POST")
@blp.response(201, BulkPlanViewSchema)
def plan_submit(plan_id: int):
    """One bulk.apply request for the whole plan (its payload holds the digest); approve it with
    POST /requests/{request_id}/approve."""
    bulk_svc.bulk_submit(actor(), plan_id)
    return bulk_svc.bulk_show(actor(), plan_id)


@operation(blp, "/plans/<int:plan_id>/resume", "POST")
@blp.response(200, BulkPlanViewSchema)
def plan_resume(plan_id: int):
    """Run again only the batches that failed."""
    bulk_svc.bulk_resume(actor(), plan_id=plan_id)
    return bulk_svc.bulk_show(actor(), plan_id)


@operation(blp, "/plans/<int:plan_id>/report")
@blp.arguments(ReportArgs, location="query")
@blp.response(200)
def plan_report(args, plan_id: int):
    """Per row: row, file, line, kind, key, action, status, object_id, request_id, job_id, error_key,
    error_message (format=json or csv)."""
    rows = bulk_svc.bulk_report(actor(), plan_id)
    if args["format"] == "csv":
        return Response(
            bulk_svc.report_csv(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="bulk-{plan_id}-report.csv"'},
        )
    return {"rows": rows}


@operation(blp, "/plans/<int:plan_id>/passwords", "POST")
@blp.response(200, PasswordsSchema)
def plan_passwords(plan_id: int):
    """The generated passwords, once, to the plan's creator; a second call is 409."""
    _plan, passwords = bulk_svc.bulk_passwords_take(actor(), plan_id=plan_id)
    return {"passwords": passwords}


@operation(blp, "/templates/<string:kind>")
@blp.response(200)
def template(kind: str):
    """The CSV template of a row kind (UTF-8 with a byte-order mark, as Excel reads Khmer)."""
    return Response(
        bulk_svc.bulk_template(kind[:32]),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{bulk_svc.row_kind(kind[:32]).name}.csv"'},
    )


@operation(blp, "/schema")
@blp.response(200)
def json_schema():
    """The JSON Schema of the hierarchical YAML / JSON file."""
    return bulk_svc.bulk_json_schema()
