"""/api/v1/cms: WordPress instances. Asking for one answers with the request filed and the
administrator's generated password, in that answer only (govhost keeps no copy). Same service calls
as the web pages and the CLI; every limit below is the request kind's schema (cms.kinds)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import ID, PageArgs, actor, operation, page_body
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import hardening, updates
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.apps import AppPasswordPayload
from panel.capabilities.cms.catalogue import ItemStatus
from panel.capabilities.cms.kinds import SITE_FIELDS, InstancePayload, SiteInstancePayload
from panel.capabilities.cms.models import InstanceStatus
from panel.capabilities.cms.staging import StagingPayload
from panel.services.request_kinds import field_copy, text

blp = Blueprint("api_cms", __name__, url_prefix="/cms", description="WordPress instances (CMS platform)")


class CmsInstanceSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    site_id = fields.Integer()
    fqdn = fields.String()
    title = fields.String()
    status = fields.Function(lambda i: i.status.value)
    wp_version = fields.String(metadata={"description": "the version the install (or last update) reported"})
    admin_user = fields.String()
    admin_email = fields.String()
    language = fields.String()
    database_id = fields.Integer(allow_none=True)
    db_name = fields.String()
    request_id = fields.Integer(allow_none=True, metadata={"description": "the request that created it"})
    staging_of_id = fields.Integer(allow_none=True, metadata={"description": "a staging copy: its live instance"})
    last_error = fields.String()
    archive_path = fields.String(
        metadata={"description": "deleted: its archive (wp-content and a database dump) on the web host"}
    )
    created_at = fields.DateTime()
    deleted_at = fields.DateTime(allow_none=True)
    hardening = fields.Dict(
        keys=fields.String(validate=validate.OneOf(list(hardening.ITEMS))),
        values=fields.Dict(),
        metadata={"description": "the last hardening check: item -> {ok, detail}; empty until the first check"},
    )
    hardening_checked_at = fields.DateTime(allow_none=True)
    hardening_drift = fields.List(fields.String(), metadata={"description": "the items the last check found changed"})


class CmsRequestSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.Function(lambda r: r.status.value)
    summary = fields.String()


class CmsIssuedSchema(Schema):
    request = fields.Nested(CmsRequestSchema)
    password = fields.String(
        metadata={
            "description": "the WordPress administrator's generated password, in this answer only: "
            "it works once the request is approved and the install job has finished"
        }
    )


class CmsActionSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(cms_svc.ACTIONS),
        metadata={"description": "suspend (approved at once), unsuspend, delete (files and a database dump archived)"},
    )


class CmsInstanceListArgs(PageArgs):
    org_id = fields.Integer(validate=ID)
    status = fields.String(validate=validate.OneOf([s.value for s in InstanceStatus]))


class CmsNewSiteIn(Schema.from_dict({k: field_copy(SiteInstancePayload, k) for k in SITE_FIELDS})):
    """A new site for the instance, asked in the same request (as for POST /sites/, one site)."""


class CmsInstanceIn(Schema):
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    site_id = field_copy(
        InstancePayload, "site_id", required=False, metadata={"description": "an active site; or give new_site"}
    )
    new_site = fields.Nested(
        CmsNewSiteIn,
        metadata={"description": "a new site, made in the same request (one approval); instead of site_id"},
    )
    title = field_copy(InstancePayload, "title")
    admin_user = field_copy(InstancePayload, "admin_user")
    admin_email = field_copy(InstancePayload, "admin_email")
    language = field_copy(InstancePayload, "language", load_default="en")


@operation(blp, "/instances")
@blp.arguments(CmsInstanceListArgs, location="query")
@blp.response(200)
def instance_list(args):
    """WordPress instances by site name, a page at a time (another ministry's are never listed)."""
    return page_body(cms_svc.instance_list(actor(), **args), CmsInstanceSchema())


@operation(blp, "/instances", "POST")
@blp.arguments(CmsInstanceIn)
@blp.response(201, CmsIssuedSchema)
def instance_create(body):
    """Ask for WordPress on an active site of the ministry, or on a new site (`new_site`) in the
    same request; the data center approves it."""
    issued = cms_svc.instance_create(actor(), **body)
    return {"request": issued.request, "password": issued.password}


@operation(blp, "/instances/<int:instance_id>")
@blp.response(200, CmsInstanceSchema)
def instance_get(instance_id: int):
    return cms_svc.instance_get(actor(), instance_id)


@operation(blp, "/instances/<int:instance_id>/requests", "POST")
@blp.arguments(CmsActionSchema)
@blp.response(201, CmsRequestSchema)
def instance_action(body, instance_id: int):
    """Ask to suspend, unsuspend or delete (archive) a WordPress instance; the request follows the
    approval policies (suspend is approved at once by default)."""
    return cms_svc.instance_request(actor(), action=body["action"], instance_id=instance_id)


class CmsCheckSchema(Schema):
    job_ids = fields.List(fields.Integer(), metadata={"description": "the check job (one per host and ministry)"})
    skipped_hosts = fields.List(fields.String(), metadata={"description": "hosts down or with a changed key"})


@operation(blp, "/instances/<int:instance_id>/hardening-check", "POST")
@blp.response(202, CmsCheckSchema)
def instance_hardening_check(instance_id: int):
    """Staff: check the instance's hardening now (a job; the instance shows the result once it ran)."""
    jobs = hardening.hardening_check(actor(), instance_id)
    return {"job_ids": [j.id for j in jobs], "skipped_hosts": jobs.skipped}


@operation(blp, "/instances/<int:instance_id>/hardening-repair", "POST")
@blp.response(201, CmsRequestSchema)
def instance_hardening_repair(instance_id: int):
    """Ask to put the instance's hardening back (the config's defines, owner and mode, govhost's
    plugin, the vhost's rules), then check it again: a request, approved at once by default."""
    return cms_svc.hardening_repair(actor(), instance_id=instance_id)


class CmsStagingIn(Schema):
    fqdn = field_copy(StagingPayload, "fqdn")


@operation(blp, "/instances/<int:instance_id>/staging", "POST")
@blp.arguments(CmsStagingIn)
@blp.response(201, CmsIssuedSchema)
def staging_create(body, instance_id: int):
    """Ask for a staging copy of a live instance on its own name (a new site of the ministry beside
    it: files and database copied, not indexed, behind WordPress's login); one approval. `password`
    is the copy's own administrator's (`<live admin>-staging`), shown once; the live site's users
    cannot log in to the copy."""
    issued = cms_svc.staging_create(actor(), instance_id=instance_id, fqdn=body["fqdn"])
    return {"request": issued.request, "password": issued.password}


@operation(blp, "/instances/<int:instance_id>/push", "POST")
@blp.response(201, CmsRequestSchema)
def staging_push(instance_id: int):
    """Ask to push a staging copy (this instance) to its live site: one approval; the live site is
    snapshotted first and rolled back when it does not answer well after."""
    return cms_svc.staging_push(actor(), instance_id=instance_id)


# ---- app passwords (the Mobile App Platform) -------------------------------------------------------


class CmsAppPasswordSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    name = fields.String()
    role = fields.String()
    wp_user = fields.String(metadata={"description": "the app's own WordPress user (the REST API login)"})
    status = fields.Function(lambda r: r.status.value)
    request_id = fields.Integer(allow_none=True)
    last_error = fields.String()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)


