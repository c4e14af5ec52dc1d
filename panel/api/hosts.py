"""/api/v1/hosts: the host inventory for data-center staff (ministries get 403/404)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import INT32, PageArgs, actor, authenticated, page_body, text
from panel.models.hosts import HostOS, HostRole, HostState
from panel.services import hosts as hosts_svc

blp = Blueprint("api_hosts", __name__, url_prefix="/hosts", description="Managed hosts and their pinned SSH keys")

_ROLES = [r.value for r in HostRole]
_STATES = [s.value for s in HostState]


class HostSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    port = fields.Integer()
    ssh_user = fields.String()
    os = fields.Function(lambda h: h.os.value)
    roles = fields.Function(lambda h: sorted(r.value for r in h.roles))
    state = fields.Function(lambda h: h.state.value)
    max_sites = fields.Integer()
    max_mailboxes = fields.Integer()
    max_databases = fields.Integer()
    host_key_type = fields.String()
    host_key = fields.String()
    fingerprint = fields.String()
    key_changed_at = fields.DateTime(attribute="key_mismatch_at", allow_none=True)
    facts = fields.Dict()
    last_probe_at = fields.DateTime(allow_none=True)
    last_probe_ok = fields.Boolean(allow_none=True)
    created_at = fields.DateTime()


class HostListArgs(PageArgs):
    role = fields.String(validate=validate.OneOf(_ROLES))
    state = fields.String(validate=validate.OneOf(_STATES))


def _capacity():
    return fields.Integer(validate=validate.Range(min=0, max=hosts_svc.MAX_CAPACITY))


class HostRegisterSchema(Schema):
    # Lengths only here; the service gives the precise error key and field for each value.
    name = fields.String(required=True, validate=text(max=300))
    address = fields.String(required=True, validate=text(max=300))
    port = fields.Integer(load_default=22, validate=INT32)  # 1..65535: the service (host.port_invalid)
    ssh_user = fields.String(load_default="root", validate=text(max=300))
    os = fields.String(load_default=HostOS.LINUX.value, validate=text(max=300))
    roles = fields.List(fields.String(validate=text(max=300)), load_default=list, validate=validate.Length(max=10))
    max_sites = _capacity()
    max_mailboxes = _capacity()
    max_databases = _capacity()
    fingerprint = fields.String(load_default=None, allow_none=True, validate=text(max=100))


class HostPatchSchema(Schema):
    state = fields.String(validate=validate.OneOf(_STATES))
    roles = fields.List(fields.String(validate=validate.OneOf(_ROLES)), validate=validate.Length(max=10))
    max_sites = _capacity()
    max_mailboxes = _capacity()
    max_databases = _capacity()
    ssh_user = fields.String(validate=text(max=32))


class ProbeSchema(Schema):
    ok = fields.Boolean()
    reachable = fields.Boolean()
    key_matches = fields.Boolean(allow_none=True)
    presented_fingerprint = fields.String()
    facts = fields.Dict()
    error = fields.String()


class ProbeOutcomeSchema(Schema):
    probe = fields.Nested(ProbeSchema)
    host = fields.Nested(HostSchema)


class RekeySchema(Schema):
    fingerprint = fields.String(load_default=None, allow_none=True, validate=text(max=100))


@blp.route("/")
@blp.doc(security=[{"bearer": []}])
@authenticated
@blp.arguments(HostListArgs, location="query")
@blp.response(200)
def host_list(args):
    page = hosts_svc.host_list(
        actor(), page=args["page"], per_page=args["per_page"], role=args.get("role"), state=args.get("state")
    )
    return page_body(page, HostSchema())


@blp.route("/", methods=["POST"])
@blp.doc(security=[{"bearer": []}])
@authenticated
@blp.arguments(HostRegisterSchema)
@blp.response(201, HostSchema)
def host_register(body):
    return hosts_svc.host_register(actor(), **{k: v for k, v in body.items() if v is not None or k == "fingerprint"})


@blp.route("/<int:host_id>")
@blp.doc(security=[{"bearer": []}])
@authenticated
@blp.response(200, HostSchema)
def host_get(host_id: int):
    return hosts_svc.host_get(actor(), host_id)


@blp.route("/<int:host_id>", methods=["PATCH"])
@blp.doc(security=[{"bearer": []}])
@authenticated
@blp.arguments(HostPatchSchema)
@blp.response(200, HostSchema)
def host_update(body, host_id: int):
    return hosts_svc.host_update(actor(), host_id, **body)


@blp.route("/<int:host_id>/probe", methods=["POST"])
@blp.doc(security=[{"bearer": []}])
@authenticated
@blp.response(200, ProbeOutcomeSchema)
def host_probe(host_id: int):
    """Probe with the pinned key; a changed key answers 200 with key_matches false and the host down."""
    result = hosts_svc.host_probe(actor(), host_id)
    return {"probe": result, "host": hosts_svc.host_get(actor(), host_id)}


@blp.route("/<int:host_id>/rekey", methods=["POST"])
@blp.doc(security=[{"bearer": []}])
@authenticated
@blp.arguments(RekeySchema)
@blp.response(200, HostSchema)
def host_rekey(body, host_id: int):
    return hosts_svc.host_rekey(actor(), host_id, fingerprint=body.get("fingerprint"))


@blp.route("/<int:host_id>", methods=["DELETE"])
@blp.doc(security=[{"bearer": []}])
@authenticated
@blp.response(204)
def host_delete(host_id: int):
    hosts_svc.host_delete(actor(), host_id)
