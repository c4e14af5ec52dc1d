"""Staging copies of WordPress instances and their push to live (issue 16). Importing this module
registers the request kinds and the push job kind (the manifest's subscribers).

`cms.staging_create` (payload instance_id, fqdn; one approval): a new site of the ministry on the
live instance's web host (the sites providers, as `cms.site_instance_create` makes one; same plan
and PHP, its own certificate), its own database, and the live instance's files and database copied
into them by the install job (`govhost_wordpress` with `clone_from`): the URLs rewritten to the
staging name, search engines told no (`blog_public` 0, `X-Robots-Tag`) and every page behind
WordPress's login (a must-use plugin, root's). The copy has its own login: the users copied from
live are locked out and its own administrator (`<live admin>-staging`) gets the one-time password
the service handed back. It is an instance of its own (`staging_of_id` names the live one): it
counts against the budget (sites, disk, databases, cms_instances), is listed, suspended or deleted
like any other, and deleted with its live instance (cms.lifecycle).

`cms.staging_push` (payload instance_id: the staging one; one approval): the push job on the web
host checks the live site answers (HTTP 200 and the health marker), snapshots its wp-content and
database, copies the staging's wp-content and database over it, puts the live site's own users
tables back (the copy's login never goes live; its administrator's posts become the live
administrator's, `owner`), URLs back to the live name, the live site's `blog_public` kept, waits
for PHP's code cache and probes again: a failing probe restores the snapshot (files and database)
and the request fails saying so.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.cms import APP, kinds, lifecycle
from panel.capabilities.cms.models import LIVE, Instance, InstanceStatus
from panel.errors import Conflict
from panel.jobs.capabilities import Capability, host_targets
from panel.jobs.capabilities import register as register_job
from panel.models.jobs import Job
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization
from panel.services import jobs, providers, requests
from panel.services.actor import Actor
from panel.services.names import MAX_NAME
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import N_, RequestKind, register, reject_unknown, require_int, rule_error, says, text
from provisioners.base import Result

CREATE, PUSH = "cms.staging_create", "cms.staging_push"
S = InstanceStatus


class StagingPayload(Schema):
    instance_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    fqdn = fields.String(
        required=True,
        validate=text(min=1, max=MAX_NAME),
        metadata=rule_error(
            "name.too_long", "A domain name has at most {max} characters.", description="the staging copy's own name"
        ),
    )


def _live(org: Organization, instance_id: int) -> Instance:
    """The ministry's active live instance (not a staging copy) with no change under way."""
    inst = lifecycle.instance_of(org, instance_id, (S.ACTIVE,))
    if inst.staging_of_id is not None:
        raise Conflict(
            "cms.staging_of_staging", "This is a staging copy: make one of the live site.", field="instance_id"
        )
    return inst


def _no_staging(live: Instance) -> None:
    s = db.session()
    if s.scalars(select(Instance.id).where(Instance.staging_of_id == live.id, Instance.status.in_(LIVE))).first():
        raise Conflict("cms.staging_exists", "{fqdn} has a staging copy already.", field="instance_id", fqdn=live.fqdn)


def _create_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"instance_id", "fqdn"})
    live = _live(org, require_int(payload, "instance_id", minimum=1, maximum=MAX_ID))
    _no_staging(live)
    site = providers.call("sites.app_site", actor, live.site_id, org_id=org.id, app=APP)
    new = providers.call(
        "sites.app_new_site_validate",
        actor,
        org,
        {
            "fqdn": payload.get("fqdn"),
            "plan": site["plan"],
            "php_version": site["php_version"],
            "tls": "none" if site["tls"] == "none" else "acme",
        },
    )
    return {
        **new,
        "instance_id": live.id,
        "live_fqdn": live.fqdn,
        "title": live.title,
        "admin_user": staging_admin(live.admin_user),
        "admin_email": live.admin_email,
        "language": live.language,
    }


def staging_admin(live_admin: str) -> str:
    """The copy's own administrator's login: the live one's with `-staging` (at most 60 characters)."""
    return f"{live_admin[:51]}-staging"


def _create_start(actor: Actor, request: Request) -> list:
    s = db.session()
    org = s.get(Organization, request.org_id)
    if "admin_password" not in requests.request_secrets(request):
        raise Conflict("cms.password_gone", "The administrator's password is gone: file a new request.")
    if s.scalars(select(Instance).where(Instance.request_id == request.id)).first() is not None:
        raise Conflict("cms.retry_new_request", "File a new request for this site: the first attempt failed.")
    live = _live(org, request.payload["instance_id"])
    _no_staging(live)
    site = providers.call("sites.app_new_site", actor, request, app=APP)
    inst = kinds.new_instance(org, site, request)
    inst.staging_of_id = live.id
    return [s.get(Job, site["job_id"])]


def _create_retry(actor: Actor, request: Request) -> list:
    """As a new site with WordPress: its failed database or copy runs again; a failed site is not."""
    if db.session().scalars(select(Instance).where(Instance.request_id == request.id)).first() is None:
        return _create_start(actor, request)
    return kinds.site_instance_retry(actor, request)


