"""/api/v1/mail: mail domains, mailboxes (batches), aliases; changes answer with the request filed.

Passwords are accepted in request bodies only (never query strings) and never echoed back.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import (
    ID,
    INT32,
    PageArgs,
    WindowArgs,
    actor,
    authenticated,
    page_body,
    plain_dumper,
    text,
    window_response,
    window_schema,
)
from panel.api.jobs import JobSchema
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail import rules
from panel.capabilities.mail import service as mail_svc
from panel.services import jobs as jobs_svc

blp = Blueprint("api_mail", __name__, url_prefix="/mail", description="Mail domains, mailboxes and aliases")
SECURITY = [{"bearer": []}]
_TEXT = text(max=300)


class MailDomainSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    name = fields.String()
    status = fields.Function(lambda d: d.status.value)
    dkim_selector = fields.String()
    dkim_public_key = fields.String()
    external_forwarding = fields.Boolean()
    on_suspend = fields.Function(lambda d: d.on_suspend.value)
    default_quota_mb = fields.Integer()
    dns_status = fields.Dict()
    dns_checked_at = fields.DateTime(allow_none=True)
    last_error = fields.String()
    created_at = fields.DateTime()


class MailboxSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    domain_id = fields.Integer()
    address = fields.String()
    display_name = fields.String()
    quota_mb = fields.Integer()
    used_mb = fields.Integer()
    status = fields.String()
    password_changed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


_dump_mailboxes = plain_dumper(MailboxSchema)


class MailAliasSchema(Schema):
    id = fields.Integer()
    domain_id = fields.Integer()
    address = fields.String()
    destinations = fields.List(fields.String())
    status = fields.Function(lambda a: a.status.value)


class MailRequestSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.Function(lambda r: r.status.value)
    summary = fields.String()


class MailDomainIn(Schema):
    org_id = fields.Integer(required=True, validate=ID)
    name = fields.String(required=True, validate=_TEXT)
    contact = fields.String(required=True, validate=_TEXT)
    external_forwarding = fields.Boolean(load_default=False)
    on_suspend = fields.String(load_default="defer", validate=validate.OneOf(["defer", "reject"]))
    default_quota_mb = fields.Integer(load_default=1024, validate=INT32)  # the service: 10..102400


class MailNewMailbox(Schema):
    local_part = fields.String(required=True, validate=_TEXT)
    password = fields.String(required=True, load_only=True, validate=text(max=pw.MAX_LENGTH))
    display_name = fields.String(load_default="", validate=_TEXT)


class MailMailboxesIn(Schema):
    mailboxes = fields.List(
        fields.Nested(MailNewMailbox), required=True, validate=validate.Length(min=1, max=rules.MAX_BATCH)
    )
    quota_mb = fields.Integer(load_default=None, allow_none=True, validate=INT32)


class MailQuotaIn(Schema):
    quota_mb = fields.Integer(required=True, validate=INT32)


class MailPasswordIn(Schema):
    password = fields.String(required=True, load_only=True, validate=text(max=pw.MAX_LENGTH))


class MailAliasIn(Schema):
    source = fields.String(required=True, validate=_TEXT)
    destinations = fields.List(fields.String(validate=_TEXT), required=True, validate=validate.Length(max=100))


def _route(rule: str, methods=("GET",)):
    return blp.route(rule, methods=list(methods))


@_route("/domains")
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def domain_list(args):
    page = mail_svc.mail_domain_list(actor(), page=args["page"], per_page=args["per_page"])
    return page_body(page, MailDomainSchema())


@_route("/domains", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(MailDomainIn)
@blp.response(201, MailRequestSchema)
def domain_create(body):
    return mail_svc.mail_domain_create(actor(), **body)


@_route("/domains/<int:domain_id>")
@blp.doc(security=SECURITY)
@authenticated
@blp.response(200, MailDomainSchema)
def domain_get(domain_id: int):
    return mail_svc.mail_domain_get(actor(), domain_id)


@_route("/domains/<int:domain_id>/dns-check", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.response(200, MailDomainSchema)
def domain_dns_check(domain_id: int):
    return mail_svc.mail_domain_dns_check(actor(), domain_id=domain_id)


@_route("/domains/<int:domain_id>/mailboxes")
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(WindowArgs(), location="query")
@blp.response(200, window_schema(MailboxSchema))
def mailbox_list(args, domain_id: int):
    """The domain's mailboxes by address, 50 a page: follow `next`; `total=true` also counts them."""
    win = mail_svc.mailbox_window(
        actor(),
        domain_id=domain_id,
        per_page=args["per_page"],
        cursor=args["cursor"],
        page=args["page"],
        with_total=args["total"],
    )
    return window_response(win, _dump_mailboxes)


