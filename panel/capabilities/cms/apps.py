"""App access for the Mobile App Platform: WordPress application passwords, requested, listed and
revoked from the panel. Importing this module registers the request kinds and the job kind (the
manifest's subscribers).

`cms.app_password_issue` (payload instance_id, name, role; one approval): the password is made by
the service, shown once to the requester and travels sealed: the request's secret until approval,
then only the job's, dropped when the job has set it (as the WordPress user's application password,
hashed by WordPress itself) on the site. The app gets its own WordPress user (`govhost-app-<id>`)
with the role asked for, so it holds only that role's rights. `cms.app_password_revoke`
(payload app_password_id; approved at once) deletes it from the site: the app then gets 401.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.cms import rules
from panel.capabilities.cms.models import AppPassword, AppPasswordStatus, Instance, InstanceStatus
from panel.errors import Conflict, Invalid, NotFound
from panel.jobs.capabilities import Capability, host_targets, job_secrets
from panel.jobs.capabilities import register as register_job
from panel.models.jobs import Job
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization
from panel.services import jobs, providers, requests
from panel.services.actor import Actor
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import N_, RequestKind, register, reject_unknown, require_int, rule_error, text
from provisioners.base import Result

ISSUE, REVOKE, JOB = "cms.app_password_issue", "cms.app_password_revoke", "cms.app_password"
A = AppPasswordStatus
LIVE = (A.PENDING, A.ACTIVE, A.FAILED, A.REVOKING)


class AppPasswordPayload(Schema):
    instance_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    name = fields.String(
        required=True,
        validate=text(max=rules.MAX_APP_NAME),
        metadata=rule_error(
            "cms.app_name_invalid",
            "The app's name is text of at most {max} characters, without control characters.",
            description="the app's name, as WordPress lists it (one per instance)",
        ),
    )
    role = fields.String(
        validate=validate.OneOf(rules.APP_ROLES),
        metadata=rule_error(
            "cms.app_role_invalid",
            "Choose author, contributor or editor.",
            description="the WordPress role of the app's own user (default author)",
        ),
    )


class AppPasswordIdPayload(Schema):
    app_password_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


def instance_in(org: Organization, instance_id: int, statuses=(InstanceStatus.ACTIVE,)) -> Instance:
    """The ministry's live instance in one of `statuses` (NotFound for another's or a deleted one;
    lifecycle.instance_of adds its no-job-under-way rule)."""
    inst = db.session().get(Instance, instance_id)
    if inst is None or inst.org_id != org.id or inst.status == InstanceStatus.DELETED:
        raise NotFound("cms_instance.not_found", "Not found.", field="instance_id", id=str(instance_id))
    if inst.status not in statuses:
        raise Conflict(
            "cms.instance_state",
            "The instance is {status}; this needs it to be {wanted}.",
            field="instance_id",
            status=inst.status.value,
            wanted=" or ".join(s.value for s in statuses),
        )
    return inst


def _name_free(inst: Instance, name: str) -> None:
    taken = db.session().scalars(
        select(AppPassword.id).where(
            AppPassword.instance_id == inst.id, AppPassword.name == name, AppPassword.status.in_(LIVE)
        )
    )
    if taken.first() is not None:
        raise Conflict(
            "cms.app_name_taken", "This site already has an app password named {name}.", field="name", name=name
        )


def _issue_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"instance_id", "name", "role"})
    inst = instance_in(org, require_int(payload, "instance_id", minimum=1, maximum=MAX_ID))
    name = rules.clean_app_name(payload.get("name"))
    _name_free(inst, name)
    return {"instance_id": inst.id, "fqdn": inst.fqdn, "name": name, "role": rules.clean_app_role(payload.get("role"))}


def _issue_secrets(actor: Actor, org: Organization, secrets: dict) -> dict:
    password = secrets.get("app_password")
    if set(secrets) != {"app_password"} or not isinstance(password, str):
        raise Invalid("cms.password_required", "The app's password is required.", field="app_password")
    if len(password) != rules.APP_PASSWORD_LENGTH or not password.isascii() or not password.isalnum():
        raise Invalid("cms.password_invalid", "An app password is 24 letters and digits.", field="app_password")
    return {"app_password": password}


def _submit(actor: Actor, row: AppPassword, inst: Instance, request: Request, action: str, secrets=None) -> Job:
    job = jobs.job_submit(
        actor,
        kind=JOB,
        org_id=row.org_id,
        host_ids=[inst.host_id],
        request_id=request.id,
        params={"app_password_id": row.id, "action": action},
        secrets=secrets,
    )
    row.busy_job_id = job.id
    return job


def _issue_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    inst = instance_in(s.get(Organization, request.org_id), p["instance_id"])
    _name_free(inst, p["name"])
    sealed = requests.request_secrets(request)
    if "app_password" not in sealed:
        raise Conflict("cms.password_gone", "The app's password is gone: file a new request.")
    row = AppPassword(
        org_id=inst.org_id, instance_id=inst.id, name=p["name"], role=p["role"], wp_user="", request_id=request.id
    )
    s.add(row)
    s.flush()
    row.wp_user = f"govhost-app-{row.id}"
    job = _submit(actor, row, inst, request, "issue", {"wordpress_app_password": sealed["app_password"]})
    request.secrets = None  # from here on only the job holds it (sealed), until it has set it
    return [job]


def app_password_of(org: Organization, app_password_id: int) -> AppPassword:
    row = db.session().get(AppPassword, app_password_id)
    if row is None or row.org_id != org.id:
        raise NotFound("cms_app_password.not_found", "Not found.", field="app_password_id", id=str(app_password_id))
    if row.status != A.ACTIVE or row.busy_job_id is not None:
        raise Conflict(
            "cms.app_password_state",
            "This app password is {status}; only an active one is revoked.",
            field="app_password_id",
            status=row.status.value,
        )
    return row


def _revoke_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"app_password_id"})
    row = app_password_of(org, require_int(payload, "app_password_id", minimum=1, maximum=MAX_ID))
    inst = instance_in(org, row.instance_id, (InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED))
    return {"app_password_id": row.id, "instance_id": inst.id, "fqdn": inst.fqdn, "name": row.name}


def _revoke_start(actor: Actor, request: Request) -> list:
    s = db.session()
    org = s.get(Organization, request.org_id)
    row = app_password_of(org, request.payload["app_password_id"])
    inst = instance_in(org, row.instance_id, (InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED))
    row.move_to(A.REVOKING)
    return [_submit(actor, row, inst, request, "revoke")]


def _place(s: Session, org: Organization, payload: dict) -> int | None:
    inst = s.get(Instance, payload["instance_id"])
    return inst.host_id if inst else None


register(
    RequestKind(
        name=ISSUE,
        label=N_("App password for a WordPress site"),
        who_may_request=MANAGER_ROLES,
        validate=_issue_validate,
        validate_secrets=_issue_secrets,
        place=_place,
        on_approve=_issue_start,
        describe=lambda p: (N_("App {name} ({role}) on {fqdn}"), {k: p[k] for k in ("name", "role", "fqdn")}),
        schema=AppPasswordPayload,
        default_policy=ApprovalMode.ONE,
    )
)
register(
    RequestKind(
        name=REVOKE,
        label=N_("Revoke a WordPress app password"),
        who_may_request=MANAGER_ROLES,
        validate=_revoke_validate,
        place=_place,
        on_approve=_revoke_start,
        describe=lambda p: (N_("Revoke app {name} on {fqdn}"), {k: p[k] for k in ("name", "fqdn")}),
        schema=AppPasswordIdPayload,
        default_policy=ApprovalMode.AUTO,
    )
)


# ---- the job ---------------------------------------------------------------------------------------


def _row(job: Job, session: Session) -> AppPassword:
    row = session.get(AppPassword, job.params.get("app_password_id"))
    if row is None:
        raise ValueError("the job names no app password")
    return row


def _build(job: Job, session: Session):
    row = _row(job, session)
    inst = session.get(Instance, row.instance_id)
    entry = providers.call("sites.app_entry", session, inst.site_id, job)
    https = entry.get("tls") in ("acme", "custom")
    extra = {
        "wordpress_app": {
            "fqdn": inst.fqdn,
            "user": entry["user"],
            "url": f"{'https' if https else 'http'}://{inst.fqdn}",
            "action": job.params["action"],
            "login": row.wp_user,
            "role": row.role,
            "name": row.name,
            "uuid": row.uuid,
        }
    }
    secrets = {}
    if job.params["action"] == "issue":
        secrets = {"wordpress_app_password": job_secrets(job)["wordpress_app_password"]}
    return extra, secrets, host_targets(job, session)


def _done(job: Job, session: Session, result: Result) -> None:
    row = _row(job, session)
    if row.busy_job_id == job.id:
        row.busy_job_id = None
    row.last_error = ""
    if job.params["action"] == "issue":
        row.move_to(A.ACTIVE)
        row.uuid = str((result.data or {}).get("wordpress_app_uuid") or "")[:36]
        job.secrets = None  # set on the site: the panel keeps no copy, not even sealed
    else:
        row.move_to(A.REVOKED)
        row.revoked_at = db.utcnow()


def _failed(job: Job, session: Session, result: Result) -> None:
    row = _row(job, session)
    if row.busy_job_id == job.id:
        row.busy_job_id = None
    row.last_error = (result.explanation or "the job failed")[:2000]
    row.move_to(A.FAILED if job.params["action"] == "issue" else A.ACTIVE)


register_job(
    Capability(
        JOB,
        "cms_app_password.yml",
        _build,
        on_success=_done,
        on_failure=_failed,
        description=N_("Issue or revoke a WordPress app password"),
    )
)


def revoke_with_instance(session: Session, instance_id: int) -> None:
    """The instance was deleted (its database dropped): its app passwords are gone with it."""
    now = db.utcnow()
    for row in session.scalars(select(AppPassword).where(AppPassword.instance_id == instance_id)):
        if row.status == A.ACTIVE:
            row.move_to(A.REVOKED)
            row.revoked_at = now
