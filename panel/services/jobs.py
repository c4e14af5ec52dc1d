"""Jobs: submit (used by approvals and operators), list, watch, cancel, retry; all scoped.

Tenants see their own organization's jobs only (another ministry's job, or data-center work, does
not exist for them), with task names and outcomes; staff also see redacted output, parameters and
the traceback. Secrets are sealed on the row at submit and never leave it except to the worker.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass

from sqlalchemy import select

from panel import db, logs, security
from panel.boot import current as current_settings
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.jobs import capabilities, queue, runner, supervise
from panel.jobs.submit import check_hosts, job_create
from panel.models.jobs import FINISHED, RETRYABLE, Job, JobEvent, JobHost, JobStatus, Worker
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Organization, Role
from panel.services.actor import Actor, get_scoped, require_org_role, require_write, scoped
from panel.services.audit import audited
from panel.services.job_steps import step_of
from panel.services.pagination import Page, Window, paginate, window

MAX_PARAMS_BYTES = 256 * 1024
# Events a tenant is shown: what ran where and how it went (never raw output).
TENANT_EVENTS = (
    "playbook_on_play_start",
    "playbook_on_task_start",
    "runner_on_ok",
    "runner_on_failed",
    "runner_on_skipped",
    "runner_on_unreachable",
    "runner_on_async_failed",
    "playbook_on_stats",
)


# ---- submit ------------------------------------------------------------------------------------


def _check_actor(actor: Actor, org_id: int | None, request_id: int | None) -> None:
    require_write(actor)
    if actor.has_staff(Role.OPERATOR, Role.ADMIN):
        return
    if request_id is None or org_id is None:  # ministries start work only through their requests
        raise Forbidden("job.forbidden", "Jobs are started by approved requests or by data-center staff.")
    require_org_role(actor, org_id)


def _check_data(params, secrets) -> tuple[dict, dict]:
    if not isinstance(params, dict):
        raise Invalid("job.params_invalid", "Job parameters must be a mapping.", field="params")
    try:
        size = len(json.dumps(params, ensure_ascii=False))
    except (TypeError, ValueError):
        raise Invalid("job.params_invalid", "Job parameters must be plain data.", field="params") from None
    if size > MAX_PARAMS_BYTES:
        raise Invalid("job.params_too_large", "Job parameters are too large.", field="params")
    secrets = secrets or {}
    if not isinstance(secrets, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise Invalid("job.secrets_invalid", "Job secrets must map names to text.", field="secrets")
    return params, secrets


def _check_owner(s, org_id, request_id) -> None:
    if org_id is not None and s.get(Organization, org_id) is None:
        raise NotFound("organization.not_found", "Not found.", id=str(org_id))
    if request_id is not None:
        req = s.get(Request, request_id)
        if req is None or req.org_id != org_id:
            raise Invalid(
                "job.request_invalid", "The request does not belong to this organization.", field="request_id"
            )


@audited("job.submit", "job", exclude=("secrets",))
def job_submit(
    actor: Actor,
    *,
    kind: str,
    org_id: int | None,
    host_ids: list[int],
    params: dict,
    secrets: dict[str, str] | None = None,
    request_id: int | None = None,
) -> Job:
    """A pending job, queued once the surrounding transaction commits."""
    _check_actor(actor, org_id, request_id)
    capabilities.get(kind)  # an unknown kind is refused before anything else
    params, secrets = _check_data(params, secrets)
    with db.unit_of_work() as s:
        _check_owner(s, org_id, request_id)
        return job_create(
            s,
            kind=kind,
            org_id=org_id,
            request_id=request_id,
            host_ids=host_ids,
            params=params,
            sealed_secrets=security.seal(json.dumps(secrets)) if secrets else None,
            created_by_id=actor.user_id,
            created_by_name=actor.username,
            trace_id=(actor.request_id or logs.request_id.get())[:64],
        )


# ---- reading -----------------------------------------------------------------------------------


def job_list(actor: Actor, *, page: int = 1, per_page: int = 50, status: str | None = None) -> Page:
    stmt = _with_status(scoped(select(Job), actor, Job), status)
    with db.unit_of_work():
        return paginate(stmt.order_by(Job.id.desc()), page=page, per_page=per_page)


def _with_status(stmt, status: str | None):
    if not status:
        return stmt
    try:
        return stmt.where(Job.status == JobStatus(status))
    except ValueError:
        raise Invalid(
            "job.status_invalid", "Unknown job status {status}.", field="status", status=str(status)[:20]
        ) from None


_PUBLIC = (
    "id",
    "kind",
    "status",
    "org_id",
    "request_id",
    "created_by_name",
    "attempt",
    "retry_of_id",
    "explanation",
    "rc",
    "stats",
    "cancel_requested",
    "created_at",
    "started_at",
    "finished_at",
)
_STAFF = ("params", "traceback", "worker", "data")


def job_window(
    actor: Actor,
    *,
    per_page: int = 50,
    cursor: str | None = None,
    page: int | None = None,
    with_total: bool = False,
    status: str | None = None,
) -> Window:
    """job_list by cursor, newest first, its items as job_public makes them: one statement for the
    page's columns (staff's only for staff) and one for the hosts of all its jobs."""
    names = _PUBLIC + (_STAFF if actor.is_staff else ())
    stmt = _with_status(scoped(select(*(getattr(Job, c) for c in names)), actor, Job), status)
    win = window(
        stmt, [(Job.id, "id")], descending=True, per_page=per_page, cursor=cursor, page=page, with_total=with_total
    )
    hosts: dict[int, list[str]] = {}
    if win.items:
        links = select(JobHost.job_id, JobHost.host_name).where(JobHost.job_id.in_([r.id for r in win.items]))
        for job_id, host_name in db.session().execute(links.order_by(JobHost.job_id, JobHost.host_id)):
            hosts.setdefault(job_id, []).append(host_name)
    items = []
    for r in win.items:
        d = {
            "id": r.id,
            "kind": r.kind,
            "description": job_description(r.kind),
            "status": r.status.value,
            "org_id": r.org_id,
            "request_id": r.request_id,
            "hosts": hosts.get(r.id, []),
            "created_by": r.created_by_name,
            "attempt": r.attempt,
            "retry_of_id": r.retry_of_id,
            "explanation": r.explanation,
            "rc": r.rc,
            "stats": r.stats or {},
            "cancel_requested": r.cancel_requested,
            "created_at": _ts(r.created_at),
            "started_at": _ts(r.started_at),
            "finished_at": _ts(r.finished_at),
            "finished": r.status in FINISHED,
        }
        if actor.is_staff:
            d.update(params=r.params or {}, traceback=r.traceback, worker=r.worker, data=r.data or {})
        items.append(d)
    win.items = items
    return win


def job_get(actor: Actor, job_id: int) -> Job:
    with db.unit_of_work():
        return get_scoped(Job, job_id, actor, "job")


def _ts(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _pattern(text: str) -> re.Pattern:
    """A runner's explanation template ({job}, {host}) as a pattern with named groups."""
    pattern = re.escape(text).replace(r"\{job\}", r"(?P<job>\d+)").replace(r"\{host\}", r"(?P<host>.+?)")
    return re.compile(pattern + "$")


