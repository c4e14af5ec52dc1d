"""Suspend, unsuspend and delete a WordPress instance: request kinds and their jobs, as sites has
them (suspend is approved at once, unsuspend and delete by the data center). Importing this module
registers them (the manifest's subscribers).

- Suspend (`cms_instance_state.yml`): the site's pool stops and its vhost answers the bilingual
  suspended page (the sites roles, state `suspended`), so wp-admin is unreachable too; WP-cron's
  system timer is removed. Unsuspend puts them back. On success the instance and its site
  (`sites.app_state`) are suspended or active together, so every later job of the site renders it so.
- Delete (`cms_instance_delete.yml`): WP-cron stopped, a dump of the site's database (made with its
  own credentials, which stay on the host) and its wp-content packed into one archive on the web
  host (root's, 0600), then wp-content and the config removed and the site's vhost and pool
  rendered as a plain site again. On success the site is released (`sites.app_release`) and the
  database and its user are dropped (`databases.app_database_drop`, which frees the budget).
  A live instance's staging copy is deleted (archived) with it: its own delete job, submitted at the
  same approval, which it follows (deleted, or back with the reason); the live one's request
  follows the live one's job.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.cms import APP, apps
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.errors import Conflict
from panel.jobs.capabilities import Capability, host_targets
from panel.jobs.capabilities import register as register_job
from panel.jobs.submit import job_create
from panel.models.jobs import Job
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization
from panel.services import jobs, providers
from panel.services.actor import Actor
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import N_, RequestKind, register, reject_unknown, require_int
from provisioners.base import Result

S = InstanceStatus
SUSPEND, UNSUSPEND, DELETE = "cms.instance_suspend", "cms.instance_unsuspend", "cms.instance_delete"
ACTIONS = ("suspend", "unsuspend", "delete")
# what each action takes the instance from (a failed instance can be deleted: its job removes
# whatever the failed install left)
FROM = {SUSPEND: (S.ACTIVE,), UNSUSPEND: (S.SUSPENDED,), DELETE: (S.ACTIVE, S.SUSPENDED, S.FAILED)}


class InstanceIdPayload(Schema):
    instance_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


def instance_of(org: Organization, instance_id: int, statuses) -> Instance:
    """The ministry's instance in one of `statuses`, with no other change under way."""
    inst = apps.instance_in(org, instance_id, statuses)
    if inst.busy_job_id is not None:
        raise Conflict(
            "cms.instance_busy",
            "Job {job} of this instance is under way; try again when it ends.",
            job=inst.busy_job_id,
        )
    return inst


def staging_copy(inst: Instance) -> Instance | None:
    """The live instance's staging copy that its deletion deletes too (None: none, or it is being
    deleted already); a copy being made or busy refuses the deletion for now."""
    if inst.staging_of_id is not None:
        return None
    copy = (
        db.session()
        .scalars(
            select(Instance).where(Instance.staging_of_id == inst.id, Instance.status.not_in((S.DELETED, S.DELETING)))
        )
        .first()
    )
    if copy is None:
        return None
    if copy.status == S.PENDING:
        raise Conflict(
            "cms.staging_pending",
            "Its staging copy {fqdn} is being made; delete the site when that has ended.",
            field="instance_id",
            fqdn=copy.fqdn,
        )
    if copy.busy_job_id is not None:
        raise Conflict(
            "cms.instance_busy",
            "Job {job} of this instance is under way; try again when it ends.",
            job=copy.busy_job_id,
        )
    return copy


def _validator(kind: str):
    def validate(actor: Actor, org: Organization, payload: dict) -> dict:
        reject_unknown(payload, {"instance_id"})
        inst = instance_of(org, require_int(payload, "instance_id", minimum=1, maximum=MAX_ID), FROM[kind])
        said = {"instance_id": inst.id, "fqdn": inst.fqdn}
        copy = staging_copy(inst) if kind == DELETE else None
        if copy is not None:  # the approver sees that the copy goes too
            said["staging_fqdn"] = copy.fqdn
        return said

    return validate


def _delete_copy(s: Session, copy: Instance, live: Instance) -> Job:
    """The staging copy's own delete job (no request's: the copy follows its own job)."""
    params = {"instance_id": copy.id, "previous": copy.status.value, "with_live": live.id}
    copy.move_to(S.DELETING)
    job = job_create(
        s,
        kind=DELETE,
        org_id=copy.org_id,
        host_ids=[copy.host_id],
        params=params,
        request_id=None,
        created_by_name="panel:cms",
    )
    copy.busy_job_id = job.id
    return job


def _starter(kind: str):
    def on_approve(actor: Actor, request: Request) -> list:
        s = db.session()
        inst = instance_of(s.get(Organization, request.org_id), request.payload["instance_id"], FROM[kind])
        params = {"instance_id": inst.id}
        copy = staging_copy(inst) if kind == DELETE else None
        if kind == DELETE:
            params["previous"] = inst.status.value  # where a failed delete job puts it back
            inst.move_to(S.DELETING)
        job = jobs.job_submit(
            actor, kind=kind, org_id=inst.org_id, host_ids=[inst.host_id], request_id=request.id, params=params
        )
        inst.busy_job_id = job.id
        return [job] if copy is None else [job, _delete_copy(s, copy, inst)]

    return on_approve


