"""/api/v1/soc: feed destinations (DC admins), their health, Prometheus metrics, events, the schema."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import ID, PageArgs, actor, authenticated, text
from panel.capabilities.soc import catalogue, containment, hostguard
from panel.capabilities.soc import service as svc
from panel.capabilities.soc.models import PendingStatus, SocPendingAction

blp = Blueprint("api_soc", __name__, url_prefix="/soc", description="Security operation center feed")

_TRANSPORTS = ["syslog_tls", "syslog_tcp", "https_json", "file"]


class DestinationSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    transport = fields.String()
    target = fields.String()
    enabled = fields.Boolean()
    state = fields.String(metadata={"description": "ok | behind | failing | disabled"})
    delivered_seq = fields.Integer(metadata={"description": "last audit entry the destination acknowledged"})
    backlog = fields.Integer(metadata={"description": "entries not yet acknowledged"})
    sent_total = fields.Integer()
    attempts_failed = fields.Integer()
    last_ok_at = fields.DateTime(allow_none=True)
    failing_since = fields.DateTime(allow_none=True)
    last_error = fields.String()
    batch_size = fields.Integer()
    ca_file = fields.String()
    client_cert = fields.String()
    server_name = fields.String()
    has_auth = fields.Boolean(metadata={"description": "an Authorization value is stored (never shown)"})


class DestinationInSchema(Schema):
    name = fields.String(required=True, validate=text(min=1, max=63))
    transport = fields.String(required=True, validate=validate.OneOf(_TRANSPORTS))
    target = fields.String(required=True, validate=text(min=1, max=500))
    ca_file = fields.String(load_default="", validate=text(max=500))
    client_cert = fields.String(load_default="", validate=text(max=500))
    client_key = fields.String(load_default="", validate=text(max=500))
    server_name = fields.String(load_default="", validate=text(max=253))
    auth_header = fields.String(
        load_default="", load_only=True, validate=text(max=500), metadata={"description": "stored sealed, never shown"}
    )
    batch_size = fields.Integer(load_default=200, strict=True, validate=validate.Range(min=1, max=svc.BATCH_MAX))
    enabled = fields.Boolean(load_default=True)
    start = fields.String(load_default="now", validate=validate.OneOf(["now", "all"]))


class RewindSchema(Schema):
    seq = fields.Integer(required=True, strict=True, validate=ID)


class EventArgs(PageArgs):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=2**63 - 1),
        metadata={"description": "events after this sequence number, oldest first (then `page` is ignored)"},
    )


class HealthSchema(Schema):
    head = fields.Integer(metadata={"description": "the audit chain's last entry"})
    destinations = fields.List(fields.Nested(DestinationSchema))


def _doc(fn):
    return blp.doc(security=[{"bearer": []}])(authenticated(fn))


def _data(body: dict) -> svc.DestinationIn:
    return svc.DestinationIn(**body)


@blp.route("/destinations", methods=["GET"])
@_doc
@blp.response(200, HealthSchema)
def destination_list():
    """Every destination with its state, backlog and last error (DC staff)."""
    head, items = svc.destination_health(actor())
    return {"head": head, "destinations": items}


@blp.route("/destinations", methods=["POST"])
@_doc
@blp.arguments(DestinationInSchema)
@blp.response(201, DestinationSchema)
def destination_create(data):
    """Add a destination (DC admins). `start=now` sends entries from here on, `all` the whole chain."""
    dest = svc.destination_create(actor(), data=_data(data))
    return svc.destination_get(actor(), dest.id)


@blp.route("/destinations/<int:dest_id>", methods=["GET"])
@_doc
@blp.response(200, DestinationSchema)
def destination_get(dest_id: int):
    return svc.destination_get(actor(), dest_id)


@blp.route("/destinations/<int:dest_id>", methods=["PUT"])
@_doc
@blp.arguments(DestinationInSchema)
@blp.response(200, DestinationSchema)
def destination_update(data, dest_id: int):
    """Change a destination; a blank auth_header keeps the stored one."""
    svc.destination_update(actor(), dest_id, data=_data(data))
    return svc.destination_get(actor(), dest_id)


@blp.route("/destinations/<int:dest_id>", methods=["DELETE"])
@_doc
@blp.response(204)
def destination_delete(dest_id: int):
    svc.destination_delete(actor(), dest_id)


@blp.route("/destinations/<int:dest_id>/rewind", methods=["POST"])
@_doc
@blp.arguments(RewindSchema)
@blp.response(200, DestinationSchema)
def destination_rewind(data, dest_id: int):
    """Send everything again from entry `seq` on (the cursor only moves back)."""
    svc.destination_rewind(actor(), dest_id, seq=data["seq"])
    return svc.destination_get(actor(), dest_id)


@blp.route("/events", methods=["GET"])
@_doc
@blp.arguments(EventArgs, location="query")
@blp.response(200)
def events(args):
    """Events as destinations receive them: pages of the newest, or those after `after` (oldest first)."""
    items = svc.events_recent(actor(), after=args["after"], limit=args["per_page"], page=args["page"])
    return {"items": items, "page": 1 if args["after"] else args["page"], "per_page": args["per_page"]}


@blp.route("/metrics", methods=["GET"])
@_doc
@blp.response(200, content_type="text/plain")
def metrics():
    """Prometheus text format: backlog, delivered sequence, sent and failed counts per destination."""
    return Response(svc.metrics_text(actor()), mimetype="text/plain; version=0.0.4")


@blp.route("/schema", methods=["GET"])
@_doc
@blp.response(200)
def schema():
    """The JSON schema every event validates against."""
    return catalogue.schema()


# ---- containment (SOC staff) -------------------------------------------------------------------

_REASON = text(min=1, max=containment.REASON_MAX)


class UserLockSchema(Schema):
    user_id = fields.Integer(required=True, strict=True, validate=ID)
    reason = fields.String(required=True, validate=_REASON)


class TokenRevokeSchema(Schema):
    token_id = fields.Integer(required=True, strict=True, validate=ID)
    reason = fields.String(required=True, validate=_REASON)


class SuspendSchema(Schema):
    kind = fields.String(required=True, validate=text(max=64), metadata={"description": "a *_suspend request kind"})
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    payload = fields.Dict(required=True, metadata={"description": 'the kind\'s payload, e.g. {"site_id": 5}'})
    reason = fields.String(required=True, validate=_REASON)


class ContainedSchema(Schema):
    id = fields.Integer(metadata={"description": "the object acted on, or the held action when awaiting_approval"})
    status = fields.Function(lambda o: getattr(getattr(o, "status", None), "value", None))
    awaiting_approval = fields.Function(
        lambda o: isinstance(o, SocPendingAction) and o.status == PendingStatus.PENDING,
        metadata={"description": "four-eyes (settings soc.four_eyes): held until a second person approves"},
    )


class PendingSchema(Schema):
    id = fields.Integer()
    action = fields.String(metadata={"description": " | ".join(containment.ACTIONS)})
    params = fields.Dict()
    reason = fields.String()
    status = fields.Function(lambda o: o.status.value, metadata={"description": "pending | approved | rejected"})
    requested_by = fields.String()
    decided_by = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    outcome = fields.String(metadata={"description": "what the approval made (job 12, request 7) or why refused"})
    created_at = fields.DateTime()


class PendingArgs(Schema):
    status = fields.String(load_default="pending", validate=validate.OneOf(["pending", "approved", "rejected", ""]))


class RejectSchema(Schema):
    reason = fields.String(load_default="", validate=text(max=containment.REASON_MAX))


@blp.route("/contain/user-lock", methods=["POST"])
@_doc
@blp.arguments(UserLockSchema)
@blp.response(200, ContainedSchema)
def contain_user_lock(data):
    """Lock an account (sessions end, tokens stop working); the ministry's admins are told why."""
    return containment.contain_user_lock(actor(), **data)


