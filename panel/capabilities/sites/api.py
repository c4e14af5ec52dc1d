"""/api/v1/sites: websites, their requests (create, plan, aliases, suspend, delete, certificate),
SFTP keys, and operators' custom directives. Same service calls as the web UI and the CLI."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import (
    ID,
    WindowArgs,
    actor,
    operation,
    plain_dumper,
    text,
    window_list,
    window_schema,
)
from panel.api.moves import move_schemas
from panel.capabilities.sites import certs, kinds, moves
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.sites.models import SiteStatus
from panel.services import quotas as quotas_svc
from panel.services.request_kinds import field_copy

blp = Blueprint("api_sites", __name__, url_prefix="/sites", description="Websites (nginx + PHP-FPM + TLS)")


class CertificateSchema(Schema):
    source = fields.Function(lambda c: c.source.value)
    names = fields.List(fields.String())
    issuer = fields.String()
    fingerprint = fields.String()
    not_before = fields.DateTime()
    not_after = fields.DateTime()


class SftpKeySchema(Schema):
    id = fields.Integer()
    fingerprint = fields.String()
    comment = fields.String()
    created_by_name = fields.String()
    created_at = fields.DateTime()


class SiteSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    fqdn = fields.String()
    aliases = fields.Function(lambda s: s.alias_names)
    php_version = fields.String()
    plan = fields.Function(lambda s: s.plan.name)
    status = fields.Function(lambda s: s.status.value)
    tls_mode = fields.Function(lambda s: s.tls_mode.value)
    system_user = fields.String()
    disk_used_mb = fields.Float()
    disk_limit_mb = fields.Function(lambda s: s.plan.disk_mb)
    disk_measured_at = fields.DateTime(allow_none=True)
    last_error = fields.String()
    certificate = fields.Function(lambda s: CertificateSchema().dump(s.certificate) if s.certificate else None)
    sftp_keys = fields.List(fields.Nested(SftpKeySchema))
    created_at = fields.DateTime()


class DiskBudgetSchema(Schema):
    """The ministry's disk_mb budget: MB allocated (plans of its sites and open requests) and its limit."""

    used_mb = fields.Integer(attribute="used")
    limit_mb = fields.Integer(attribute="limit")


class SiteDetailSchema(SiteSchema):
    disk_budget = fields.Nested(DiskBudgetSchema)


class SiteDetail:
    """A site with its ministry's disk budget, read by SiteDetailSchema (the site's own fields pass through)."""

    def __init__(self, site, budget: quotas_svc.QuotaRow) -> None:
        self.site, self.disk_budget = site, budget

    def __getattr__(self, name: str):
        return getattr(self.site, name)


class PlanSchema(Schema):
    name = fields.String()
    disk_mb = fields.Integer()
    memory_mb = fields.Integer()
    max_children = fields.Integer()
    upload_mb = fields.Integer()
    max_execution_s = fields.Integer()
    os = fields.Function(lambda p: p.os.value)
    managed_runtime = fields.String()


class RequestOutSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.Function(lambda r: r.status.value)
    summary = fields.String()


class SiteListItemSchema(Schema):
    """A site in the list: the number of its aliases; GET /sites/{id} has aliases, keys and certificate."""

    id = fields.Integer()
    org_id = fields.Integer()
    fqdn = fields.String()
    php_version = fields.String()
    plan = fields.String()
    status = fields.String()
    tls_mode = fields.String()
    system_user = fields.String()
    disk_used_mb = fields.Float()
    disk_limit_mb = fields.Integer()
    disk_measured_at = fields.DateTime(allow_none=True)
    last_error = fields.String()
    created_at = fields.DateTime()
    alias_count = fields.Integer()


_dump_sites = plain_dumper(SiteListItemSchema)


class SiteListArgs(WindowArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in SiteStatus]))
    org_id = fields.Integer(validate=ID)


# Request bodies: the request kinds' schemas (sites.kinds) and their fields, one statement of the
# limits; the kinds' rules then decide what names mean (IDNA, ownership, uniqueness).


class SiteCreateSchema(kinds.SiteCreatePayload):
    org_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=ID)


class SiteActionSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(["change_plan", "alias_add", "alias_remove", "suspend", "unsuspend", "delete"]),
    )
    plan = field_copy(kinds.SitePlanPayload, "plan", required=False)
    alias = field_copy(kinds.SiteAliasPayload, "alias", required=False)


class CertUploadSchema(Schema):
    """The certificate, chain and private key in PEM form, or instead a PFX (PKCS#12) file in
    base64 with its password (the panel unpacks it into the same parts; the password is not kept)."""

    certificate = field_copy(kinds.SiteCertPayload, "certificate", required=False, load_default="")
    chain = field_copy(kinds.SiteCertPayload, "chain", load_default="")
    private_key = fields.String(load_default="", load_only=True, validate=text(max=kinds.MAX_CERT, multiline=True))
    pfx = fields.String(
        load_default="",
        load_only=True,
        validate=text(max=certs.MAX_PFX_B64, multiline=True),
        metadata={"description": f"a PFX file (at most {certs.MAX_PFX} bytes) in base64, instead of the PEM fields"},
    )
    pfx_password = fields.String(load_default="", load_only=True, validate=text(max=certs.MAX_PFX_PASSWORD))


class SftpKeyInSchema(Schema):
    public_key = fields.String(required=True, validate=text(max=16000))


class CustomNginxSchema(Schema):
    custom_nginx = fields.String(required=True, validate=text(max=sites_svc.MAX_CUSTOM_NGINX, multiline=True))


