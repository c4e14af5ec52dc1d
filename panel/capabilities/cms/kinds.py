"""The request kind of WordPress instances. Importing this module registers it (the loader does).

`cms.instance_create` on an active site of the ministry: approved by the data center (it takes a
database and an application on a shared host). Approval records the app on the site
(`sites.app_site`), creates the instance row and its database and user (`databases.app_database`,
whose job runs first); the install job is chained from that job's end (cms.jobs). The admin's
one-time password arrives as a request secret; the database password and the eight salts are
generated here and sealed beside it; none is ever in a payload, a job's params, an event or the
audit log.
"""

from __future__ import annotations

import json

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from panel import db, events, security
from panel.capabilities.cms import APP, rules
from panel.capabilities.cms import jobs as cms_jobs
from panel.capabilities.cms.catalogue import language_pack
from panel.capabilities.cms.models import LIVE, Instance, InstanceItem, InstanceStatus
from panel.errors import Conflict, Invalid, PanelError
from panel.models.jobs import Job, JobStatus
from panel.models.requests import ApprovalMode, Request, RequestStatus
from panel.models.tenants import MANAGER_ROLES, Organization
from panel.services import providers, requests
from panel.services.actor import Actor, system_actor
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import (
    N_,
    RequestKind,
    register,
    reject_unknown,
    require_int,
    rule_error,
    says,
    text,
)


class InstancePayload(Schema):
    site_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    title = fields.String(
        required=True,
        validate=text(max=rules.MAX_TITLE),
        metadata=rule_error("cms.title_invalid", "The title is text of at most {max} characters."),
    )
    admin_user = fields.String(
        required=True,
        validate=text(max=60),
        metadata=rule_error(
            "cms.admin_user_invalid",
            "The administrator's name is 3-60 lowercase letters, digits, '.', '_' or '-', starting with a letter.",
            description="WordPress administrator login (its password is generated and shown once)",
        ),
    )
    admin_email = fields.String(
        required=True,
        validate=text(max=254),
        metadata=rule_error("cms.email_invalid", "This is not a valid e-mail address."),
    )
    language = fields.String(
        validate=validate.OneOf(rules.LANGUAGES),
        metadata=rule_error("cms.language_invalid", "Choose English or Khmer."),
    )


def _site(actor: Actor, org: Organization, site_id: int, *, claim: bool = False) -> dict:
    return providers.call("sites.app_site", actor, site_id, org_id=org.id, app=APP, claim=claim)


def _no_instance(site_id: int) -> None:
    s = db.session()
    if s.scalars(select(Instance.id).where(Instance.site_id == site_id, Instance.status.in_(LIVE))).first():
        raise Conflict("cms.site_has_instance", "This site already has a WordPress instance.", field="site_id")


def _validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"site_id", "title", "admin_user", "admin_email", "language"})
    site_id = require_int(payload, "site_id", minimum=1, maximum=MAX_ID)
    site = _site(actor, org, site_id)
    _no_instance(site["site_id"])
    return {
        "site_id": site["site_id"],
        "fqdn": site["fqdn"],
        "host_id": site["host_id"],
        "title": rules.clean_title(payload.get("title")),
        "admin_user": rules.clean_admin_user(payload.get("admin_user")),
        "admin_email": rules.clean_email(payload.get("admin_email")),
        "language": _language(payload.get("language")),
    }


def _language(value) -> str:
    """en (WordPress's own), or a language whose pack the catalogue holds approved: nothing is
    fetched from wordpress.org, so without one the request is refused (never installed in English
    under another language's name)."""
    language = rules.clean_language(value)
    if language != "en" and language_pack(db.session(), language) is None:
        raise Invalid(
            "cms.language_pack_missing",
            "The data center's catalogue has no approved language pack for {language} yet: choose English, "
            "or ask the data center to upload one.",
            field="language",
            language=language,
        )
    return language


def validate_secrets(actor: Actor, org: Organization, secrets: dict) -> dict:
    if set(secrets) != {"admin_password"}:
        raise Invalid("cms.password_required", "The administrator's password is required.", field="admin_password")
    return {"admin_password": rules.check_admin_password(secrets["admin_password"], "")}


def _start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    org = s.get(Organization, request.org_id)
    sealed = requests.request_secrets(request)
    if "admin_password" not in sealed:
        raise Conflict("cms.password_gone", "The administrator's password is gone: file a new request.")
    if s.scalars(select(Instance).where(Instance.request_id == request.id)).first() is not None:
        raise Conflict("cms.retry_new_request", "File a new request for this site: the first attempt failed.")
    _no_instance(p["site_id"])
    site = _site(actor, org, p["site_id"], claim=True)
    inst = new_instance(org, site, request)
    return [s.get(Job, _database(actor, request, inst, sealed))]