@blp.route("/contain/token-revoke", methods=["POST"])
@_doc
@blp.arguments(TokenRevokeSchema)
@blp.response(200, ContainedSchema)
def contain_token_revoke(data):
    """Revoke an API token; its owner's ministry admins are told why."""
    return containment.contain_token_revoke(actor(), **data)


@blp.route("/contain/suspend", methods=["POST"])
@_doc
@blp.arguments(SuspendSchema)
@blp.response(202, ContainedSchema)
def contain_suspend(data):
    """File a suspension request (website, mailbox...) in the ministry's list, the reason as its comment."""
    return containment.contain_suspend(actor(), **data)


class AddressBlockSchema(Schema):
    address = fields.String(
        required=True, validate=text(min=1, max=64), metadata={"description": "IPv4/IPv6 address or network"}
    )
    reason = fields.String(required=True, validate=_REASON)
    host_ids = fields.List(
        fields.Integer(strict=True, validate=ID),
        validate=validate.Length(max=1000),
        metadata={"description": "hosts to block on; empty: every host protected by the fail2ban role"},
    )
    minutes = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=containment.MAX_BLOCK_MINUTES),
        metadata={"description": "how long; 0: until unblocked"},
    )
    unblock = fields.Boolean(metadata={"description": "remove the block instead"})