_WAITS = (("host_busy", _pattern(runner.WAIT_TEXT)), ("maintenance", _pattern(runner.MAINTENANCE_TEXT)))


def explanation_waiting(text: str) -> tuple[str, dict[str, str]] | None:
    """("host_busy", {job, host}) or ("maintenance", {host}) when a pending job's explanation says why
    it waits (the runner writes these in English, as the API shows them); None for anything else.
    The web translates these, and shows them as a wait, not as an error."""
    for name, pattern in _WAITS:
        m = pattern.match(text or "")
        if m:
            return name, m.groupdict()
    return None


@functools.cache
def _outcome_pattern(message: str) -> re.Pattern:
    """An N_() text with %(name)s fields as a pattern with named groups."""
    return re.compile(re.sub(r"%\\\((\w+)\\\)s", r"(?P<\1>.+?)", re.escape(message)) + "$")


def explanation_outcome(kind: str, text: str) -> tuple[str, dict[str, str]] | None:
    """(message, fields) when `text` is one of the outcomes job kind `kind` declares (Capability.
    outcomes), so the web can show it in the reader's language; None for anything else (a failure's
    own words, the host's or the playbook's, are shown as written)."""
    cap = capabilities.find(kind) if kind and text else None
    for message in cap.outcomes if cap else ():
        m = _outcome_pattern(message).match(text)
        if m:
            return message, m.groupdict()
    return None


