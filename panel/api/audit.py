"""Audit log API: filtered pages of entries (newest first) and chain verification."""

from __future__ import annotations

import datetime as dt

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import (
    WindowArgs,
    actor,
    changes_nothing,
    operation,
    plain_dumper,
    text,
    window_response,
    window_schema,
)
from panel.services import audit as audit_svc

blp = Blueprint("api_audit", __name__, url_prefix="/audit", description="The hash-chained audit log")


class EntrySchema(Schema):
    seq = fields.Integer()
    created_at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String()
    org_id = fields.Integer(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String()
    summary = fields.String()
    surface = fields.String()
    client_addr = fields.String()
    request_id = fields.String()
    prev_hash = fields.String()
    hash = fields.String()


_dump_entries = plain_dumper(EntrySchema)


class AuditListArgs(WindowArgs):
    action = fields.String(load_default="", validate=text(max=64))
    actor = fields.String(load_default="", validate=text(max=64))
    object_type = fields.String(load_default="", validate=text(max=32))
    org_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**63 - 1))
    since = fields.AwareDateTime(load_default=None, default_timezone=dt.UTC)
    until = fields.AwareDateTime(load_default=None, default_timezone=dt.UTC)


class VerifySchema(Schema):
    ok = fields.Boolean()
    checked = fields.Integer()
    problem = fields.String()
    seq = fields.Integer(allow_none=True)


@operation(blp, "/")
@blp.arguments(AuditListArgs(), location="query")
@blp.response(200, window_schema(EntrySchema))
def audit_list(args):
    """Entries newest first, 50 a page (follow `next`); a ministry's org_admin sees only the ministry's entries."""
    paging = {k: args.pop(k) for k in ("per_page", "cursor", "page")}
    with_total = args.pop("total")
    win = audit_svc.audit_window(actor(), audit_svc.AuditFilter(**args), with_total=with_total, **paging)
    return window_response(win, _dump_entries)


@operation(blp, "/verify", "POST")
@changes_nothing
@blp.response(200, VerifySchema)
def audit_verify():
    """Walk the whole chain; `ok` false names the first entry edited, deleted, inserted or reordered."""
    return audit_svc.audit_verify(actor())
