"""Tenant databases, their users and the grants between them. Rows are desired state.

A row is created (status pending) when its request is approved and becomes active when the job that
put it on the DB host succeeded. Passwords are never stored here, not even hashed: the engine's
verifier (MariaDB's `*SHA1(SHA1())`, PostgreSQL's SCRAM-SHA-256) is computed when the request is
filed, travels sealed on the request and then the job, and lives only in the server's catalog.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.db import Base, utcnow
from panel.models.state import StateMachine


class Engine(enum.StrEnum):
    MARIADB = "mariadb"
    POSTGRESQL = "postgresql"


class Profile(enum.StrEnum):
    """What a user may do in one database (rules.PRIVILEGES maps each to the engine's privileges)."""

    OWNER = "owner"  # everything inside the database: tables, views, routines, data
    READ_WRITE = "readwrite"  # read and change data; no schema changes
    READ_ONLY = "readonly"  # read data only


class DbStatus(enum.StrEnum):
    PENDING = "pending"  # approved; the job has not put it on the host yet
    ACTIVE = "active"  # exists on the host as the catalog says
    FAILED = "failed"  # the create job failed; a retry moves it back to pending
    DELETING = "deleting"  # delete job submitted; back to active if it fails
    DELETED = "deleted"  # gone from the host; the row stays for history
    SUSPENDED = "suspended"  # frozen: kept on the host, no tenant connection (its own request, or the SOC's)


S = DbStatus
TRANSITIONS: dict[DbStatus, frozenset[DbStatus]] = {
    S.PENDING: frozenset({S.ACTIVE, S.FAILED}),
    S.FAILED: frozenset({S.PENDING, S.DELETED}),
    S.ACTIVE: frozenset({S.DELETING, S.PENDING, S.SUSPENDED}),  # pending again: re-applied (password, grants)
    S.DELETING: frozenset({S.DELETED, S.ACTIVE}),
    S.DELETED: frozenset(),
    S.SUSPENDED: frozenset({S.PENDING, S.ACTIVE}),  # pending: unsuspended; active: the freeze job failed
}
LIVE = (S.PENDING, S.ACTIVE, S.FAILED, S.DELETING, S.SUSPENDED)  # hold their name
ON_HOST = (S.PENDING, S.ACTIVE)  # what the host should have


def _live_unique(table: str, *cols: str) -> Index:
    """One live row per name; deleted rows stay for history and may share it. (Enum columns store
    the member's NAME, so the predicate says 'DELETED'.)"""
    return Index(
        f"uq_{table}_live_name",
        *cols,
        unique=True,
        sqlite_where=text("status != 'DELETED'"),
        postgresql_where=text("status != 'DELETED'"),
    )


class Database(StateMachine, Base):
    __tablename__ = "tenant_databases"
    TRANSITIONS = TRANSITIONS
    STATE_KIND = "database"
    __table_args__ = (
        _live_unique("tenant_databases", "engine", "name"),
        Index("ix_tenant_databases_org_id_id", "org_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"), index=True)
    engine: Mapped[Engine] = mapped_column(Enum(Engine, native_enum=False, length=12))
    name: Mapped[str] = mapped_column(String(64))  # the full name on the server, ministry prefix included
    status: Mapped[DbStatus] = mapped_column(Enum(DbStatus, native_enum=False, length=10), default=DbStatus.PENDING)
    size_mb: Mapped[int]  # the plan's size budget
    conn_limit: Mapped[int]  # connections per user of this database (MariaDB) / to it (PostgreSQL)
    used_mb: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[dt.datetime | None]
    warned_at: Mapped[dt.datetime | None]  # usage reached 90% of the budget (notified once)
    frozen_at: Mapped[dt.datetime | None]  # usage reached 100%: writes revoked until below 90%
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    deleted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DbUser(StateMachine, Base):
    """A login on one DB host (of one engine); its grants say which databases it reaches and how."""

    __tablename__ = "tenant_db_users"
    TRANSITIONS = TRANSITIONS
    STATE_KIND = "db_user"
    SAME_STATE_OK = True
    __table_args__ = (
        _live_unique("tenant_db_users", "engine", "name"),
        Index("ix_tenant_db_users_org_id_id", "org_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"), index=True)
    engine: Mapped[Engine] = mapped_column(Enum(Engine, native_enum=False, length=12))
    name: Mapped[str] = mapped_column(String(32))  # full name, ministry prefix included
    status: Mapped[DbStatus] = mapped_column(Enum(DbStatus, native_enum=False, length=10), default=DbStatus.PENDING)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    password_changed_at: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    deleted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    grants: Mapped[list[DbGrant]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, back_populates="user"
    )


class DbGrant(Base):
    """user may use database with profile. A row is desired state: the next job for the user applies it."""

    __tablename__ = "tenant_db_grants"
    __table_args__ = (UniqueConstraint("user_id", "database_id", name="user_database"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_db_users.id", ondelete="CASCADE"))
    database_id: Mapped[int] = mapped_column(ForeignKey("tenant_databases.id", ondelete="CASCADE"), index=True)
    profile: Mapped[Profile] = mapped_column(Enum(Profile, native_enum=False, length=10))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[DbUser] = relationship(back_populates="grants")
    database: Mapped[Database] = relationship(lazy="joined", innerjoin=True)


class DbLink(Base):
    """A workload of the same ministry (a site) that uses the database: the host it runs on may
    connect (panel.services.workloads resolves it; this package never imports the site's own)."""

    __tablename__ = "tenant_db_links"
    __table_args__ = (UniqueConstraint("database_id", "kind", "workload_id", name="database_workload"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    database_id: Mapped[int] = mapped_column(ForeignKey("tenant_databases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "site"
    workload_id: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AccessStatus(enum.StrEnum):
    ACTIVE = "active"  # approved; applied by the job it submitted, until it expires
    EXPIRED = "expired"  # its time ran out: the sweep took it off the server
    REVOKED = "revoked"  # ended before its expiry (its own request); the apply job took it off


A = AccessStatus
ACCESS_TRANSITIONS: dict[AccessStatus, frozenset[AccessStatus]] = {
    A.ACTIVE: frozenset({A.EXPIRED, A.REVOKED}),
    A.EXPIRED: frozenset(),
    A.REVOKED: frozenset(),
}


class DbRemoteAccess(StateMachine, Base):
    """Remote access to a database from a network (CIDR) outside the data center, with TLS required,
    for a stated reason, until it expires. Its own request kind, approved by the data center."""

    __tablename__ = "tenant_db_remote_access"
    TRANSITIONS = ACCESS_TRANSITIONS
    STATE_KIND = "db_remote_access"
    __table_args__ = (Index("ix_tenant_db_remote_access_status_expires", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    database_id: Mapped[int] = mapped_column(ForeignKey("tenant_databases.id", ondelete="CASCADE"), index=True)
    cidr: Mapped[str] = mapped_column(String(43))  # canonical network: 203.0.113.0/24, 2001:db8::/48
    reason: Mapped[str] = mapped_column(String(300))
    expires_at: Mapped[dt.datetime]
    status: Mapped[AccessStatus] = mapped_column(
        Enum(AccessStatus, native_enum=False, length=10), default=AccessStatus.ACTIVE
    )
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    ended_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ConsoleStatus(enum.StrEnum):
    PENDING = "pending"  # filed; its job has not made the login and the ticket yet
    OPEN = "open"  # the login and its single-use ticket are on the DB host until expires_at
    CLOSED = "closed"  # the sweep's job dropped the login and the ticket
    FAILED = "failed"  # the job could not make them (nothing to sign on with)


C = ConsoleStatus
CONSOLE_TRANSITIONS: dict[ConsoleStatus, frozenset[ConsoleStatus]] = {
    C.PENDING: frozenset({C.OPEN, C.FAILED, C.CLOSED}),  # closed: expired before its job ran
    C.OPEN: frozenset({C.CLOSED}),
    C.CLOSED: frozenset(),
    C.FAILED: frozenset({C.CLOSED}),  # the sweep drops what a failed job may have left half-made
}


class DbConsole(StateMachine, Base):
    """A web console session (phpMyAdmin for MariaDB, Adminer for PostgreSQL) for one DB user: a
    short-lived login with the user's grants, reachable from the DB host's own socket only, and a
    single-use ticket file the console's sign-on page trades for it. The ticket itself is handed
    back once and never stored; its SHA-256 names the file on the host. No password anywhere here."""

    __tablename__ = "tenant_db_consoles"
    TRANSITIONS = CONSOLE_TRANSITIONS
    STATE_KIND = "db_console"
    __table_args__ = (Index("ix_tenant_db_consoles_status_expires", "status", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_db_users.id", ondelete="CASCADE"), index=True)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))
    engine: Mapped[Engine] = mapped_column(Enum(Engine, native_enum=False, length=12))
    login: Mapped[str] = mapped_column(String(63))  # the temporary login's name on the server
    ticket_sha256: Mapped[str] = mapped_column(String(64))  # names the ticket file on the host
    status: Mapped[ConsoleStatus] = mapped_column(
        Enum(ConsoleStatus, native_enum=False, length=10), default=ConsoleStatus.PENDING
    )
    opened_by: Mapped[str] = mapped_column(String(150), default="")  # who asked (the audit entry has the rest)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))  # the open job
    close_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))  # the sweep's
    expires_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
