"""/api/v1/mail: mail domains, mailboxes (batches), aliases; changes answer with the request filed.

Passwords are accepted in request bodies only (never query strings) and never echoed back.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import (
    ID,
    PageArgs,
    WindowArgs,
    actor,
    operation,
    page_list,
    plain_dumper,
    text,
    window_list,
    window_schema,
)
from panel.api.jobs import JobSchema
from panel.api.moves import move_schemas
from panel.capabilities.mail import kinds, moves, rules
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail import service as mail_svc
from panel.services import jobs as jobs_svc
from panel.services.request_kinds import field_copy

blp = Blueprint("api_mail", __name__, url_prefix="/mail", description="Mail domains, mailboxes and aliases")


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


# Request bodies: the fields of the request kinds' schemas (mail.kinds), one statement of the limits.


class MailDomainIn(kinds.MailDomainPayload):
    org_id = fields.Integer(required=True, strict=True, validate=ID)


class MailNewMailbox(Schema):
    local_part = field_copy(kinds.MailboxesPayload, "local_parts[]", required=True)
    password = fields.String(required=True, load_only=True, validate=text(max=pw.MAX_LENGTH))
    display_name = fields.String(load_default="", validate=text(max=kinds.MAX_DISPLAY_NAME))


class MailMailboxesIn(Schema):
    mailboxes = fields.List(
        fields.Nested(MailNewMailbox), required=True, validate=validate.Length(min=1, max=rules.MAX_BATCH)
    )
    quota_mb = field_copy(kinds.MailboxesPayload, "quota_mb", load_default=None)


class MailQuotaIn(Schema):
    quota_mb = field_copy(kinds.MailboxQuotaPayload, "quota_mb")


class MailPasswordIn(Schema):
    password = fields.String(required=True, load_only=True, validate=text(max=pw.MAX_LENGTH))


class MailAliasIn(Schema):
    source = field_copy(kinds.AliasPayload, "source")
    destinations = field_copy(kinds.AliasPayload, "destinations")


@operation(blp, "/domains")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def domain_list(args):
    return page_list(mail_svc.mail_domain_list, args, MailDomainSchema())


@operation(blp, "/domains", "POST")
@blp.arguments(MailDomainIn)
@blp.response(201, MailRequestSchema)
def domain_create(body):
    return mail_svc.mail_domain_create(actor(), **body)


@operation(blp, "/domains/<int:domain_id>")
@blp.response(200, MailDomainSchema)
def domain_get(domain_id: int):
    return mail_svc.mail_domain_get(actor(), domain_id)


@operation(blp, "/domains/<int:domain_id>/dns-check", "POST")
@blp.response(200, MailDomainSchema)
def domain_dns_check(domain_id: int):
    return mail_svc.mail_domain_dns_check(actor(), domain_id=domain_id)


MailMoveInSchema, MailMoveSchema = move_schemas(
    "MailMove", "domain_id", "the mail host to move to; none: the set-up mail host with the most room"
)


@operation(blp, "/domains/<int:domain_id>/move", "POST")
@blp.arguments(MailMoveInSchema)
@blp.response(202, MailMoveSchema)
def domain_move(body, domain_id: int):
    """Move the domain with its mailboxes to another mail host (DC operators and admins): a job
    copies maildirs, users and DKIM key there, DNS is switched, then the old host's copy is removed;
    any failure before the switch leaves it on the old host. Follow GET /mail/domains/{id}/moves."""
    return moves.mail_domain_move(actor(), domain_id=domain_id, host_id=body["host_id"])


@operation(blp, "/domains/<int:domain_id>/moves")
@blp.response(200, MailMoveSchema(many=True))
def domain_moves(domain_id: int):
    """The domain's moves, newest first (data-center staff)."""
    return moves.mail_domain_moves(actor(), domain_id)


@operation(blp, "/domains/<int:domain_id>/mailboxes")
@blp.arguments(WindowArgs(), location="query")
@blp.response(200, window_schema(MailboxSchema))
def mailbox_list(args, domain_id: int):
    """The domain's mailboxes by address, 50 a page: follow `next`; `total=true` also counts them."""
    return window_list(mail_svc.mailbox_window, args, _dump_mailboxes, domain_id=domain_id)