def job_description(kind: str) -> str:
    """What a job kind does, in English for people (the web translates it); the kind if unknown."""
    cap = capabilities.find(kind)
    return (cap.description if cap else "") or kind


def job_public(actor: Actor, job: Job) -> dict:
    """What `actor` may see of a job, as plain data (the web page, the API and the CLI show this)."""
    d = {
        "id": job.id,
        "kind": job.kind,
        "description": job_description(job.kind),  # English for people; the web translates it
        "status": job.status.value,
        "org_id": job.org_id,
        "request_id": job.request_id,
        "hosts": [link.host_name for link in job.host_links],
        "created_by": job.created_by_name,
        "attempt": job.attempt,
        "retry_of_id": job.retry_of_id,
        "explanation": job.explanation,
        "rc": job.rc,
        "stats": job.stats or {},
        "cancel_requested": job.cancel_requested,
        "created_at": _ts(job.created_at),
        "started_at": _ts(job.started_at),
        "finished_at": _ts(job.finished_at),
        "finished": job.finished,
    }
    if actor.is_staff:
        d.update(params=job.params or {}, traceback=job.traceback, worker=job.worker, data=job.data or {})
    return d


@dataclass(frozen=True)
class Progress:
    job: dict  # job_public()
    events: list[dict]
    last_counter: int


def job_events(actor: Actor, job_id: int, after_counter: int = 0, limit: int = 500) -> Progress:
    """Events after `after_counter` (poll with the returned last_counter)."""
    if not isinstance(after_counter, int) or after_counter < 0:
        raise Invalid("job.after_invalid", "`after` is a non-negative event counter.", field="after")
    with db.unit_of_work() as s:
        job = get_scoped(Job, job_id, actor, "job")
        s.refresh(job)  # a poller's session may hold the row from before (the CLI that submitted it)
        stmt = select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.counter > after_counter)
        if not actor.is_staff:
            stmt = stmt.where(JobEvent.event.in_(TENANT_EVENTS))
        rows = list(s.scalars(stmt.order_by(JobEvent.counter).limit(min(max(1, limit), 1000))))
        events = [_event(actor, e) for e in rows]
        return Progress(job_public(actor, job), events, rows[-1].counter if rows else after_counter)


def _event(actor: Actor, e: JobEvent) -> dict:
    d = {
        "counter": e.counter,
        "event": e.event,
        "host": e.host,
        "task": e.task,
        "step": step_of(e.task),  # plain language, English: the surfaces translate it
        "status": e.status.value if e.status else None,
        "created_at": _ts(e.created_at),
    }
    if actor.is_staff:
        d["stdout"] = e.stdout
    return d


# ---- cancel and retry ------------------------------------------------------------------------------


def _require_manager(actor: Actor, job: Job) -> None:
    require_write(actor)
    if actor.has_staff(Role.OPERATOR, Role.ADMIN):
        return
    if job.org_id is None:
        raise NotFound("job.not_found", "Not found.", id=str(job.id))
    require_org_role(actor, job.org_id)


@audited("job.cancel", "job")
def job_cancel(actor: Actor, job_id: int) -> Job:
    """pending: canceled at once; running: the worker stops Ansible within about a second; running
    on a worker that is gone (exited, or its lease passed): canceled at once, as nobody else will."""
    with db.unit_of_work() as s:
        job = get_scoped(Job, job_id, actor, "job")
        _require_manager(actor, job)
        job = runner.locked(s, job.id)
        if job.status == JobStatus.PENDING:
            job.move_to(JobStatus.CANCELED)
            job.explanation = "The job was canceled before it started."
            runner.move_request(s, job, ok=False)
        elif job.status == JobStatus.RUNNING and supervise.worker_gone(s, job):
            explanation = f"The job was canceled; its worker ({job.worker}) was gone, so it may be partly done."
            runner.end_locked(s, job, JobStatus.CANCELED, explanation, "", capabilities.find(job.kind))
        elif job.status == JobStatus.RUNNING:
            job.cancel_requested = True
        else:
            raise Conflict(
                "job.not_active", "Job {id} has already finished ({status}).", id=job.id, status=job.status.value
            )
        return job