def _place(s: Session, org: Organization, payload: dict) -> int | None:
    live = s.get(Instance, payload["instance_id"])
    return live.host_id if live else None  # beside the live site: the push copies on the host


register(
    RequestKind(
        name=CREATE,
        label=N_("Staging copy of a WordPress site"),
        who_may_request=MANAGER_ROLES,
        validate=_create_validate,
        validate_secrets=kinds.validate_secrets,
        quota=lambda p: {**providers.call("sites.app_new_site_quota", p), "cms_instances": 1, "databases": 1},
        place=_place,
        on_approve=_create_start,
        on_retry=lambda actor, request: _create_retry(actor, request),
        kept=kinds.site_instance_kept,
        on_create=lambda s, req: providers.call("sites.app_new_site_hold", s, req),
        describe=says(N_("Staging copy {fqdn} of {live_fqdn}")),
        schema=StagingPayload,
        default_policy=ApprovalMode.ONE,
    )
)


# ---- push to live ----------------------------------------------------------------------------------


class PushPayload(Schema):
    instance_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


def _pair(org: Organization, staging_id: int) -> tuple[Instance, Instance]:
    """(staging, live): both the ministry's, active, on one host and with no change under way."""
    staging = lifecycle.instance_of(org, staging_id, (S.ACTIVE,))
    if staging.staging_of_id is None:
        raise Conflict("cms.not_staging", "This is not a staging copy.", field="instance_id")
    live = lifecycle.instance_of(org, staging.staging_of_id, (S.ACTIVE,))
    if live.host_id != staging.host_id:
        raise Conflict(
            "cms.staging_host", "The staging copy and its live site are on different hosts.", field="instance_id"
        )
    return staging, live


def _push_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"instance_id"})
    staging, live = _pair(org, require_int(payload, "instance_id", minimum=1, maximum=MAX_ID))
    return {"instance_id": staging.id, "fqdn": staging.fqdn, "live_id": live.id, "live_fqdn": live.fqdn}


def _push_start(actor: Actor, request: Request) -> list:
    s = db.session()
    staging, live = _pair(s.get(Organization, request.org_id), request.payload["instance_id"])
    job = jobs.job_submit(
        actor,
        kind=PUSH,
        org_id=live.org_id,
        host_ids=[live.host_id],
        request_id=request.id,
        params={"instance_id": staging.id, "live_id": live.id},
    )
    staging.busy_job_id = live.busy_job_id = job.id
    return [job]


register(
    RequestKind(
        name=PUSH,
        label=N_("Push a staging copy to its live WordPress site"),
        who_may_request=MANAGER_ROLES,
        validate=_push_validate,
        place=_place,
        on_approve=_push_start,
        describe=says(N_("Push {fqdn} to {live_fqdn}")),
        schema=PushPayload,
        default_policy=ApprovalMode.ONE,
    )
)


def _instances(job: Job, session: Session) -> tuple[Instance, Instance]:
    staging, live = (
        session.get(Instance, job.params.get("instance_id")),
        session.get(Instance, job.params.get("live_id")),
    )
    if staging is None or live is None:
        raise ValueError("the job names no staging copy or live instance")
    return staging, live


def _entry(session: Session, job: Job, inst: Instance) -> dict:
    entry = providers.call("sites.app_entry", session, inst.site_id, job)
    if entry.get("app") != APP:
        raise ValueError(f"site {inst.fqdn} does not serve WordPress")
    https = entry.get("tls") in ("acme", "custom")
    return {"fqdn": inst.fqdn, "user": entry["user"], "url": f"{'https' if https else 'http'}://{inst.fqdn}"}


def _push_build(job: Job, session: Session):
    staging, live = _instances(job, session)
    # owner: the live administrator, who takes over posts written on staging by the copy's own
    # administrator (the live site keeps its own users; the copy's never go live)
    live_entry = {**_entry(session, job, live), "owner": live.admin_user}
    extra = {"wordpress_push": {"staging": _entry(session, job, staging), "live": live_entry}}
    return extra, {}, host_targets(job, session)


def _release(job: Job, staging: Instance, live: Instance) -> None:
    for inst in (staging, live):
        if inst.busy_job_id == job.id:
            inst.busy_job_id = None


def _pushed(job: Job, session: Session, result: Result) -> None:
    staging, live = _instances(job, session)
    _release(job, staging, live)
    live.last_error = ""


def _push_failed(job: Job, session: Session, result: Result) -> None:
    staging, live = _instances(job, session)
    _release(job, staging, live)
    said = (result.data or {}).get("wordpress_push") or {}
    why = said.get("detail") if isinstance(said, dict) else ""
    live.last_error = (f"push of {staging.fqdn}: {why or result.explanation or 'the job failed'}")[:2000]


register_job(
    Capability(
        PUSH,
        "cms_staging_push.yml",
        _push_build,
        on_success=_pushed,
        on_failure=_push_failed,
        timeout_s=900,
        description=N_("Push a WordPress staging copy to live (snapshot first, rolled back on failure)"),
    )
)
