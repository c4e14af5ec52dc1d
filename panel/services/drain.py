"""Draining a host: move every object it holds to other hosts, each as its own move job.

The core knows no capability's objects. A capability that can move its objects registers a mover
(panel.services.moves; its manifest's `moves`) saying what of its objects a host holds and how to
move one (the same audited service its own surfaces call, which checks placement on the new host
and submits the move's jobs): websites and mail domains today. `host_drain` sets the host
`draining` (no new placement), asks each mover, and moves up to `limit` objects in ONE transaction
(no network I/O: the move jobs run after commit), so two objects never count the same free room on
a new host. An object that cannot move says why and stays. `dry_run` plans the same way and rolls
everything back (no move, no job, the host's state unchanged), so the plan an operator reads is the
one a real run makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from panel import db
from panel.errors import Invalid, NotFound, PanelError
from panel.models.hosts import Host, HostState
from panel.models.tenants import Role
from panel.services import audit, moves
from panel.services.actor import Actor, require_staff, require_write
from panel.services.hosts import host_update
from panel.services.workloads import Placed

MAX_LIMIT = 1000


@dataclass
class DrainItem:
    kind: str  # the mover's kind ("site", "mail_domain")
    id: int
    name: str
    to_host: str = ""  # where it goes (planned or submitted)
    move_id: int | None = None  # the capability's move (none on a dry run or a refusal)
    error: str = ""  # why it stays


@dataclass
class DrainReport:
    host_id: int
    host: str
    state: str  # the host's state after the call
    dry_run: bool
    items: list[DrainItem] = field(default_factory=list)
    left: int = 0  # objects beyond `limit`, for the next call

    @property
    def moving(self) -> int:
        return sum(1 for i in self.items if not i.error)


class _Rollback(Exception):
    pass


def _limit(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise Invalid("host.drain_limit", "limit is a whole number from 1 to {max}.", field="limit", max=MAX_LIMIT)
    return value


def host_drain(actor: Actor, host_id: int, *, dry_run: bool = False, limit: int = 200) -> DrainReport:
    """Drain host `host_id`: set it draining and move up to `limit` of its objects (see above)."""
    if not actor.is_staff:  # a ministry cannot tell whether a host exists
        raise NotFound("host.not_found", "No host {id}.", id=str(host_id))
    require_staff(actor, Role.OPERATOR, Role.ADMIN)
    if not isinstance(dry_run, bool):
        raise Invalid("host.drain_dry_run", "dry_run is true or false.", field="dry_run")
    if not dry_run:
        require_write(actor)
    limit = _limit(limit)
    report: DrainReport | None = None
    try:
        with db.unit_of_work() as s:
            host = s.get(Host, host_id) if isinstance(host_id, int) and not isinstance(host_id, bool) else None
            if host is None:
                raise NotFound("host.not_found", "No host {id}.", id=str(host_id)[:32])
            if host.state == HostState.ACTIVE:
                host_update(actor, host.id, state=HostState.DRAINING.value)
            report = DrainReport(host.id, host.name, host.state.value, dry_run)
            budget = limit
            for mover in moves.movers():
                for p in mover.on_host(s, host.id) if mover.on_host else ():
                    if budget == 0:
                        report.left += 1
                        continue
                    budget -= 1
                    report.items.append(_move_one(actor, s, mover, p))
            if not dry_run:
                audit.append(
                    actor,
                    "host.drain",
                    object_type="host",
                    object_id=host.id,
                    summary={
                        "moving": report.moving,
                        "stay": len(report.items) - report.moving,
                        "left": report.left,
                    },
                )
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return report


def _move_one(actor: Actor, s, mover: moves.Mover, p: Placed) -> DrainItem:
    item = DrainItem(mover.kind, p.id, p.name)
    try:
        with s.begin_nested():
            move = mover.start(actor, p.id)
            item.move_id, item.to_host = move.id, s.get(Host, move.to_host_id).name
    except PanelError as e:
        item.error = e.text()
    return item
