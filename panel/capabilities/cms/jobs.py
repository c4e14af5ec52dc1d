"""The install job of WordPress instances, chained from the end of its database's job.

`cms.instance_install` runs on the site's web host: the site's vhost and pool rendered for
WordPress (the sites roles, with the site's entry from `sites.app_entry`), the per-site config
(readable only by the site's user), wp-content, the non-interactive install, the WP-cron timer.
The database password, the salts and the admin's one-time password travel only as job secrets.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import events, security
from panel.capabilities.cms import APP
from panel.capabilities.cms.catalogue import CatalogueItem, verify_stored
from panel.capabilities.cms.models import Instance, InstanceItem, InstanceStatus, ItemState
from panel.jobs.capabilities import Capability, host_targets, job_secrets, register
from panel.jobs.submit import job_create, usable_hosts
from panel.models.jobs import Job
from panel.models.requests import Request, RequestStatus
from panel.services import providers, requests
from provisioners.base import Result


def N_(text: str) -> str:
    return text


INSTALL = "cms.instance_install"
DB_JOB = "databases.apply"
BATCH_MAX = 50  # instances one install job carries at most (their databases came in one job too)


def _ids(job: Job) -> list[int]:
    ids = job.params.get("instance_ids")
    if ids is None and job.params.get("instance_id") is not None:  # a job queued before batching
        ids = [job.params["instance_id"]]
    return [i for i in ids or [] if isinstance(i, int)]


def _instances(job: Job, session: Session) -> list[Instance]:
    ids = _ids(job)
    rows = {i.id: i for i in session.scalars(select(Instance).where(Instance.id.in_(ids)))} if ids else {}
    if not rows or len(rows) != len(ids):
        raise ValueError("the job names no instance, or one that is gone")
    return [rows[i] for i in ids]


def _build(job: Job, session: Session):
    """One playbook run for every instance of the job (all on its one web host): the shared steps
    (WordPress's code checked, govhost's scripts) once, then each site's files, config, install and
    cron in one module call, then one pool and one vhost step over all the sites."""
    sealed = job_secrets(job)
    entries, sites, secrets = [], [], {}
    for inst in _instances(job, session):
        entry = providers.call("sites.app_entry", session, inst.site_id, job)
        if entry.get("app") != APP:
            raise ValueError(f"site {inst.fqdn} does not serve WordPress")
        mine = sealed.get(str(inst.id)) or {}
        if not mine:
            raise ValueError(f"the job has no secrets for {inst.fqdn}")
        https = entry.get("tls") in ("acme", "custom")
        entries.append(entry)
        site = {
            "id": inst.id,
            "fqdn": inst.fqdn,
            "user": entry["user"],
            "url": f"{'https' if https else 'http'}://{inst.fqdn}",
            "db_name": inst.db_name,
            "db_user": inst.db_user or inst.db_name,
            "title": inst.title,
            "admin_user": inst.admin_user,
            "admin_email": inst.admin_email,
            "language": "" if inst.language == "en" else inst.language,
        }
        if inst.staging_of_id is not None:  # a staging copy: the live site's files and database, copied
            site["clone_from"] = _clone_source(session, job, inst.staging_of_id)
        elif inst.language != "en":  # its language pack, chosen at the approval, unpacked before the install
            site["language_pack"] = _language_pack(session, inst)
        sites.append(site)
        secrets[str(inst.id)] = {
            "db_password": mine["db_password"],
            "db_host": mine["db_address"],
            "admin_password": mine.get("admin_password", ""),  # a copy: its own administrator (cms.staging)
            "salts": mine["salts"],
        }
    extra = {"govhost_sites": entries, "wordpress_sites": sites}
    return extra, {"wordpress_secrets": json.dumps(secrets)}, host_targets(job, session)


def _language_row(session: Session, inst: Instance) -> InstanceItem | None:
    return session.scalars(
        select(InstanceItem).where(InstanceItem.instance_id == inst.id, InstanceItem.kind == "language")
    ).first()


def _language_pack(session: Session, inst: Instance) -> dict:
    """The catalogue's zip of the instance's language (its sha256 checked here and on the host)."""
    row = _language_row(session, inst)
    item = session.get(CatalogueItem, row.item_id) if row is not None and row.item_id else None
    if item is None or item.slug != inst.language:
        raise ValueError(f"no language pack for {inst.language} was chosen for {inst.fqdn}")
    return {"slug": item.slug, "version": item.version, "sha256": item.sha256, "zip": str(verify_stored(item))}


def _clone_source(session: Session, job: Job, live_id: int) -> dict:
    live = session.get(Instance, live_id)
    if live is None or live.status != InstanceStatus.ACTIVE or live.host_id != job.host_ids[0]:
        raise ValueError("the live instance of this staging copy is not active on this host")
    entry = providers.call("sites.app_entry", session, live.site_id, job)
    https = entry.get("tls") in ("acme", "custom")
    return {"fqdn": live.fqdn, "user": entry["user"], "url": f"{'https' if https else 'http'}://{live.fqdn}"}


def _request(session: Session, inst: Instance) -> Request | None:
    return session.get(Request, inst.request_id) if inst.request_id else None


def _move(session: Session, job: Job, inst: Instance, target: RequestStatus) -> None:
    """The instance's request follows its own result (the core moves only the job's request)."""
    req = _request(session, inst)
    if req is not None and req.id != job.request_id and req.can_move_to(target):
        req.move_to(target)


def _results(result: Result) -> dict:
    got = (result.data or {}).get("wordpress_results")
    return got if isinstance(got, dict) else {}


def _installed(job: Job, session: Session, result: Result) -> None:
    results = _results(result)
    for inst in _instances(job, session):
        said = results.get(str(inst.id)) or {}
        if said.get("version"):
            _installed_one(session, job, inst, said)
        else:
            _one_failed(session, job, inst, said.get("error") or "the install said nothing of this site")


def _installed_one(session: Session, job: Job, inst: Instance, said: dict) -> None:
    if inst.status == InstanceStatus.PENDING:
        inst.move_to(InstanceStatus.ACTIVE)
    inst.wp_version = str(said["version"])[:20]
    inst.last_error = ""
    row = _language_row(session, inst) if inst.language != "en" and inst.staging_of_id is None else None
    if row is not None:  # the install unpacked it and set the site's language
        item = session.get(CatalogueItem, row.item_id) if row.item_id else None
        row.state, row.active, row.job_id, row.last_error = ItemState.INSTALLED, True, job.id, ""
        row.version = item.version if item is not None else ""
    req = _request(session, inst)
    if req is not None:
        req.secrets = None  # the one-time password, the DB password and the salts are on the host only
    _move(session, job, inst, RequestStatus.DONE)


def fail(session: Session, inst: Instance, why: str) -> None:
    if inst.status == InstanceStatus.PENDING:
        inst.move_to(InstanceStatus.FAILED)
    inst.last_error = (why or "the job failed")[:2000]


def _one_failed(session: Session, job: Job, inst: Instance, why: str) -> None:
    fail(session, inst, why)
    _move(session, job, inst, RequestStatus.FAILED)


def _install_failed(job: Job, session: Session, result: Result) -> None:
    """In a batch, a site the module installed is active all the same (the run failed on another
    site, after); the others fail with their own error, else the run's explanation. A one-instance
    job is its request's: the core fails that request, so its instance fails too."""
    results = _results(result)
    for inst in _instances(job, session):
        said = results.get(str(inst.id)) or {}
        if said.get("version") and job.request_id is None:
            _installed_one(session, job, inst, said)
        else:
            _one_failed(session, job, inst, said.get("error") or result.explanation)


