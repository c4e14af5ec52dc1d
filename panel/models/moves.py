"""Moves: one object of a capability (a site, a mail domain) going from one host to another.

One table for every capability that moves objects (panel.services.moves runs them). A capability
maps its own subclass (single-table inheritance, `kind` its identity: `SiteMove` is kind "site") so
its queries see only its rows and the moved object's id reads under its own name (`site_id`).
The object row's host_id changes only once the new host serves it; until DNS is switched the old
host keeps it.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from panel.db import Base, utcnow
from panel.models.state import StateMachine


class MoveStatus(enum.StrEnum):
    COPYING = "copying"  # the move job sets the object up on the new host (the old one is only read)
    SWITCHING = "switching"  # the new host serves it; its DNS records are being switched
    CLEANING = "cleaning"  # DNS points at the new host; the object is being removed from the old one
    DONE = "done"
    FAILED = "failed"  # a step failed: the object is served by the old host (see error), or by the new
    # one with the old copy left behind when only the clean-up failed


MS = MoveStatus
MOVE_TRANSITIONS: dict[MoveStatus, frozenset[MoveStatus]] = {
    MS.COPYING: frozenset({MS.SWITCHING, MS.FAILED}),
    MS.SWITCHING: frozenset({MS.CLEANING, MS.FAILED}),
    MS.CLEANING: frozenset({MS.DONE, MS.FAILED}),
    MS.FAILED: frozenset({MS.DONE}),  # its failed clean-up job retried to success
    MS.DONE: frozenset(),
}
ENDED = (MS.DONE, MS.FAILED)
LEAVING = (MS.COPYING, MS.SWITCHING, MS.CLEANING)  # the old host still holds the object


class Move(StateMachine, Base):
    """One move (see the module). `kind` says whose object `object_id` is; a capability's subclass
    sets it as its polymorphic identity."""

    TRANSITIONS = MOVE_TRANSITIONS
    STATE_KIND = "move"
    __tablename__ = "moves"
    __table_args__ = (Index("ix_moves_kind_object_id", "kind", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # "site", "mail_domain"
    object_id: Mapped[int]  # no foreign key: the object's table is the capability's
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    from_host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    to_host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    status: Mapped[MoveStatus] = mapped_column(
        Enum(MoveStatus, native_enum=False, length=12), default=MoveStatus.COPYING
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))  # the step's job
    dns_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]

    __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "move"}

    @property
    def open(self) -> bool:
        return self.status not in ENDED