def host_of(s: Session, instance_id: int) -> int | None:
    inst = s.get(Instance, instance_id)
    return inst.host_id if inst else None


def _place(s: Session, org: Organization, payload: dict) -> int | None:
    return host_of(s, payload["instance_id"])


for _kind, _label, _policy in (
    (SUSPEND, N_("Suspend a WordPress site"), ApprovalMode.AUTO),
    (UNSUSPEND, N_("Unsuspend a WordPress site"), ApprovalMode.ONE),
    (DELETE, N_("Delete a WordPress site (archived)"), ApprovalMode.ONE),
):
    register(
        RequestKind(
            name=_kind,
            label=_label,
            who_may_request=MANAGER_ROLES,
            validate=_validator(_kind),
            place=_place,
            on_approve=_starter(_kind),
            describe=lambda p: f"{p['fqdn']} + {p['staging_fqdn']}" if p.get("staging_fqdn") else p["fqdn"],
            schema=InstanceIdPayload,
            default_policy=_policy,
        )
    )


# ---- the jobs --------------------------------------------------------------------------------------


def _instance(job: Job, session: Session) -> Instance:
    inst = session.get(Instance, job.params.get("instance_id"))
    if inst is None:
        raise ValueError("the job names no instance")
    return inst


def _site_entry(job: Job, session: Session, inst: Instance) -> dict:
    entry = providers.call("sites.app_entry", session, inst.site_id, job)
    if entry.get("app") != APP:
        raise ValueError(f"site {inst.fqdn} does not serve WordPress")
    return entry


def _state_build(job: Job, session: Session):
    inst = _instance(job, session)
    state = "suspended" if job.kind == SUSPEND else "active"
    entry = {**_site_entry(job, session, inst), "state": state}
    extra = {
        "govhost_sites": [entry],
        "wordpress_instance": {"fqdn": inst.fqdn, "user": entry["user"], "state": state},
    }
    return extra, {}, host_targets(job, session)


def _delete_build(job: Job, session: Session):
    inst = _instance(job, session)
    entry = _site_entry(job, session, inst)
    extra = {
        # the site stays (suspended if it was): from this run on it serves its own files, no WordPress
        "govhost_sites": [{**entry, "app": ""}],
        "wordpress_instance": {
            "fqdn": inst.fqdn,
            "user": entry["user"],
            "archive": f"wordpress-{inst.fqdn}-job{job.id}.tar.gz",
            # a failed install may have left no database to dump: what is there is archived
            "dump_required": job.params.get("previous") != S.FAILED.value,
        },
    }
    return extra, {}, host_targets(job, session)


def _done(job: Job, session: Session) -> Instance:
    inst = _instance(job, session)
    if inst.busy_job_id == job.id:
        inst.busy_job_id = None
    inst.last_error = ""
    return inst


def _moved(target: InstanceStatus):
    def hook(job: Job, session: Session, result: Result) -> None:
        inst = _done(job, session)
        inst.move_to(target)
        providers.call("sites.app_state", session, inst.site_id, app=APP, suspended=target == S.SUSPENDED)

    return hook


def _deleted(job: Job, session: Session, result: Result) -> None:
    inst = _done(job, session)
    inst.move_to(S.DELETED)
    inst.deleted_at = db.utcnow()
    inst.archive_path = str((result.data or {}).get("wordpress_archive") or "")[:400]
    providers.call("sites.app_release", inst.site_id, APP)
    apps.revoke_with_instance(session, inst.id)
    if inst.database_id is not None:
        dropped = providers.call(
            "databases.app_database_drop", session, inst.database_id, inst.db_user_id, by="panel:cms"
        )
        inst.last_error = dropped["left"]


def _failed(job: Job, session: Session, result: Result) -> None:
    inst = _instance(job, session)
    if inst.busy_job_id == job.id:
        inst.busy_job_id = None
    inst.last_error = (result.explanation or "the job failed")[:2000]
    if job.kind == DELETE and inst.status == S.DELETING:
        inst.move_to(InstanceStatus(job.params.get("previous") or S.ACTIVE.value))


for _kind, _playbook, _build, _hook, _what in (
    (SUSPEND, "cms_instance_state.yml", _state_build, _moved(S.SUSPENDED), N_("Suspend a WordPress site")),
    (UNSUSPEND, "cms_instance_state.yml", _state_build, _moved(S.ACTIVE), N_("Unsuspend a WordPress site")),
    (
        DELETE,
        "cms_instance_delete.yml",
        _delete_build,
        _deleted,
        N_("Delete a WordPress site (files and a database dump archived)"),
    ),
):
    register_job(Capability(_kind, _playbook, _build, on_success=_hook, on_failure=_failed, description=_what))
