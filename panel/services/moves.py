"""Moving an object of a capability (a site, a mail domain) to another host, as a chain of jobs.

A capability that moves objects registers a `Mover` (its manifest's `moves`): how to find and
place the object, its own copy / clean-up / undo job kinds (playbook and build only) and how to
switch its DNS records. The core owns the rest, the same for every capability:

1. `move_start` (the capability's audited service, for DC operators and admins) checks the new
   host through the mover and submits the copy job on both hosts; the old host is only read and
   keeps serving.
2. The copy job's success points the object's row at the new host and switches its records (the
   mover's `switch`); the job that sends them is remembered (`Move.dns_job_id`).
3. When that job succeeds, the clean-up job removes the object from the old host.

A failure before the DNS switch leaves the object on the old host and an undo job removes what the
new host got; a failed DNS switch points the records back the same way. Only a failed clean-up
leaves the old copy behind (the object is served by the new host) until the job is retried.
`host_drain` (panel.services.drain) moves every object a host holds through the same movers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db, events
from panel.errors import PanelError
from panel.jobs import capabilities as job_kinds
from panel.jobs.capabilities import Result  # the outcome a job hook reads (provisioners.base)
from panel.jobs.submit import job_create, usable_hosts
from panel.models.jobs import Job
from panel.models.moves import ENDED, Move, MoveStatus
from panel.models.tenants import Role
from panel.services import audit
from panel.services import hosts as hosts_svc
from panel.services import jobs as jobs_svc
from panel.services.actor import Actor, require_staff, require_write, system_actor
from panel.services.workloads import Placed

MS = MoveStatus


@dataclass(frozen=True)
class Mover:
    """What a capability gives for its objects of one kind; the core runs the move (see above).

    The object (`model` rows) has id, org_id, host_id and last_error; `busy` says it also has
    busy_job_id, which then follows the move's current job. Callables:
    get(actor, id) -> object the actor may see (another ministry's is not found);
    target(session, object, host_id or None) -> Host: refuses what cannot move now (state, busy
        host, no room) and picks the host (the operator's, checked as placement checks it);
    params(object) -> job params naming the object (the core adds move_id, and host_id on the
        follow-up jobs, which run on one host);
    switch(session, object, host_id) -> (job, refused): point its DNS records at the host; the job
        that sends them, or None with `refused` saying why the records cannot be sent now, or
        (None, "") when its names are in no zone hosted here (nothing to switch);
    copied(session, object, result) (optional): bookkeeping once the new host has it;
    done(session, object) (optional): what follows a finished move;
    start(actor, id) -> Move: the capability's audited move service, for host drains;
    on_host(session, host_id) -> [Placed] (optional): what of these objects the host holds, for
        host drains (without it a drain leaves them where they are)."""

    kind: str  # Move.kind, the polymorphic identity of `move_model`: "site"
    noun: str  # in English messages: "site", "domain"
    model: type
    move_model: type  # the capability's Move subclass (SiteMove)
    audit: str  # prefix of its audit actions: "site" -> site.move_failed, site.move_done
    object_type: str  # its audit object type: "site_move"
    name: Callable[[object], str]  # the object's name in audit summaries and drain reports
    copy: job_kinds.Capability  # on both hosts; playbook, build, timeout and description only
    cleanup: job_kinds.Capability  # on the old host
    undo: job_kinds.Capability  # on the new host
    get: Callable
    target: Callable
    params: Callable[[object], dict]
    switch: Callable
    start: Callable
    on_host: Callable[[Session, int], list[Placed]] | None = None
    copied: Callable | None = None
    done: Callable | None = None
    switch_job: str = "dns.records_apply"  # the kind of the job `switch` returns
    busy: bool = False


_MOVERS: dict[str, Mover] = {}
_BY_JOB: dict[str, Mover] = {}


def register(m: Mover) -> Mover:
    """Register the mover and its three job kinds, with the core's handlers."""
    _MOVERS[m.kind] = m
    job_kinds.register(dataclasses.replace(m.copy, on_success=_copied, on_failure=_copy_failed))
    job_kinds.register(dataclasses.replace(m.cleanup, on_success=_cleaned, on_failure=_cleanup_failed))
    job_kinds.register(dataclasses.replace(m.undo, on_success=_undone, on_failure=_undone))
    for cap in (m.copy, m.cleanup, m.undo):
        _BY_JOB[cap.kind] = m
    return m


def unregister(kind: str) -> None:
    m = _MOVERS.pop(kind, None)
    for cap in (m.copy, m.cleanup, m.undo) if m else ():
        job_kinds.unregister(cap.kind)
        _BY_JOB.pop(cap.kind, None)


def movers() -> list[Mover]:
    return sorted(_MOVERS.values(), key=lambda m: m.kind)


def get(kind: str) -> Mover:
    return _MOVERS[kind]


# ---- the operator's call -------------------------------------------------------------------------


def open_move(s: Session, move_model: type, object_id: int) -> Move | None:
    """The object's move that has not ended, if any (`move_model`: the capability's subclass)."""
    return s.scalars(
        select(move_model).where(move_model.object_id == object_id, move_model.status.not_in(ENDED))
    ).first()


def move_start(actor: Actor, kind: str, object_id, host_id=None) -> Move:
    """Move one object to another host (`host_id`, or the mover's choice); returns the move, whose
    copy job is queued once this commits. The capability's audited service calls this."""
    m = _MOVERS[kind]
    with db.unit_of_work() as s:
        obj = m.get(actor, object_id)  # another ministry's object is not found, as everywhere
        require_staff(actor)
        require_write(actor)
        target = m.target(s, obj, hosts_svc.host_id_given(host_id))
        move = m.move_model(
            object_id=obj.id, org_id=obj.org_id, from_host_id=obj.host_id, to_host_id=target.id,
            created_by_name=actor.username[:64],
        )  # fmt: skip
        s.add(move)
        s.flush()
        job = jobs_svc.job_submit(
            actor, kind=m.copy.kind, org_id=obj.org_id, host_ids=[obj.host_id, target.id],
            params={**m.params(obj), "move_id": move.id},
        )  # fmt: skip
        _at(m, obj, move, job)
        return move


def move_list(actor: Actor, kind: str, object_id) -> list[Move]:
    """The object's moves, newest first: data-center staff only (they name hosts, which ministries
    do not see); another ministry's object is not found."""
    m = _MOVERS[kind]
    with db.unit_of_work() as s:
        obj = m.get(actor, object_id)
        require_staff(actor, Role.OPERATOR, Role.ADMIN, Role.AUDITOR)
        model = m.move_model
        return list(s.scalars(select(model).where(model.object_id == obj.id).order_by(model.id.desc())))


# ---- the job chain -------------------------------------------------------------------------------


def _at(m: Mover, obj, move: Move, job: Job | None) -> None:
    """The move's current step is `job` (None: no job runs for it now)."""
    if job is not None:
        move.job_id = job.id
    if m.busy:
        obj.busy_job_id = job.id if job is not None else None


def _row(job: Job, session: Session) -> tuple[Mover, Move, object]:
    move = session.get(Move, job.params["move_id"])
    m = _MOVERS[move.kind]
    return m, move, session.get(m.model, move.object_id)


def _end(move: Move, status: MoveStatus, error: str = "") -> None:
    move.move_to(status)
    move.error, move.finished_at = error[:2000], db.utcnow()


def _panel_name(m: Mover) -> str:
    return f"panel:{m.copy.kind.partition('.')[0]}-move"  # "panel:sites-move"


def _panel(m: Mover) -> Actor:
    return system_actor("worker", _panel_name(m))


def _follow(session: Session, m: Mover, cap: job_kinds.Capability, obj, move: Move, host_id: int) -> Job | None:
    """A follow-up job of the move on one host; none if the host cannot be used now."""
    if not usable_hosts(session, [host_id]).ids:
        return None
    job = job_create(
        session, kind=cap.kind, org_id=obj.org_id, host_ids=[host_id],
        params={**m.params(obj), "move_id": move.id, "host_id": host_id}, created_by_name=_panel_name(m),
    )  # fmt: skip
    _at(m, obj, move, job)
    return job


def _undo(session: Session, m: Mover, obj, move: Move, why: str) -> None:
    """The move failed: the object stays on (or goes back to) the old host; the new one is cleared."""
    obj.host_id = move.from_host_id
    obj.last_error = f"Move failed: {why}"[:2000]
    _end(move, MS.FAILED, why)
    audit.append(
        _panel(m), f"{m.audit}.move_failed", object_type=m.object_type, object_id=move.id, org_id=obj.org_id,
        summary={m.noun: m.name(obj), "error": why[:300]},
    )  # fmt: skip
    if _follow(session, m, m.undo, obj, move, move.to_host_id) is None:
        _at(m, obj, move, None)


def _switch_back(session: Session, m: Mover, obj, move: Move) -> None:
    try:
        with session.begin_nested():
            m.switch(session, obj, move.from_host_id)
    except PanelError:
        pass  # the records stay as they are; the old host keeps its copy either way


def _copied(job: Job, session: Session, result: Result) -> None:
    """The new host serves the object: point the row and DNS at it; clean up once DNS has it."""
    m, move, obj = _row(job, session)
    obj.host_id, obj.last_error = move.to_host_id, ""
    if m.copied is not None:
        m.copied(session, obj, result)
    move.move_to(MS.SWITCHING)
    try:
        with session.begin_nested():
            dns_job, refused = m.switch(session, obj, move.to_host_id)
    except PanelError as e:
        _undo(session, m, obj, move, f"the DNS records could not be switched: {e.text()}")
        return
    if refused:  # hosted here, but its server takes no job now
        _switch_back(session, m, obj, move)
        _undo(session, m, obj, move, f"the DNS records could not be switched: {refused}")
        return
    if dns_job is not None:
        move.dns_job_id = dns_job.id
        _at(m, obj, move, dns_job)
        return
    _cleanup(session, m, obj, move)  # the names are in no zone hosted here: nothing to switch


def _cleanup(session: Session, m: Mover, obj, move: Move) -> None:
    move.move_to(MS.CLEANING)
    if _follow(session, m, m.cleanup, obj, move, move.from_host_id) is None:
        why = f"the old host cannot be used now: the {m.noun}'s copy there stays until it is removed by hand"
        _end(move, MS.FAILED, why)
        _at(m, obj, move, None)


def _copy_failed(job: Job, session: Session, result: Result) -> None:
    m, move, obj = _row(job, session)
    _undo(session, m, obj, move, result.explanation or "the move job failed")


@events.job_finished.connect
def _switched(job: Job, *, session: Session, result: Result, ok: bool, **_) -> None:
    """The DNS job of a move ended: remove the old copy, or point the records back and undo."""
    if job.kind not in {m.switch_job for m in _MOVERS.values()}:
        return
    for move in session.scalars(select(Move).where(Move.dns_job_id == job.id, Move.status == MS.SWITCHING)):
        m = _MOVERS.get(move.kind)
        if m is None:  # its capability is not enabled
            continue
        obj = session.get(m.model, move.object_id)
        if ok:
            _cleanup(session, m, obj, move)
            continue
        _switch_back(session, m, obj, move)
        why = result.explanation or "DNS job failed"
        _undo(session, m, obj, move, f"the DNS records could not be switched: {why}")


def _cleaned(job: Job, session: Session, result: Result) -> None:
    m, move, obj = _row(job, session)
    _at(m, obj, move, None)
    _end(move, MS.DONE)
    audit.append(
        _panel(m), f"{m.audit}.move_done", object_type=m.object_type, object_id=move.id, org_id=obj.org_id,
        summary={m.noun: m.name(obj), "from": move.from_host_id, "to": move.to_host_id},
    )  # fmt: skip
    if m.done is not None:
        m.done(session, obj)


def _cleanup_failed(job: Job, session: Session, result: Result) -> None:
    m, move, obj = _row(job, session)
    _at(m, obj, move, None)
    why = result.explanation or "the clean-up job failed"
    _end(move, MS.FAILED, f"The {m.noun} is served by its new host; removing it from the old one failed: {why}")


def _undone(job: Job, session: Session, result: Result) -> None:
    m, _move, obj = _row(job, session)
    if m.busy and obj.busy_job_id == job.id:
        obj.busy_job_id = None