@blp.route("/contain/address-block", methods=["POST"])
@_doc
@blp.arguments(AddressBlockSchema)
@blp.response(200, ContainedSchema)
def contain_address_block(data):
    """Block (or unblock) an address on managed hosts with nftables: one soc.address_block job."""
    return containment.contain_address_block(actor(), **data)


@blp.route("/contain/pending", methods=["GET"])
@_doc
@blp.arguments(PendingArgs, location="query")
@blp.response(200, PendingSchema(many=True))
def pending_list(args):
    """Containment actions held for a second approver (four-eyes), newest first; status "" for all."""
    return containment.pending_list(actor(), status=args["status"])


@blp.route("/contain/pending/<int:pending_id>/approve", methods=["POST"])
@_doc
@blp.response(200, PendingSchema)
def pending_approve(pending_id: int):
    """Approve a held action: it runs now. Never by the person who asked (403 soc.four_eyes_self)."""
    return containment.contain_approve(actor(), pending_id)


@blp.route("/contain/pending/<int:pending_id>/reject", methods=["POST"])
@_doc
@blp.arguments(RejectSchema)
@blp.response(200, PendingSchema)
def pending_reject(data, pending_id: int):
    """Refuse a held action (or withdraw your own): nothing runs."""
    return containment.contain_reject(actor(), pending_id, reason=data["reason"])


# ---- fail2ban on managed hosts (DC staff) ---------------------------------------------------------


class ProtectSchema(Schema):
    host_ids = fields.List(
        fields.Integer(strict=True, validate=ID), required=True, validate=validate.Length(min=1, max=1000)
    )
    ignoreip = fields.List(
        fields.String(validate=text(min=1, max=64)),
        validate=validate.Length(max=hostguard.MAX_IGNORE),
        metadata={"description": "addresses or networks fail2ban never bans (give the panel's own)"},
    )


class SweptSchema(Schema):
    jobs = fields.Function(lambda o: [j.id for j in o], metadata={"description": "the job ids submitted"})
    skipped = fields.List(fields.String(), metadata={"description": "hosts down or with a changed key"})


@blp.route("/protect", methods=["POST"])
@_doc
@blp.arguments(ProtectSchema)
@blp.response(200, ContainedSchema)
def protect(data):
    """Install the fail2ban jails and govhost's nftables block table on hosts: one soc.hosts_protect job."""
    return hostguard.hosts_protect(actor(), **data)


@blp.route("/bans/collect", methods=["POST"])
@_doc
@blp.response(200, SweptSchema)
def bans_collect():
    """Read the protected hosts' bans now (the schedule does it every 2 minutes): one job per host."""
    return hostguard.bans_collect(actor())