def new_instance(org: Organization, site: dict, request: Request) -> Instance:
    """The pending instance row of an approved request, on `site` (sites' plain values)."""
    s, p = db.session(), request.payload
    inst = Instance(
        org_id=org.id,
        site_id=site["site_id"],
        fqdn=site["fqdn"],
        host_id=site["host_id"],
        title=p["title"],
        admin_user=p["admin_user"],
        admin_email=p["admin_email"],
        language=p["language"],
        request_id=request.id,
    )
    s.add(inst)
    s.flush()
    if inst.language != "en" and request.kind != STAGING_CREATE:  # a copy gets the live one's files
        pack = language_pack(s, inst.language)  # the newest approved now; the install job takes this one
        if pack is None:
            raise Conflict(
                "cms.language_pack_missing",
                "The data center's catalogue has no approved language pack for {language} now.",
                field="language",
                language=inst.language,
            )
        s.add(InstanceItem(instance_id=inst.id, org_id=org.id, kind="language", slug=pack.slug, item_id=pack.id))
        s.flush()
    return inst


def _database(actor: Actor, request: Request, inst: Instance, sealed: dict) -> int:
    """The instance's database and user (their job's id); the secrets the install needs are sealed
    on the request beside the admin's password until the install job takes them (cms.jobs)."""
    db_password = security.new_password(rules.DB_PASSWORD_LENGTH)
    made = providers.call(
        "databases.app_database", actor, request, name=f"wp{inst.id}", password=db_password, site_id=inst.site_id
    )
    inst.db_host_id, inst.database_id, inst.db_user_id = made["host_id"], made["database_id"], made["user_id"]
    inst.db_name, inst.db_user, inst.db_job_id = made["database"], made["user"], made["job_id"]
    sealed.update(db_password=db_password, db_address=made["host_address"], salts=json.dumps(rules.new_salts()))
    request.secrets = security.seal(json.dumps(sealed))
    return made["job_id"]


def _retry(actor: Actor, request: Request) -> list:
    """A failed instance runs again from where it failed, with the request's sealed secrets (they
    are dropped only when an install succeeds): its database job again when that failed, else a
    new install job (which finds WordPress installed by its own first run and changes nothing)."""
    s = db.session()
    inst = s.scalars(select(Instance).where(Instance.request_id == request.id)).first()
    if inst is None:  # the approval itself failed before the instance existed
        return _start(actor, request)
    if inst.status != InstanceStatus.FAILED:
        raise Conflict(
            "cms.instance_state", "The instance is {status}; this needs it to be failed.", status=inst.status.value
        )
    if request.kind in PASSWORD_KINDS and "admin_password" not in requests.request_secrets(request):
        raise Conflict("cms.password_gone", "The administrator's password is gone: file a new request.")
    inst.move_to(InstanceStatus.PENDING)
    inst.last_error = ""
    db_job = s.get(Job, inst.db_job_id) if inst.db_job_id else None
    if db_job is not None and db_job.status != JobStatus.SUCCESSFUL:
        inst.db_job_id = providers.call(  # only this instance's database: the job may have carried others
            "databases.app_database_retry",
            s,
            db_job.id,
            by=actor.username,
            database_id=inst.database_id,
            user_id=inst.db_user_id,
        )
        return [s.get(Job, inst.db_job_id)]
    job = cms_jobs.submit_install(s, [(inst, request)])
    if job is None:
        raise Conflict("cms.host_unusable", "The site's web host cannot be used now (down or in maintenance).")
    return [job]


INSTANCE_CREATE = register(
    RequestKind(
        name="cms.instance_create",
        label=N_("New WordPress site"),
        who_may_request=MANAGER_ROLES,
        validate=_validate,
        validate_secrets=validate_secrets,
        quota=lambda p: {"cms_instances": 1, "databases": 1},
        place=lambda s, org, p: p.get("host_id"),
        on_approve=_start,
        on_retry=_retry,
        describe=says(N_("WordPress on {fqdn}: {title}")),
        schema=InstancePayload,
        default_policy=ApprovalMode.ONE,
    )
)


# ---- a new site with WordPress on it, in one request (issue 16) -----------------------------------
# The site's part goes through the sites providers (sites.app_new_site_*): one request, one approval,
# one budget check of the site, the database and the instance together. Approval makes the site
# (serving WordPress from its first run) and the pending instance and submits the site's job; its end
# chains the database job (below), whose end chains the install job (cms.jobs), as on an existing site.

SITE_INSTANCE_CREATE = "cms.site_instance_create"
STAGING_CREATE = "cms.staging_create"  # cms.staging: a new site too, its instance a copy of a live one
NEW_SITE_KINDS = (SITE_INSTANCE_CREATE, STAGING_CREATE)
# the kinds whose request carries the administrator's one-time password (a staging copy: its own
# administrator's; the live site's users are locked out of the copy)
PASSWORD_KINDS = ("cms.instance_create", SITE_INSTANCE_CREATE, STAGING_CREATE)
SITE_JOB = "sites.site_create"
# the site's fields, limits and error keys are the sites capability's (plugged before cms, which requires it)
_SITE = providers.call("sites.app_new_site_fields")
SITE_FIELDS = tuple(_SITE)
INSTANCE_FIELDS = ("title", "admin_user", "admin_email", "language")