@operation(blp, "/")
@blp.arguments(SiteListArgs(), location="query")
@blp.response(200, window_schema(SiteListItemSchema))
def site_list(args):
    """Sites by name, 50 a page: follow `next` (a cursor); `total=true` also counts them all."""
    return window_list(sites_svc.site_window, args, _dump_sites)


@operation(blp, "/plans")
@blp.response(200, PlanSchema(many=True))
def plan_list():
    return sites_svc.plan_list(actor())


class PlanInSchema(Schema):
    name = fields.String(
        required=True,
        validate=[
            validate.Length(max=64),
            validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$", error="Letters, digits, spaces, dots and dashes."),
        ],
    )
    disk_mb = fields.Integer(required=True, strict=True, validate=validate.Range(10, 10**7))
    memory_mb = fields.Integer(load_default=128, strict=True, validate=validate.Range(16, 8192))
    max_children = fields.Integer(load_default=5, strict=True, validate=validate.Range(1, 200))
    upload_mb = fields.Integer(load_default=32, strict=True, validate=validate.Range(1, 2048))
    max_execution_s = fields.Integer(load_default=30, strict=True, validate=validate.Range(5, 3600))
    os = fields.String(load_default="linux", validate=validate.OneOf(("linux", "windows")))
    managed_runtime = fields.String(load_default="", validate=validate.OneOf(("", "v4.0", "v2.0")))


@operation(blp, "/plans", "POST")
@blp.arguments(PlanInSchema)
@blp.response(201, PlanSchema)
def plan_create(data):
    """A new hosting plan (data-center admins)."""
    return sites_svc.plan_create(actor(), **data)


@blp.route("/ca.pem")
@blp.doc(security=[])  # stated: no authentication
@blp.response(200, {"type": "string"}, content_type="application/x-pem-file")
def ca_pem():
    """The root CA of this data center's private ACME server (PEM), to trust its site certificates;
    404 when site certificates come from a public CA. No authentication: it is a public certificate."""
    return Response(sites_svc.site_ca_pem(), mimetype="application/x-pem-file")


@operation(blp, "/", "POST")
@blp.arguments(SiteCreateSchema)
@blp.response(201, RequestOutSchema)
def site_create(body):
    """Request a new site; the answer is the request (approval, then the job, follow)."""
    org_id = body.pop("org_id")
    payload = {k: v for k, v in body.items() if v not in (None, "")}
    return sites_svc.site_request(actor(), action="create", org_id=org_id, payload=payload)


@operation(blp, "/<int:site_id>")
@blp.response(200, SiteDetailSchema)
def site_get(site_id: int):
    """The site, its usage against its plan (disk_used_mb / disk_limit_mb) and the ministry's budget."""
    a = actor()
    site = sites_svc.site_get(a, site_id)
    budget = next(r for r in quotas_svc.quota_usage(a, site.org_id) if r.resource == "disk_mb")
    return SiteDetail(site, budget)


@operation(blp, "/<int:site_id>/requests", "POST")
@blp.arguments(SiteActionSchema)
@blp.response(201, RequestOutSchema)
def site_action(body, site_id: int):
    action = body.pop("action")
    return sites_svc.site_request(actor(), action=action, site_id=site_id, payload=body)


@operation(blp, "/<int:site_id>/certificate", "POST")
@blp.arguments(CertUploadSchema)
@blp.response(201, RequestOutSchema)
def site_cert_upload(body, site_id: int):
    return sites_svc.site_request(
        actor(),
        action="cert_upload",
        site_id=site_id,
        payload={"certificate": body["certificate"], "chain": body["chain"]},
        secrets={"private_key": body["private_key"]}
        | ({"pfx": body["pfx"], "pfx_password": body["pfx_password"]} if body["pfx"] else {}),
    )


@operation(blp, "/<int:site_id>/sftp-keys", "POST")
@blp.arguments(SftpKeyInSchema)
@blp.response(201, SftpKeySchema)
def sftp_key_add(body, site_id: int):
    return sites_svc.sftp_key_add(actor(), site_id=site_id, public_key=body["public_key"])


@operation(blp, "/<int:site_id>/sftp-keys/<int:key_id>", "DELETE")
@blp.response(204)
def sftp_key_remove(site_id: int, key_id: int):
    sites_svc.site_get(actor(), site_id)
    sites_svc.sftp_key_remove(actor(), key_id=key_id)


@operation(blp, "/<int:site_id>/custom-nginx", "PUT")
@blp.arguments(CustomNginxSchema)
@blp.response(200, SiteSchema)
def custom_nginx_set(body, site_id: int):
    site, _job = sites_svc.site_custom_nginx_set(actor(), site_id=site_id, custom_nginx=body["custom_nginx"])
    return site


MoveInSchema, MoveSchema = move_schemas(
    "Move", "site_id", "the web host to move to; none: the active one with the most room"
)


@operation(blp, "/<int:site_id>/move", "POST")
@blp.arguments(MoveInSchema)
@blp.response(202, MoveSchema)
def site_move(body, site_id: int):
    """Move the site to another web host (DC operators and admins): a job copies it there, DNS is
    switched, then the old host's copy is removed; any failure before the switch leaves it serving
    from the old host. Follow GET /sites/{id}/moves."""
    return moves.site_move(actor(), site_id=site_id, host_id=body["host_id"])


@operation(blp, "/<int:site_id>/moves")
@blp.response(200, MoveSchema(many=True))
def site_moves(site_id: int):
    """The site's moves, newest first."""
    return moves.site_moves(actor(), site_id)
