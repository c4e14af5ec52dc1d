"""DNS API: zones, records, plan/apply (dry-run), domain claims and their verification."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import ID, INT32, PageArgs, actor, authenticated, page_body, text
from panel.api.jobs import JobSchema
from panel.capabilities.dns import claims
from panel.capabilities.dns import service as svc
from panel.services import jobs as jobs_svc

blp = Blueprint("api_dns", __name__, url_prefix="/dns", description="DNS zones, records, plan/apply, claims")

_ID = validate.Range(min=1, max=2**63 - 1)


class ZoneSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    name = fields.String()
    status = fields.Function(lambda z: z.status.value)
    serial = fields.Integer()
    applied_at = fields.DateTime(allow_none=True)
    last_error = fields.String()


class RecordSchema(Schema):
    id = fields.Integer()
    zone_id = fields.Integer()
    name = fields.String()
    type = fields.String(attribute="rtype")
    ttl = fields.Integer()
    data = fields.String()
    owner = fields.Function(lambda r: r.owner.value)
    source = fields.String()
    state = fields.Function(lambda r: r.state.value)
    applied_at = fields.DateTime(allow_none=True)


class RecordInSchema(Schema):
    name = fields.String(required=True, validate=text(max=253))
    type = fields.String(required=True, validate=text(max=10))
    data = fields.String(required=True, validate=text(max=8000))
    ttl = fields.Integer(load_default=None, allow_none=True, strict=True, validate=INT32)


class RecordPatchSchema(Schema):
    data = fields.String(validate=text(max=8000))
    ttl = fields.Integer(allow_none=True, strict=True, validate=INT32)


class ZoneRequestSchema(Schema):
    org_id = fields.Integer(required=True, strict=True, validate=_ID)
    name = fields.String(required=True, validate=text(max=253))


class ApplyArgs(Schema):
    dry_run = fields.Boolean(load_default=False)
    force = fields.Boolean(load_default=False)


class OutcomeSchema(Schema):
    zone = fields.String()
    add = fields.List(fields.String())
    remove = fields.List(fields.String())
    unmanaged = fields.List(fields.String())
    unchanged = fields.Integer()
    sent = fields.Boolean()
    dry_run = fields.Boolean()
    serial = fields.Integer()


class ClaimSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    domain = fields.String()
    challenge = fields.Function(lambda c: claims.challenge_name(c.domain))
    token = fields.String()
    method = fields.Function(lambda c: c.method.value if c.method else None)
    verified_at = fields.DateTime(allow_none=True)


class ClaimInSchema(Schema):
    org_id = fields.Integer(required=True, strict=True, validate=_ID)
    domain = fields.String(required=True, validate=text(max=253))


def _doc(fn):
    return blp.doc(security=[{"bearer": []}])(authenticated(fn))


@blp.route("/zones", methods=["GET"])
@_doc
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def zone_list(args):
    return page_body(svc.zone_list(actor(), page=args["page"], per_page=args["per_page"]), ZoneSchema())


@blp.route("/zones", methods=["POST"])
@_doc
@blp.arguments(ZoneRequestSchema)
@blp.response(202)
def zone_request(data):
    """Ask for a zone: a request that data-center staff approve; the job then creates it."""
    req = svc.zone_request(actor(), **data)
    return {"request_id": req.id, "status": req.status.value}


@blp.route("/zones/<int:zone_id>", methods=["GET"])
@_doc
@blp.response(200, ZoneSchema)
def zone_get(zone_id: int):
    return svc.zone_get(actor(), zone_id)


@blp.route("/zones/<int:zone_id>/records", methods=["GET"])
@_doc
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def record_list(args, zone_id: int):
    page = svc.record_list(actor(), zone_id=zone_id, page=args["page"], per_page=args["per_page"])
    return page_body(page, RecordSchema())


@blp.route("/zones/<int:zone_id>/records", methods=["POST"])
@_doc
@blp.arguments(RecordInSchema)
@blp.response(201, RecordSchema)
def record_create(data, zone_id: int):
    return svc.record_create(
        actor(), zone_id=zone_id, name=data["name"], rtype=data["type"], data=data["data"], ttl=data["ttl"]
    )


@blp.route("/records/<int:record_id>", methods=["PATCH"])
@_doc
@blp.arguments(RecordPatchSchema)
@blp.response(200, RecordSchema)
def record_update(data, record_id: int):
    return svc.record_update(actor(), record_id=record_id, **data)


@blp.route("/records/<int:record_id>", methods=["DELETE"])
@_doc
@blp.response(204)
def record_delete(record_id: int):
    svc.record_delete(actor(), record_id=record_id)


@blp.route("/zones/<int:zone_id>/plan", methods=["GET"])
@_doc
@blp.arguments(ApplyArgs, location="query")
@blp.response(200, OutcomeSchema)
def zone_plan(args, zone_id: int):
    return svc.dns_plan(actor(), zone_id, force=args["force"])


@blp.route("/zones/<int:zone_id>/apply", methods=["POST"])
@_doc
@blp.arguments(ApplyArgs)
@blp.response(200, OutcomeSchema)
def zone_apply(args, zone_id: int):
    return svc.dns_apply(actor(), zone_id, dry_run=args["dry_run"], force=args["force"])


@blp.route("/claims", methods=["GET"])
@_doc
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def claim_list(args):
    return page_body(claims.claim_list(actor(), page=args["page"], per_page=args["per_page"]), ClaimSchema())


@blp.route("/claims", methods=["POST"])
@_doc
@blp.arguments(ClaimInSchema)
@blp.response(201, ClaimSchema)
def claim_create(data):
    return claims.claim_create(actor(), **data)


@blp.route("/claims/<int:claim_id>/verify", methods=["POST"])
@_doc
@blp.response(200, ClaimSchema)
def claim_verify(claim_id: int):
    return claims.claim_verify(actor(), claim_id)


# ---- data-center admin: claimable suffixes and the DNS server ------------------------------------


class SuffixSchema(Schema):
    org_id = fields.Integer()
    org_name = fields.String()
    suffix = fields.String()


class SuffixArgs(PageArgs):
    org_id = fields.Integer(load_default=None, validate=ID)


class SuffixSetSchema(Schema):
    suffixes = fields.List(fields.String(validate=text(max=253)), required=True, validate=validate.Length(max=500))


class ServerInfoSchema(Schema):
    primary_name = fields.String(metadata={"description": "settings dns.primary_host; empty = DNS off"})
    host_id = fields.Integer(allow_none=True, metadata={"description": "its host (role dns), when registered"})
    nameservers = fields.List(fields.String())
    key_name = fields.String()
    key_made = fields.Boolean()
    resolver = fields.String()


class ServerSetupSchema(Schema):
    host_id = fields.Integer(
        load_default=None, allow_none=True, validate=ID, metadata={"description": "default: dns.primary_host"}
    )
    secondaries = fields.List(fields.String(validate=text(max=45)), load_default=list, validate=validate.Length(max=20))


@blp.route("/suffixes", methods=["GET"])
@_doc
@blp.arguments(SuffixArgs, location="query")
@blp.response(200)
def suffix_list(args):
    """Suffixes organizations may claim names under (a ministry sees its own), a page at a time."""
    page = claims.suffix_page(actor(), org_id=args["org_id"], page=args["page"], per_page=args["per_page"])
    return page_body(page, SuffixSchema())


@blp.route("/suffixes/<int:org_id>", methods=["PUT"])
@_doc
@blp.arguments(SuffixSetSchema)
@blp.response(200, SuffixSchema(many=True))
def suffix_set(data, org_id: int):
    """Replace an organization's suffixes (data-center admins); returns them."""
    a = actor()
    claims.suffix_set(a, org_id=org_id, suffixes=data["suffixes"])
    return claims.suffix_page(a, org_id=org_id, per_page=500).items


@blp.route("/server", methods=["GET"])
@_doc
@blp.response(200, ServerInfoSchema)
def server_info():
    """The primary DNS server the settings name (data-center staff)."""
    return svc.dns_server_info(actor())


@blp.route("/server/setup", methods=["POST"])
@_doc
@blp.arguments(ServerSetupSchema)
@blp.response(202, JobSchema)
def server_setup(data):
    """Install or repair BIND with govhost's TSIG key (data-center admins); returns the job."""
    a = actor()
    job = svc.dns_server_setup(a, host_id=data["host_id"], secondaries=tuple(data["secondaries"]))
    return jobs_svc.job_public(a, job)