class CmsAppPasswordIn(Schema):
    name = field_copy(AppPasswordPayload, "name")
    role = field_copy(AppPasswordPayload, "role", load_default="author")


class CmsAppIssuedSchema(Schema):
    request = fields.Nested(CmsRequestSchema)
    password = fields.String(
        metadata={
            "description": "the app password, in this answer only (govhost keeps no copy): it works over "
            "HTTPS, Basic auth with the app's login (wp_user in the list), once the request is approved and "
            "its job has set it"
        }
    )


@operation(blp, "/instances/<int:instance_id>/app-passwords")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def app_password_list(args, instance_id: int):
    """The instance's app passwords, newest first: who each is for and its state, never the password."""
    return page_body(cms_svc.app_password_list(actor(), instance_id, **args), CmsAppPasswordSchema())


@operation(blp, "/instances/<int:instance_id>/app-passwords", "POST")
@blp.arguments(CmsAppPasswordIn)
@blp.response(201, CmsAppIssuedSchema)
def app_password_issue(body, instance_id: int):
    """Ask for an app password for a named app with a least-privilege role (one approval)."""
    issued = cms_svc.app_password_issue(actor(), instance_id=instance_id, **body)
    return {"request": issued.request, "password": issued.password}


@operation(blp, "/app-passwords/<int:app_password_id>/revoke", "POST")
@blp.response(201, CmsRequestSchema)
def app_password_revoke(app_password_id: int):
    """Revoke an app password (approved at once by default); the app then gets 401."""
    return cms_svc.app_password_revoke(actor(), app_password_id)


# ---- the catalogue and the update plans (read; uploads, decisions and plans are filed by the CLI
# and the core's request pages) ---------------------------------------------------------------------


class CmsCatalogueItemSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "plugin or theme"})
    slug = fields.String()
    name = fields.String()
    version = fields.String()
    sha256 = fields.String(metadata={"description": "of the zip, checked again on every host before use"})
    size = fields.Integer()
    status = fields.Function(lambda i: i.status.value)
    uploaded_by_name = fields.String()
    decided_by_name = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    note = fields.String(metadata={"description": "the uploader's note, or why it was rejected"})
    created_at = fields.DateTime()


class CmsCatalogueArgs(PageArgs):
    status = fields.String(
        validate=validate.OneOf([s.value for s in ItemStatus]),
        metadata={"description": "staff only; a ministry sees the approved items"},
    )
    slug = fields.String(validate=text(max=64))


class CmsPlanTargetSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer(allow_none=True)
    org_id = fields.Integer()
    fqdn = fields.String()
    kind = fields.String()
    slug = fields.String()
    from_version = fields.String()
    to_version = fields.String()
    status = fields.Function(lambda t: t.status.value)
    version_after = fields.String()
    answered = fields.Boolean(allow_none=True, metadata={"description": "rolled back: the site answers as before"})
    detail = fields.String()
    job_id = fields.Integer(allow_none=True)


@operation(blp, "/catalogue")
@blp.arguments(CmsCatalogueArgs, location="query")
@blp.response(200)
def catalogue_list(args):
    """The catalogue of plugins and themes, by slug: staff see every item, a ministry the approved
    ones (what it may install)."""
    return page_body(cat.catalogue_list(actor(), **args), CmsCatalogueItemSchema())


@operation(blp, "/catalogue/<int:item_id>")
@blp.response(200, CmsCatalogueItemSchema)
def catalogue_get(item_id: int):
    return cat.catalogue_get(actor(), item_id)


@operation(blp, "/plans")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def plan_list(args):
    """Mass update plans (their requests), newest first: a ministry sees its own."""
    return page_body(updates.plan_list(actor(), **args), CmsRequestSchema())


@operation(blp, "/plans/<int:update_plan_id>")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def plan_get(args, update_plan_id: int):
    """One plan: its request and its sites (which version to which, and what happened), a page at
    a time."""
    req, rows = updates.plan_page(actor(), update_plan_id, **args)
    return {"request": CmsRequestSchema().dump(req), "targets": page_body(rows, CmsPlanTargetSchema())}