@_route("/domains/<int:domain_id>/mailboxes", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(MailMailboxesIn)
@blp.response(201, MailRequestSchema)
def mailbox_create(body, domain_id: int):
    return mail_svc.mailbox_create(
        actor(), domain_id=domain_id, mailboxes=body["mailboxes"], quota_mb=body.get("quota_mb")
    )


@_route("/mailboxes/<int:mailbox_id>")
@blp.doc(security=SECURITY)
@authenticated
@blp.response(200, MailboxSchema)
def mailbox_get(mailbox_id: int):
    return mail_svc.mailbox_get(actor(), mailbox_id)


@_route("/mailboxes/<int:mailbox_id>/quota", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(MailQuotaIn)
@blp.response(201, MailRequestSchema)
def mailbox_quota(body, mailbox_id: int):
    return mail_svc.mailbox_quota_set(actor(), mailbox_id=mailbox_id, quota_mb=body["quota_mb"])


@_route("/mailboxes/<int:mailbox_id>/password", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(MailPasswordIn)
@blp.response(201, MailRequestSchema)
def mailbox_password(body, mailbox_id: int):
    return mail_svc.mailbox_password_set(actor(), mailbox_id=mailbox_id, password=body["password"])


@_route("/mailboxes/<int:mailbox_id>/suspend", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.response(201, MailRequestSchema)
def mailbox_suspend(mailbox_id: int):
    return mail_svc.mailbox_suspend(actor(), mailbox_id=mailbox_id)


@_route("/mailboxes/<int:mailbox_id>/unsuspend", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.response(201, MailRequestSchema)
def mailbox_unsuspend(mailbox_id: int):
    return mail_svc.mailbox_unsuspend(actor(), mailbox_id=mailbox_id)


@_route("/mailboxes/<int:mailbox_id>", ["DELETE"])
@blp.doc(security=SECURITY)
@authenticated
@blp.response(201, MailRequestSchema)
def mailbox_delete(mailbox_id: int):
    return mail_svc.mailbox_delete(actor(), mailbox_id=mailbox_id)


@_route("/domains/<int:domain_id>/aliases")
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def alias_list(args, domain_id: int):
    page = mail_svc.alias_list(actor(), domain_id=domain_id, page=args["page"], per_page=args["per_page"])
    return page_body(page, MailAliasSchema())


@_route("/domains/<int:domain_id>/aliases", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(MailAliasIn)
@blp.response(201, MailRequestSchema)
def alias_create(body, domain_id: int):
    return mail_svc.alias_create(actor(), domain_id=domain_id, source=body["source"], destinations=body["destinations"])


@_route("/aliases/<int:alias_id>", ["DELETE"])
@blp.doc(security=SECURITY)
@authenticated
@blp.response(201, MailRequestSchema)
def alias_delete(alias_id: int):
    return mail_svc.alias_delete(actor(), alias_id=alias_id)


@_route("/ca.pem")
@blp.doc(
    security=SECURITY,
    responses={
        "200": {
            "description": "The CA certificate, PEM-encoded",
            "content": {"application/x-pem-file": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
@authenticated
def ca_pem():
    """The certificate of govhost's mail CA (install it once in mail apps)."""
    return Response(mail_svc.mail_ca_pem(actor()), mimetype="application/x-pem-file")


class MailServerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    state = fields.Function(lambda h: h.state.value)


@_route("/servers")
@blp.doc(security=SECURITY)
@authenticated
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def server_list(args):
    """Registered hosts with role mail (data-center staff), a page at a time."""
    page = mail_svc.mail_hosts(actor(), page=args["page"], per_page=args["per_page"])
    return page_body(page, MailServerSchema())


@_route("/servers/<int:host_id>/setup", ["POST"])
@blp.doc(security=SECURITY)
@authenticated
@blp.response(202, JobSchema)
def server_setup(host_id: int):
    """Install or repair postfix, dovecot, opendkim and webmail on the host (data-center staff)."""
    a = actor()
    return jobs_svc.job_public(a, mail_svc.mail_server_setup(a, host_id=host_id))