class SiteInstancePayload(Schema.from_dict(_SITE)):
    title = InstancePayload._declared_fields["title"]
    admin_user = InstancePayload._declared_fields["admin_user"]
    admin_email = InstancePayload._declared_fields["admin_email"]
    language = InstancePayload._declared_fields["language"]


def _site_instance_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {*SITE_FIELDS, *INSTANCE_FIELDS})
    site = providers.call("sites.app_new_site_validate", actor, org, payload)  # it reads the site's fields
    return {
        **site,
        "title": rules.clean_title(payload.get("title")),
        "admin_user": rules.clean_admin_user(payload.get("admin_user")),
        "admin_email": rules.clean_email(payload.get("admin_email")),
        "language": _language(payload.get("language")),
    }


def _site_instance_quota(payload: dict) -> dict[str, int]:
    return {**providers.call("sites.app_new_site_quota", payload), "cms_instances": 1, "databases": 1}


def site_instance_kept(s: Session, request: Request) -> dict[str, int]:
    """The site and the instance are deleted apart (WordPress first, the site later or never): each
    keeps its share of the request's budget while it lives, so deleting one frees only its own."""
    kept = dict(providers.call("sites.app_new_site_kept", s, request))
    inst = s.scalars(select(Instance).where(Instance.request_id == request.id)).first()
    if inst is not None and inst.status != InstanceStatus.DELETED and inst.db_job_id is not None:
        kept.update(cms_instances=1, databases=1)
    return kept


def _site_instance_start(actor: Actor, request: Request) -> list:
    s = db.session()
    org = s.get(Organization, request.org_id)
    if "admin_password" not in requests.request_secrets(request):
        raise Conflict("cms.password_gone", "The administrator's password is gone: file a new request.")
    if s.scalars(select(Instance).where(Instance.request_id == request.id)).first() is not None:
        raise Conflict("cms.retry_new_request", "File a new request for this site: the first attempt failed.")
    site = providers.call("sites.app_new_site", actor, request, app=APP)
    new_instance(org, site, request)
    return [s.get(Job, site["job_id"])]


def site_instance_retry(actor: Actor, request: Request) -> list:
    """A failed database or install runs again as on an existing site; a site whose own job failed
    is not made again here (its name and host stay with the failed site): file a new request."""
    inst = db.session().scalars(select(Instance).where(Instance.request_id == request.id)).first()
    if inst is None:  # the approval itself failed before anything was made
        return _site_instance_start(actor, request)
    if inst.db_job_id is None:
        raise Conflict("cms.retry_new_request", "File a new request for this site: the first attempt failed.")
    return _retry(actor, request)


def _site_instance_moved(req: Request, *, old, new, **_) -> None:
    """The site's names are held while the request is open (then the site row holds them)."""
    if req.kind in NEW_SITE_KINDS and old in OPEN and new not in OPEN:
        providers.call("sites.app_new_site_release", object_session(req) or db.session(), req.id)


events.request_moved.connect(_site_instance_moved)
OPEN = (RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED)


@events.job_finished.connect
def _site_ready(job: Job, *, session: Session, result, ok: bool, **_) -> None:
    """The new site's job ended: its database comes next; else the instance and its request fail."""
    if job.kind != SITE_JOB or job.request_id is not None:
        return
    inst = session.scalars(
        select(Instance).where(
            Instance.site_id.in_(job.params.get("site_ids") or []),
            Instance.status == InstanceStatus.PENDING,
            Instance.db_job_id.is_(None),
        )
    ).first()
    req = session.get(Request, inst.request_id) if inst is not None and inst.request_id else None
    if req is None or req.kind not in NEW_SITE_KINDS:
        return
    sealed = requests.request_secrets(req) if req.secrets else {}
    gone = req.kind in PASSWORD_KINDS and "admin_password" not in sealed
    why = result.explanation if not ok else "the request's secrets are gone" if gone else ""
    if not why:
        try:
            with session.begin_nested():
                _database(system_actor("worker", "panel:cms"), req, inst, sealed)
        except PanelError as e:
            why = e.text()
    if why:
        cms_jobs.fail(session, inst, why)
        if req.can_move_to(RequestStatus.FAILED):
            req.move_to(RequestStatus.FAILED)


SITE_INSTANCE = register(
    RequestKind(
        name=SITE_INSTANCE_CREATE,
        label=N_("New website with WordPress"),
        who_may_request=MANAGER_ROLES,
        validate=_site_instance_validate,
        validate_secrets=validate_secrets,
        quota=_site_instance_quota,
        place=lambda s, org, p: providers.call("sites.app_new_site_place", s, org, p),
        on_approve=_site_instance_start,
        on_retry=site_instance_retry,
        kept=site_instance_kept,
        on_create=lambda s, req: providers.call("sites.app_new_site_hold", s, req),
        describe=says(N_("New site {fqdn} with WordPress: {title}")),
        schema=SiteInstancePayload,
        default_policy=ApprovalMode.ONE,
    )
)