register(
    Capability(
        INSTALL,
        "cms_instance.yml",
        _build,
        on_success=_installed,
        on_failure=_install_failed,
        timeout_s=600,
        description=N_("Install WordPress on a site"),
    )
)


@events.job_finished.connect
def _database_ready(job: Job, *, session: Session, result: Result, ok: bool, **_) -> None:
    """The instances' database job ended (one job for the databases of several instances approved
    close together): their install, one job per web host; else the instances and their requests fail."""
    if job.kind != DB_JOB:
        return
    waiting = session.scalars(
        select(Instance)
        .where(Instance.db_job_id == job.id, Instance.status == InstanceStatus.PENDING)
        .order_by(Instance.id)
    ).all()
    ready: dict[int | None, list[tuple[Instance, Request]]] = {}
    for inst in waiting:
        req = _request(session, inst)
        if not ok or req is None or not req.secrets:
            why = result.explanation if not ok else "the request's secrets are gone"
            _failed_before_install(session, inst, req, why)
        else:
            ready.setdefault(inst.host_id, []).append((inst, req))
    for pairs in ready.values():
        for i in range(0, len(pairs), BATCH_MAX):
            chunk = pairs[i : i + BATCH_MAX]
            if submit_install(session, chunk) is None:
                for inst, req in chunk:
                    why = "the site's web host cannot be used (down, maintenance or changed key)"
                    _failed_before_install(session, inst, req, why)


def _failed_before_install(session: Session, inst: Instance, req: Request | None, why: str) -> None:
    fail(session, inst, why)
    if req is not None and req.can_move_to(RequestStatus.FAILED):
        req.move_to(RequestStatus.FAILED)


def submit_install(session: Session, pairs: list[tuple[Instance, Request]]) -> Job | None:
    """One install job for pending instances of one web host, with each request's sealed secrets
    (admin password, DB password and address, salts) under the instance's id; the job is the
    request's when it carries one instance, else no request's (each request follows its own
    instance's result). None when the host cannot be used."""
    host_id = pairs[0][0].host_id
    if not usable_hosts(session, [host_id]).ids:
        return None
    sealed = {str(inst.id): requests.request_secrets(req) for inst, req in pairs}
    return job_create(
        session,
        kind=INSTALL,
        org_id=pairs[0][0].org_id,
        host_ids=[host_id],
        params={"instance_ids": [inst.id for inst, _ in pairs]},
        request_id=pairs[0][1].id if len(pairs) == 1 else None,
        sealed_secrets=security.seal(json.dumps(sealed)),
        created_by_name="panel:cms",
    )
