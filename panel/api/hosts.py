"""/api/v1/hosts: the host inventory for data-center staff (ministries get 403/404)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import INT32, PageArgs, actor, operation, page_body, text
from panel.models.hosts import HostOS, HostState
from panel.services import drain as drain_svc
from panel.services import hosts as hosts_svc

blp = Blueprint("api_hosts", __name__, url_prefix="/hosts", description="Managed hosts and their pinned SSH keys")

_STATES = [s.value for s in HostState]


class Declared(validate.OneOf):
    """OneOf over names the enabled capabilities declare (host roles, capacities). The loader fills
    the registry after this module is imported, so the choices are read when used: validating, and
    writing the OpenAPI document (at app start, after the capabilities are loaded)."""

    def __init__(self, names):
        self._names = names
        super().__init__(())

    choices = property(lambda self: tuple(self._names()), lambda self, _: None)
    choices_text = property(lambda self: ", ".join(self.choices), lambda self, _: None)


def _roles():
    return Declared(lambda: sorted(hosts_svc.ROLES))


def _capacities():
    """{resource: maximum} for the declared capacities; a host's own value or the declared default."""
    return fields.Dict(
        keys=fields.String(validate=Declared(lambda: sorted(hosts_svc.CAPACITIES))),
        values=fields.Integer(validate=validate.Range(min=0, max=hosts_svc.MAX_CAPACITY)),
        validate=validate.Length(max=50),
    )


def _host_capacities(host) -> dict[str, int]:
    return {c.resource: hosts_svc.capacity(host, c.resource) for c in hosts_svc.capacities()}


class HostSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    port = fields.Integer()
    ssh_user = fields.String()
    os = fields.Function(lambda h: h.os.value)
    transport = fields.Function(lambda h: h.transport.value)  # ssh, or winrm (HTTPS only)
    winrm_auth = fields.String()  # certificate or kerberos; its credentials are never shown
    roles = fields.Function(lambda h: sorted(h.roles))
    state = fields.Function(lambda h: h.state.value)
    capacities = fields.Function(_host_capacities, metadata={"type": "object"})
    host_key_type = fields.String()
    host_key = fields.String()
    fingerprint = fields.String()
    key_changed_at = fields.DateTime(attribute="key_mismatch_at", allow_none=True)
    facts = fields.Dict()
    last_probe_at = fields.DateTime(allow_none=True)
    last_probe_ok = fields.Boolean(allow_none=True)
    created_at = fields.DateTime()


class HostListArgs(PageArgs):
    role = fields.String(validate=_roles())
    state = fields.String(validate=validate.OneOf(_STATES))


class HostRegisterSchema(Schema):
    # Lengths only here; the service gives the precise error key and field for each value.
    name = fields.String(required=True, validate=text(max=300))
    address = fields.String(required=True, validate=text(max=300))
    # 1..65535: the service (host.port_invalid); not given: 22 for SSH, 5986 for WinRM
    port = fields.Integer(load_default=None, allow_none=True, validate=INT32)
    ssh_user = fields.String(load_default="root", validate=text(max=300))
    os = fields.String(load_default=HostOS.LINUX.value, validate=text(max=300))
    roles = fields.List(fields.String(validate=text(max=300)), load_default=list, validate=validate.Length(max=10))
    capacities = _capacities()
    fingerprint = fields.String(load_default=None, allow_none=True, validate=text(max=100))
    # WinRM over HTTPS (Windows Server 2019): the service refuses bad combinations (NTLM, port 5985,
    # a Linux host, no data center CA, a key that is not the certificate's) with its own key.
    transport = fields.String(load_default="ssh", validate=text(max=16), metadata={"enum": ["ssh", "winrm"]})
    winrm_auth = fields.String(validate=text(max=16), metadata={"enum": ["certificate", "kerberos"]})
    winrm_cert = fields.String(validate=text(max=20000), metadata={"description": "client certificate (PEM)"})
    winrm_key = fields.String(load_only=True, validate=text(max=20000), metadata={"description": "its key (PEM)"})
    winrm_user = fields.String(validate=text(max=320), metadata={"description": "Kerberos: user@REALM"})
    winrm_password = fields.String(load_only=True, validate=text(max=256))


