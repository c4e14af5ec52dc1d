"""Requests: what a ministry (or the data center) asks for, its approvals, comments and status.

A request moves only along TRANSITIONS (`Request.move_to`); any other move raises InvalidTransition.
Code that must react to every move (notifications, a capability publishing DNS records) connects to
events.request_moved, so the job runner, which only sees models, can finish a request without
knowing about services or capabilities.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel import events
from panel.db import Base, utcnow
from panel.models.state import StateMachine


class RequestStatus(enum.StrEnum):
    DRAFT = "draft"  # being written by the requester; holds nothing, nobody is asked yet
    SUBMITTED = "submitted"  # waiting for the approvals its policy needs; budget checked, not held
    APPROVED = "approved"  # granted: the budget is held from here on; work is about to start
    REJECTED = "rejected"  # refused by an approver (final); holds nothing
    CANCELLED = "cancelled"  # withdrawn, or given up after a failure (final); holds what it made that lives
    PROVISIONING = "provisioning"  # its job(s) run on the target host
    DONE = "done"  # the work is in place (final); the budget stays held until the object is deleted
    FAILED = "failed"  # the job failed; still holds its budget so a retry is never refused for it
    RETRIED = "retried"  # a retry was asked; new job(s) are submitted at once


S = RequestStatus
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.APPROVED, S.REJECTED, S.CANCELLED}),
    # APPROVED -> DONE: kinds without a job (quota.change) are complete when approved.
    S.APPROVED: frozenset({S.PROVISIONING, S.DONE}),
    S.PROVISIONING: frozenset({S.DONE, S.FAILED}),
    # FAILED -> CANCELLED: give up; the budget of what was not made is free (services.quotas.quota_keep).
    S.FAILED: frozenset({S.RETRIED, S.CANCELLED}),
    S.RETRIED: frozenset({S.PROVISIONING}),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.DONE: frozenset(),
}
FINAL = frozenset({S.REJECTED, S.CANCELLED, S.DONE})
# While a request is in one of these (and its quota rows are not released) it draws on the budget.
# A cancel releases at once what the request did not make (quota_keep): all of a draft or submitted
# request's rows; of a failed one, all but what its live objects hold.
HOLDING = frozenset({S.APPROVED, S.PROVISIONING, S.DONE, S.FAILED, S.RETRIED, S.CANCELLED})


class ApprovalMode(enum.StrEnum):
    AUTO = "auto"  # approved at submission when within budget
    ONE = "one"  # one approval by a data-center operator or admin
    TWO = "two"  # two approvals by two different people (four-eyes)


APPROVALS_NEEDED = {ApprovalMode.AUTO: 0, ApprovalMode.ONE: 1, ApprovalMode.TWO: 2}


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Request(StateMachine, Base):
    __tablename__ = "requests"
    TRANSITIONS = TRANSITIONS
    STATE_KIND = "request"
    __table_args__ = (
        Index("ix_requests_status_id", "status", "id"),
        Index("ix_requests_org_id_id", "org_id", "id"),
        Index("ix_requests_finished_at", "finished_at"),  # /metrics reads what finished since its last scrape
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    requester_name: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[RequestStatus] = mapped_column(
        Enum(RequestStatus, native_enum=False, length=20), default=RequestStatus.DRAFT
    )
    summary: Mapped[str] = mapped_column(String(300), default="")
    payload: Mapped[dict] = mapped_column(JSON, default=dict)  # validated by the kind; never secret
    secrets: Mapped[str | None] = mapped_column(Text)  # panel.security.seal(json); never shown or audited
    target_host_id: Mapped[int | None] = mapped_column(  # the placement result
        ForeignKey("hosts.id", ondelete="SET NULL"), index=True
    )
    approvals_needed: Mapped[int] = mapped_column(default=1)  # the policy when it was submitted
    retries: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    approvals: Mapped[list[RequestApproval]] = relationship(
        lazy="selectin", order_by="RequestApproval.id", cascade="all, delete-orphan"
    )
    comments: Mapped[list[RequestComment]] = relationship(
        lazy="selectin", order_by="RequestComment.id", cascade="all, delete-orphan"
    )

    def on_moved(self, old: RequestStatus, new: RequestStatus) -> None:
        now = utcnow()
        self.updated_at = now
        if new is S.SUBMITTED:
            self.submitted_at = now
        elif new in (S.APPROVED, S.REJECTED):
            self.decided_at = now
        elif new in (S.DONE, S.FAILED, S.CANCELLED):
            self.finished_at = now
        events.request_moved.send(self, old=old, new=new)

    @property
    def approvers(self) -> set[int | None]:
        return {a.approver_id for a in self.approvals if a.decision == Decision.APPROVE}


class RequestApproval(Base):
    """One decision by one person; a person decides once per request (the four-eyes rule)."""

    __tablename__ = "request_approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver_id", name="one_per_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approver_name: Mapped[str] = mapped_column(String(64))  # "policy:auto" for automatic approvals
    decision: Mapped[Decision] = mapped_column(Enum(Decision, native_enum=False, length=10))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequestComment(Base):
    __tablename__ = "request_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApprovalPolicy(Base):
    """The approval mode of one request kind, set by data-center admins (else the kind's default)."""

    __tablename__ = "approval_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), unique=True)
    mode: Mapped[ApprovalMode] = mapped_column(Enum(ApprovalMode, native_enum=False, length=10))
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
