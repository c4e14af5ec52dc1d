"""The one job constructor: host checks, the row, its host links, the queue after commit.

Everything that creates a Job goes through `job_create`: the services' job_submit and job_retry
(after their permission checks) and follow-up jobs a capability chains from a job's end. So a host
that is down or whose key changed never receives a job, whoever asks. `usable_hosts` is the query
every sweep uses to pick its hosts: a host that cannot be used is skipped and named, never an
error that stops the sweep for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from panel import db, logs
from panel.errors import Conflict, Invalid, NotFound
from panel.jobs import capabilities, queue
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job, JobHost, JobStatus

MAX_HOSTS = 100


def usable() -> ColumnElement[bool]:
    """WHERE clause: sweeps may use the host (not down or in maintenance, no unresolved host-key change)."""
    return Host.state.not_in((HostState.DOWN, HostState.MAINTENANCE)) & Host.key_mismatch_at.is_(None)


@dataclass(frozen=True)
class Usable:
    """The hosts a sweep may use, and the names of those it skips (for its report and the log)."""

    ids: list[int]
    skipped: list[str]


def usable_hosts(session: Session, host_ids) -> Usable:
    ids = sorted({h for h in host_ids if h is not None})
    if not ids:
        return Usable([], [])
    rows = session.execute(select(Host.id, Host.name, usable()).where(Host.id.in_(ids)).order_by(Host.id)).all()
    return Usable([i for i, _n, ok in rows if ok], [n for _i, n, ok in rows if not ok])


def check_hosts(session: Session, host_ids: Sequence[int], cap: capabilities.Capability) -> list[Host]:
    """The hosts, in the given order; refuses unknown ids and hosts a job must not reach."""
    host_ids = list(host_ids) if isinstance(host_ids, (list, tuple)) else None
    if host_ids is None:
        raise Invalid("job.hosts_invalid", "Give a list of host ids.", field="host_ids")
    ints = all(isinstance(h, int) and not isinstance(h, bool) for h in host_ids)
    if not ints or len(host_ids) > MAX_HOSTS or len(set(host_ids)) != len(host_ids):
        raise Invalid("job.hosts_invalid", "Give up to {max} distinct host ids.", field="host_ids", max=MAX_HOSTS)
    found = {h.id: h for h in session.scalars(select(Host).where(Host.id.in_(host_ids)))} if host_ids else {}
    missing = [h for h in host_ids if h not in found]
    if missing:
        raise NotFound("host.not_found", "No host {id}.", id=str(missing[0]))
    hosts = [found[h] for h in host_ids]
    for h in hosts:
        if h.key_mismatch_at is not None or (h.state == HostState.DOWN and not cap.allow_down_hosts):
            raise Conflict(
                "job.host_untrusted", "Host {host} is down or its host key changed; no job runs there.", host=h.name
            )
    return hosts


def job_create(
    session: Session,
    *,
    kind: str,
    host_ids: Sequence[int],
    params: dict,
    org_id: int | None = None,
    request_id: int | None = None,
    sealed_secrets: str | None = None,
    created_by_id: int | None = None,
    created_by_name: str = "",
    **fields,
) -> Job:
    """A pending job on checked hosts, queued once the surrounding unit of work commits."""
    cap = capabilities.get(kind)
    hosts = check_hosts(session, host_ids, cap)
    # The request id of the web request or command (or, for a follow-up job, of the job) behind it.
    fields.setdefault("trace_id", logs.request_id.get()[:64])
    job = Job(
        kind=kind,
        org_id=org_id,
        request_id=request_id,
        params=params,
        secrets=sealed_secrets,
        created_by_id=created_by_id,
        created_by_name=created_by_name,
        host_links=[JobHost(host_id=h.id, host_name=h.name) for h in hosts],
        **fields,
    )
    session.add(job)
    session.flush()
    prio = _fair_priority(session, org_id)
    db.on_commit(lambda job_id=job.id: queue.enqueue_after_commit(job_id, prio))
    return job


def pending_to_join(
    session: Session, *, kind: str, host_ids: Sequence[int], org_id: int | None, batch: str
) -> Job | None:
    """A pending job of `kind` that no worker has claimed yet, on exactly `host_ids`, for `org_id`
    (never another ministry's: a job is shown to its ministry), belonging to no request and marked
    `params["batch"] == batch` by whoever made it: locked for this transaction, so the caller may
    add its objects to it instead of submitting one more job (one playbook run for what was asked
    for close together). None when there is none: submit a new job.

    The claim (panel.jobs.runner.claim) locks the same row and moves it to running only while it is
    pending, so an object is added either before a worker reads the job or not at all."""
    stmt = (
        select(Job)
        .where(
            Job.kind == kind,
            Job.status == JobStatus.PENDING,
            Job.org_id.is_(None) if org_id is None else Job.org_id == org_id,
            Job.request_id.is_(None),
        )
        .order_by(Job.id.desc())
        .limit(5)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    want = list(host_ids)
    for job in session.scalars(stmt):
        if job.status == JobStatus.PENDING and job.host_ids == want and (job.params or {}).get("batch") == batch:
            return job
    return None


def _fair_priority(session: Session, org_id: int | None) -> int:
    """Minus the number of the ministry's jobs already pending (counted once per unit of work, then
    kept up to date in it): see queue.fair_priorities."""
    txn = session.get_transaction()
    cache = session.info.get("fair_pending")
    if cache is None or cache[0] is not txn:  # one count per transaction, never carried over
        cache = session.info["fair_pending"] = (txn, {})
    counts = cache[1]
    if org_id not in counts:
        same = Job.org_id.is_(None) if org_id is None else Job.org_id == org_id
        pending = session.scalar(select(func.count()).where(same, Job.status == JobStatus.PENDING)) or 1
        counts[org_id] = pending - 1  # this job is counted already (flushed)
    else:
        counts[org_id] += 1
    return -counts[org_id]
