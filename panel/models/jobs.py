"""Background jobs: one row per playbook run, the hosts it targets, and every Ansible event.

A job is created `pending` in the same transaction as whatever asked for it (an approved request,
an operator's host.ping); a worker locks the row, moves it to `running` and commits before Ansible
starts, so exactly one worker ever runs it. Secrets travel sealed on the row and are never shown.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.db import Base, utcnow
from panel.models.state import StateMachine


class JobStatus(enum.StrEnum):
    PENDING = "pending"  # created, queued; no worker has claimed it yet
    RUNNING = "running"  # claimed by one worker (Job.worker); Ansible may be talking to hosts
    SUCCESSFUL = "successful"  # the playbook finished with every host ok (final)
    FAILED = "failed"  # the playbook failed or a host was unreachable; explanation says why (final)
    ERROR = "error"  # govhost itself broke (exception, dead worker); traceback for operators (final)
    CANCELED = "canceled"  # stopped on request before or while running (final)


J = JobStatus
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    J.PENDING: frozenset({J.RUNNING, J.CANCELED, J.ERROR}),
    # running -> pending: a stopping worker hands the job back (playbooks are idempotent; it reruns).
    J.RUNNING: frozenset({J.SUCCESSFUL, J.FAILED, J.ERROR, J.CANCELED, J.PENDING}),
    J.SUCCESSFUL: frozenset(),
    J.FAILED: frozenset(),
    J.ERROR: frozenset(),
    J.CANCELED: frozenset(),
}
ACTIVE = frozenset({J.PENDING, J.RUNNING})
FINISHED = frozenset({J.SUCCESSFUL, J.FAILED, J.ERROR, J.CANCELED})
RETRYABLE = frozenset({J.FAILED, J.ERROR, J.CANCELED})


class EventStatus(enum.StrEnum):
    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNREACHABLE = "unreachable"


class Job(StateMachine, Base):
    __tablename__ = "jobs"
    TRANSITIONS = TRANSITIONS
    STATE_KIND = "job"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        Index("ix_jobs_org_id_id", "org_id", "id"),
        Index("ix_jobs_finished_at", "finished_at"),  # /metrics reads what finished since its last scrape
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)  # a registered capability
    status: Mapped[JobStatus] = mapped_column(Enum(JobStatus, native_enum=False, length=12), default=JobStatus.PENDING)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))  # None: data-center work
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # what the capability needs; never secret
    secrets: Mapped[str | None] = mapped_column(Text)  # panel.security.seal(json); never shown or audited
    explanation: Mapped[str] = mapped_column(Text, default="")  # plain language, safe for the tenant
    traceback: Mapped[str] = mapped_column(Text, default="")  # operators only
    rc: Mapped[int | None]
    stats: Mapped[dict] = mapped_column(JSON, default=dict)  # per host: ok, changed, failed, ...
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # facts the playbook published (set_stats)
    worker: Mapped[str] = mapped_column(String(128), default="")  # Worker.id ("pid@hostname/tag") that claimed it
    # The request id (X-Request-ID) of the web request or command that submitted it: on the worker's
    # log lines and audit entries for the job, linking them to the web's lines and audit entries.
    trace_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # Outbox: the pending row is the message. When it was last handed to the queue and how often;
    # a worker's sweeper hands it again when it stays pending (the queue lost it or was down).
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(default=utcnow)
    enqueues: Mapped[int] = mapped_column(default=1)
    # Lease of a running job, renewed by its worker's heartbeat; once past, any live worker reaps it.
    lease_until: Mapped[dt.datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(default=False)  # seen by the running worker
    attempt: Mapped[int] = mapped_column(default=1)
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    host_links: Mapped[list[JobHost]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="JobHost.host_id"
    )

    @property
    def host_ids(self) -> list[int]:
        return [link.host_id for link in self.host_links]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def on_moved(self, old: JobStatus, new: JobStatus) -> None:
        now = utcnow()
        if new is J.RUNNING:
            self.started_at = now
        elif new is J.PENDING:
            self.started_at, self.worker, self.lease_until = None, "", None
        elif new in FINISHED:
            self.finished_at = now


class Worker(Base):
    """The worker registry: one row per `govhost worker` process on any machine, kept alive by its
    heartbeat (which also renews the leases of its running jobs)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # "pid@hostname/tag"
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    version: Mapped[str] = mapped_column(String(32), default="")
    threads: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stopping_at: Mapped[dt.datetime | None]  # SIGTERM/SIGINT received: draining, takes no new job
    drain_requested_at: Mapped[dt.datetime | None]  # an operator drained it: finishes its jobs, takes none
    stopped_at: Mapped[dt.datetime | None]  # exited cleanly


class JobHost(Base):
    __tablename__ = "job_hosts"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True, index=True)
    host_name: Mapped[str] = mapped_column(String(63), default="")  # kept for history if the host goes


class JobEvent(Base):
    """One Ansible event, redacted. Tenants see task, host and status; staff also see stdout."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_counter", "job_id", "counter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    counter: Mapped[int]
    event: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(63), default="")
    task: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[EventStatus | None] = mapped_column(Enum(EventStatus, native_enum=False, length=12))
    stdout: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