@operation(blp, "/domains/<int:domain_id>/mailboxes", "POST")
@blp.arguments(MailMailboxesIn)
@blp.response(201, MailRequestSchema)
def mailbox_create(body, domain_id: int):
    return mail_svc.mailbox_create(
        actor(), domain_id=domain_id, mailboxes=body["mailboxes"], quota_mb=body.get("quota_mb")
    )


@operation(blp, "/mailboxes/<int:mailbox_id>")
@blp.response(200, MailboxSchema)
def mailbox_get(mailbox_id: int):
    return mail_svc.mailbox_get(actor(), mailbox_id)


@operation(blp, "/mailboxes/<int:mailbox_id>/quota", "POST")
@blp.arguments(MailQuotaIn)
@blp.response(201, MailRequestSchema)
def mailbox_quota(body, mailbox_id: int):
    return mail_svc.mailbox_quota_set(actor(), mailbox_id=mailbox_id, quota_mb=body["quota_mb"])


@operation(blp, "/mailboxes/<int:mailbox_id>/password", "POST")
@blp.arguments(MailPasswordIn)
@blp.response(201, MailRequestSchema)
def mailbox_password(body, mailbox_id: int):
    return mail_svc.mailbox_password_set(actor(), mailbox_id=mailbox_id, password=body["password"])


@operation(blp, "/mailboxes/<int:mailbox_id>/suspend", "POST")
@blp.response(201, MailRequestSchema)
def mailbox_suspend(mailbox_id: int):
    return mail_svc.mailbox_suspend(actor(), mailbox_id=mailbox_id)


@operation(blp, "/mailboxes/<int:mailbox_id>/unsuspend", "POST")
@blp.response(201, MailRequestSchema)
def mailbox_unsuspend(mailbox_id: int):
    return mail_svc.mailbox_unsuspend(actor(), mailbox_id=mailbox_id)


@operation(blp, "/mailboxes/<int:mailbox_id>", "DELETE")
@blp.response(201, MailRequestSchema)
def mailbox_delete(mailbox_id: int):
    return mail_svc.mailbox_delete(actor(), mailbox_id=mailbox_id)


@operation(blp, "/domains/<int:domain_id>/aliases")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def alias_list(args, domain_id: int):
    return page_list(mail_svc.alias_list, args, MailAliasSchema(), domain_id=domain_id)


@operation(blp, "/domains/<int:domain_id>/aliases", "POST")
@blp.arguments(MailAliasIn)
@blp.response(201, MailRequestSchema)
def alias_create(body, domain_id: int):
    return mail_svc.alias_create(actor(), domain_id=domain_id, source=body["source"], destinations=body["destinations"])


@operation(blp, "/aliases/<int:alias_id>", "DELETE")
@blp.response(201, MailRequestSchema)
def alias_delete(alias_id: int):
    return mail_svc.alias_delete(actor(), alias_id=alias_id)


@operation(blp, "/ca.pem")
@blp.doc(
    responses={
        "200": {
            "description": "The CA certificate, PEM-encoded",
            "content": {"application/x-pem-file": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def ca_pem():
    """The certificate of govhost's mail CA (install it once in mail apps)."""
    return Response(mail_svc.mail_ca_pem(actor()), mimetype="application/x-pem-file")


class MailServerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    state = fields.Function(lambda h: h.state.value)


@operation(blp, "/servers")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def server_list(args):
    """Registered hosts with role mail (data-center staff), a page at a time."""
    return page_list(mail_svc.mail_hosts, args, MailServerSchema())


@operation(blp, "/servers/<int:host_id>/setup", "POST")
@blp.response(202, JobSchema)
def server_setup(host_id: int):
    """Install or repair postfix, dovecot, opendkim and webmail on the host (data-center staff)."""
    a = actor()
    return jobs_svc.job_public(a, mail_svc.mail_server_setup(a, host_id=host_id))