@audited("job.retry", "job")
def job_retry(actor: Actor, job_id: int) -> Job:
    """A new job with the same kind, hosts, parameters and secrets; its request goes
    failed -> retried -> provisioning."""
    with db.unit_of_work() as s:
        old = get_scoped(Job, job_id, actor, "job")
        _require_manager(actor, old)
        old = runner.locked(s, old.id)
        if old.status not in RETRYABLE:
            raise Conflict("job.not_retryable", "Only failed, errored or canceled jobs can be retried.")
        if s.scalar(select(Job.id).where(Job.retry_of_id == old.id)) is not None:
            raise Conflict("job.already_retried", "Job {id} was already retried.", id=old.id)
        check_hosts(s, old.host_ids, capabilities.get(old.kind))  # before the request moves
        _retry_request(s, old)
        return job_create(
            s,
            kind=old.kind,
            org_id=old.org_id,
            request_id=old.request_id,
            host_ids=old.host_ids,
            params=dict(old.params or {}),
            sealed_secrets=old.secrets,
            created_by_id=actor.user_id,
            created_by_name=actor.username,
            attempt=old.attempt + 1,
            retry_of_id=old.id,
        )


def _retry_request(s, job: Job) -> None:
    req = s.get(Request, job.request_id) if job.request_id else None
    if req is not None and req.status == RequestStatus.FAILED:
        req.move_to(RequestStatus.RETRIED)
        req.retries += 1
        req.move_to(RequestStatus.PROVISIONING)


# ---- the worker ----------------------------------------------------------------------------------


def job_run_here(actor: Actor, job_id: int) -> Job:
    """Run a pending job in this process and return it finished: for set-up commands that must wait
    for their jobs before any worker runs (the quick start). The queued copy is skipped later."""
    if not actor.has_staff(Role.ADMIN):
        raise Forbidden("auth.forbidden", "This needs one of the roles: {roles}.", roles=Role.ADMIN.value)
    runner.run_job(int(job_id), current_settings())
    with db.unit_of_work() as s:
        return s.get(Job, int(job_id))


def job_kinds() -> list[str]:
    return capabilities.kinds()


def worker_list(actor: Actor, *, limit: int = 200) -> list[dict]:
    """The worker registry, newest first (staff only): alive when its heartbeat is within a lease."""
    if not actor.is_staff:
        raise Forbidden("job.workers_forbidden", "Only data-center staff see the workers.")
    with db.unit_of_work() as s:
        now = db.now(s)
        lease = dt.timedelta(seconds=queue.settings().queue.lease_s)
        rows = s.scalars(select(Worker).order_by(Worker.started_at.desc()).limit(min(max(1, limit), 1000)))
        return [
            {
                "id": w.id,
                "hostname": w.hostname,
                "pid": w.pid,
                "version": w.version,
                "threads": w.threads,
                "started_at": _ts(w.started_at),
                "heartbeat_at": _ts(w.heartbeat_at),
                "stopping_at": _ts(w.stopping_at),
                "stopped_at": _ts(w.stopped_at),
                "drain_requested_at": _ts(w.drain_requested_at),
                "state": _worker_state(w, now, lease),
            }
            for w in rows
        ]


def _worker_state(w: Worker, now: dt.datetime, lease: dt.timedelta) -> str:
    if w.stopped_at:
        return "stopped"
    if now - w.heartbeat_at > lease:
        return "gone"
    return "stopping" if w.stopping_at else "draining" if w.drain_requested_at else "alive"


@audited("worker.drain", "worker")
def worker_drain(actor: Actor, worker_id: str, *, drain: bool = True) -> Worker:
    """Operators: a drained worker finishes the jobs it runs and takes no new ones (within one
    heartbeat, `queue.lease_s / 5`); `drain=False` lifts it. The process keeps running (stop it
    with systemctl, which drains too)."""
    require_write(actor)
    if not actor.has_staff(Role.OPERATOR, Role.ADMIN):
        raise Forbidden("job.workers_forbidden", "Only data-center operators drain workers.")
    with db.unit_of_work() as s:
        w = s.get(Worker, str(worker_id)[:128])
        if w is None or w.stopped_at is not None:
            raise NotFound("worker.not_found", "No running worker {id}.", id=str(worker_id)[:128])
        w.drain_requested_at = db.now(s) if drain else None
        return w


def jobs_deferred() -> list[int]:
    """Ids of jobs this thread saved while the queue was unreachable (they start when it is back)."""
    return queue.take_deferred()