WINRM_FIELDS = {"winrm_auth": "auth", "winrm_cert": "cert_pem", "winrm_key": "key_pem", "winrm_user": "user"}


class HostPatchSchema(Schema):
    state = fields.String(validate=validate.OneOf(_STATES))
    roles = fields.List(fields.String(validate=_roles()), validate=validate.Length(max=10))
    capacities = _capacities()
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


@operation(blp, "/")
@blp.arguments(HostListArgs, location="query")
@blp.response(200)
def host_list(args):
    page = hosts_svc.host_list(
        actor(), page=args["page"], per_page=args["per_page"], role=args.get("role"), state=args.get("state")
    )
    return page_body(page, HostSchema())


@operation(blp, "/", "POST")
@blp.arguments(HostRegisterSchema)
@blp.response(201, HostSchema)
def host_register(body):
    winrm = {WINRM_FIELDS.get(k, "password"): body.pop(k) for k in [k for k in body if k.startswith("winrm_")]}
    return hosts_svc.host_register(
        actor(),
        winrm=winrm or None,
        **{k: v for k, v in body.items() if v is not None or k == "fingerprint"},
    )


@operation(blp, "/<int:host_id>")
@blp.response(200, HostSchema)
def host_get(host_id: int):
    return hosts_svc.host_get(actor(), host_id)


@operation(blp, "/<int:host_id>", "PATCH")
@blp.arguments(HostPatchSchema)
@blp.response(200, HostSchema)
def host_update(body, host_id: int):
    return hosts_svc.host_update(actor(), host_id, **body)


@operation(blp, "/<int:host_id>/probe", "POST")
@blp.response(200, ProbeOutcomeSchema)
def host_probe(host_id: int):
    """Probe with the pinned key; a changed key answers 200 with key_matches false and the host down."""
    result = hosts_svc.host_probe(actor(), host_id)
    return {"probe": result, "host": hosts_svc.host_get(actor(), host_id)}


@operation(blp, "/<int:host_id>/rekey", "POST")
@blp.arguments(RekeySchema)
@blp.response(200, HostSchema)
def host_rekey(body, host_id: int):
    return hosts_svc.host_rekey(actor(), host_id, fingerprint=body.get("fingerprint"))


@operation(blp, "/<int:host_id>", "DELETE")
@blp.response(204)
def host_delete(host_id: int):
    hosts_svc.host_delete(actor(), host_id)


class DrainInSchema(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "plan only; nothing changes"})
    limit = fields.Integer(
        load_default=200,
        strict=True,
        validate=validate.Range(1, drain_svc.MAX_LIMIT),
        metadata={"description": "most objects moved by this call"},
    )


class DrainItemSchema(Schema):
    kind = fields.String()
    id = fields.Integer()
    name = fields.String()
    to_host = fields.String()
    move_id = fields.Integer(allow_none=True)
    error = fields.String()


class DrainReportSchema(Schema):
    host_id = fields.Integer()
    host = fields.String()
    state = fields.String()
    dry_run = fields.Boolean()
    moving = fields.Integer()
    left = fields.Integer()
    items = fields.List(fields.Nested(DrainItemSchema))


@operation(blp, "/<int:host_id>/drain", "POST")
@blp.arguments(DrainInSchema)
@blp.response(200, DrainReportSchema)
def host_drain(body, host_id: int):
    """Set the host draining and move what it holds (sites, mail domains) to other hosts, one move job each, up to
    `limit` per call (`left` says how many wait for the next); `dry_run` answers the same plan and
    changes nothing. An object that cannot move says why in `error` and stays."""
    return drain_svc.host_drain(actor(), host_id, dry_run=body["dry_run"], limit=body["limit"])
