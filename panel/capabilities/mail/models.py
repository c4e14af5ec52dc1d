"""Mail: domains a ministry receives mail for, mailboxes, aliases. Rows are desired state.

A row is created (status pending) when its request is approved and becomes active when the job
that put it on the mail host succeeded. Passwords are never stored here, not even hashed: the
hash travels sealed on the job and lives only in dovecot's users file on the host.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from panel.db import Base, utcnow
from panel.models.moves import Move
from panel.models.state import StateMachine


class MailDomainStatus(enum.StrEnum):
    PENDING = "pending"  # approved; the mail_domain job has not finished yet
    ACTIVE = "active"  # the host accepts mail for it and signs with its DKIM key
    FAILED = "failed"  # the job failed; a retry moves it back to pending
    DELETING = "deleting"  # clean-up job submitted; the row goes when it succeeds (name free)


class SuspendPolicy(enum.StrEnum):
    DEFER = "defer"  # mail for a suspended mailbox waits in the sender's queue (450)
    REJECT = "reject"  # mail for a suspended mailbox is refused at once (550)


class MailboxStatus(enum.StrEnum):
    PENDING = "pending"  # approved; the batch job has not put it on the host yet
    ACTIVE = "active"  # logs in and receives mail
    SUSPENDED = "suspended"  # no login; mail deferred or rejected by the domain's policy
    FAILED = "failed"  # the create job failed
    DELETING = "deleting"  # delete job submitted; back to its previous state if the job fails
    DELETED = "deleted"  # gone from the host; its maildir is archived there for mail.archive_days


D = MailDomainStatus
DOMAIN_TRANSITIONS: dict[MailDomainStatus, frozenset[MailDomainStatus]] = {
    D.PENDING: frozenset({D.ACTIVE, D.FAILED}),
    D.FAILED: frozenset({D.PENDING, D.DELETING}),
    D.ACTIVE: frozenset({D.DELETING, D.PENDING}),  # pending again: re-applied (retry, repair)
    D.DELETING: frozenset({D.ACTIVE, D.FAILED}),  # a failed delete leaves it as it was
}
M = MailboxStatus
MAILBOX_TRANSITIONS: dict[MailboxStatus, frozenset[MailboxStatus]] = {
    M.PENDING: frozenset({M.ACTIVE, M.FAILED}),
    M.FAILED: frozenset({M.PENDING, M.DELETING, M.DELETED}),
    M.ACTIVE: frozenset({M.SUSPENDED, M.DELETING}),
    M.SUSPENDED: frozenset({M.ACTIVE, M.DELETING}),
    M.DELETING: frozenset({M.DELETED, M.ACTIVE, M.SUSPENDED, M.FAILED}),
    M.DELETED: frozenset(),
}


class AliasStatus(enum.StrEnum):
    PENDING = "pending"  # approved; not on the host yet
    ACTIVE = "active"  # delivers
    DELETING = "deleting"  # delete job submitted; the row goes when it succeeds


A = AliasStatus
ALIAS_TRANSITIONS: dict[AliasStatus, frozenset[AliasStatus]] = {
    A.PENDING: frozenset({A.ACTIVE, A.DELETING}),
    A.ACTIVE: frozenset({A.PENDING, A.DELETING}),  # pending again: new destinations to apply
    A.DELETING: frozenset({A.ACTIVE}),  # a failed delete leaves it delivering
}
LIVE = frozenset({M.PENDING, M.ACTIVE, M.SUSPENDED, M.FAILED, M.DELETING})  # occupy their address


class MailDomain(StateMachine, Base):
    __tablename__ = "mail_domains"
    TRANSITIONS = DOMAIN_TRANSITIONS
    STATE_KIND = "mail_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)  # lower-case ASCII (IDNA) form
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"), index=True)
    status: Mapped[MailDomainStatus] = mapped_column(
        Enum(MailDomainStatus, native_enum=False, length=10), default=MailDomainStatus.PENDING
    )
    dkim_selector: Mapped[str] = mapped_column(String(63))
    dkim_public_key: Mapped[str] = mapped_column(Text, default="")  # base64 SubjectPublicKeyInfo; public
    external_forwarding: Mapped[bool] = mapped_column(default=False)  # the ministry's policy
    on_suspend: Mapped[SuspendPolicy] = mapped_column(
        Enum(SuspendPolicy, native_enum=False, length=10), default=SuspendPolicy.DEFER
    )
    default_quota_mb: Mapped[int] = mapped_column(default=1024)  # the plan's mailbox size
    dns_status: Mapped[dict] = mapped_column(JSON, default=dict)  # record -> "ok" | "missing" | "wrong"
    dns_checked_at: Mapped[dt.datetime | None]
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Mailbox(StateMachine, Base):
    __tablename__ = "mailboxes"
    TRANSITIONS = MAILBOX_TRANSITIONS
    STATE_KIND = "mailbox"
    # One live mailbox per address; deleted rows stay for history and may share it.
    __table_args__ = (
        Index(
            "uq_mailboxes_live_address",
            "domain_id",
            "local_part",
            unique=True,
            sqlite_where=text("status != 'DELETED'"),  # the enum's stored name
            postgresql_where=text("status != 'DELETED'"),
        ),
        Index("ix_mailboxes_org_id_id", "org_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("mail_domains.id", ondelete="CASCADE"))
    local_part: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    quota_mb: Mapped[int]
    used_mb: Mapped[int] = mapped_column(default=0)  # last reading from the host
    used_at: Mapped[dt.datetime | None]
    status: Mapped[MailboxStatus] = mapped_column(
        Enum(MailboxStatus, native_enum=False, length=10), default=MailboxStatus.PENDING
    )
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    password_changed_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    domain: Mapped[MailDomain] = relationship(lazy="joined", innerjoin=True)

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"


class MailAlias(StateMachine, Base):
    """source@domain delivers to each destination (mailboxes here, or outside where allowed)."""

    __tablename__ = "mail_aliases"
    TRANSITIONS = ALIAS_TRANSITIONS
    STATE_KIND = "mail_alias"
    SAME_STATE_OK = True  # a batch re-applies aliases that are already where it puts them
    __table_args__ = (UniqueConstraint("domain_id", "source", name="domain_source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("mail_domains.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(64))  # the local part
    destinations: Mapped[list] = mapped_column(JSON, default=list)  # full addresses
    status: Mapped[AliasStatus] = mapped_column(
        Enum(AliasStatus, native_enum=False, length=10), default=AliasStatus.PENDING
    )
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    domain: Mapped[MailDomain] = relationship(lazy="joined", innerjoin=True)

    @property
    def address(self) -> str:
        return f"{self.source}@{self.domain.name}"


class MailMove(Move):
    """One move of a mail domain (its mailboxes, aliases and DKIM key) from a mail host to another
    (docs/mail.md, "Moving a domain to another mail host"): a core move (panel.models.moves) of
    kind "mail_domain"."""

    STATE_KIND = "mail_move"
    __mapper_args__ = {"polymorphic_identity": "mail_domain"}

    domain_id: Mapped[int] = synonym("object_id")
