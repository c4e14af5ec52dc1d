"""DNS API: zones, records, plan/apply (dry-run), domain claims and their verification."""

from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import ID, INT32, PageArgs, actor, operation, page_list, text
from panel.api.jobs import JobSchema
from panel.capabilities.dns import claims, kinds
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


class ZoneRequestSchema(kinds.ZoneCreatePayload):
    """The request kind's payload (dns.kinds), for an organization."""

    org_id = fields.Integer(required=True, strict=True, validate=_ID)


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


@operation(blp, "/zones")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def zone_list(args):
    return page_list(svc.zone_list, args, ZoneSchema())


@operation(blp, "/zones", "POST")
@blp.arguments(ZoneRequestSchema)
@blp.response(202)
def zone_request(data):
    """Ask for a zone: a request that data-center staff approve; the job then creates it."""
    req = svc.zone_request(actor(), **data)
    return {"request_id": req.id, "status": req.status.value}


@operation(blp, "/zones/<int:zone_id>")
@blp.response(200, ZoneSchema)
def zone_get(zone_id: int):
    return svc.zone_get(actor(), zone_id)


@operation(blp, "/zones/<int:zone_id>/records")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def record_list(args, zone_id: int):
    return page_list(svc.record_list, args, RecordSchema(), zone_id=zone_id)


@operation(blp, "/zones/<int:zone_id>/records", "POST")
@blp.arguments(RecordInSchema)
@blp.response(201, RecordSchema)
def record_create(data, zone_id: int):
    return svc.record_create(
        actor(), zone_id=zone_id, name=data["name"], rtype=data["type"], data=data["data"], ttl=data["ttl"]
    )


@operation(blp, "/records/<int:record_id>", "PATCH")
@blp.arguments(RecordPatchSchema)
@blp.response(200, RecordSchema)
def record_update(data, record_id: int):
    return svc.record_update(actor(), record_id=record_id, **data)


@operation(blp, "/records/<int:record_id>", "DELETE")
@blp.response(204)
def record_delete(record_id: int):
    svc.record_delete(actor(), record_id=record_id)


@operation(blp, "/zones/<int:zone_id>/plan")
@blp.arguments(ApplyArgs, location="query")
@blp.response(200, OutcomeSchema)
def zone_plan(args, zone_id: int):
    return svc.dns_plan(actor(), zone_id, force=args["force"])


@operation(blp, "/zones/<int:zone_id>/apply", "POST")
@blp.arguments(ApplyArgs)
@blp.response(202, JobSchema)
@blp.alt_response(200, schema=OutcomeSchema, description="dry_run: the plan, nothing sent")
def zone_apply(args, zone_id: int):
    """Send the zone's pending records to BIND by a `dns.records_apply` job (202, the job); with
    dry_run the plan instead (200, read from BIND in this request, nothing sent)."""
    a = actor()
    if args["dry_run"]:
        return jsonify(OutcomeSchema().dump(svc.dns_plan(a, zone_id, force=args["force"])))
    return jobs_svc.job_public(a, svc.dns_apply(a, zone_id, force=args["force"]))


@operation(blp, "/claims")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def claim_list(args):
    return page_list(claims.claim_list, args, ClaimSchema())


@operation(blp, "/claims", "POST")
@blp.arguments(ClaimInSchema)
@blp.response(201, ClaimSchema)
def claim_create(data):
    return claims.claim_create(actor(), **data)


@operation(blp, "/claims/<int:claim_id>/verify", "POST")
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


@operation(blp, "/suffixes")
@blp.arguments(SuffixArgs, location="query")
@blp.response(200)
def suffix_list(args):
    """Suffixes organizations may claim names under (a ministry sees its own), a page at a time."""
    return page_list(claims.suffix_page, args, SuffixSchema())


@operation(blp, "/suffixes/<int:org_id>", "PUT")
@blp.arguments(SuffixSetSchema)
@blp.response(200, SuffixSchema(many=True))
def suffix_set(data, org_id: int):
    """Replace an organization's suffixes (data-center admins); returns them."""
    a = actor()
    claims.suffix_set(a, org_id=org_id, suffixes=data["suffixes"])
    return claims.suffix_page(a, org_id=org_id, per_page=500).items


@operation(blp, "/server")
@blp.response(200, ServerInfoSchema)
def server_info():
    """The primary DNS server the settings name (data-center staff)."""
    return svc.dns_server_info(actor())


@operation(blp, "/server/setup", "POST")
@blp.arguments(ServerSetupSchema)
@blp.response(202, JobSchema)
def server_setup(data):
    """Install or repair BIND with govhost's TSIG key (data-center admins); returns the job."""
    a = actor()
    job = svc.dns_server_setup(a, host_id=data["host_id"], secondaries=tuple(data["secondaries"]))
    return jobs_svc.job_public(a, job)
