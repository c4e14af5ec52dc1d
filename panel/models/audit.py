"""The audit log: append-only, hash-chained entries, one per mutating service call."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from panel.db import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_org_seq", "org_id", "seq"),
        Index("ix_audit_action_seq", "action", "seq"),
    )

    # seq is assigned by the chain, not by the database, so a deleted or inserted entry shows as a gap.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # actor_id and org_id are hashed: the foreign keys RESTRICT, so the database never rewrites a
    # hashed entry (ON DELETE SET NULL would, and verify would then report tampering nobody did).
    # Users and organizations are deactivated, never deleted while an entry names them.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[str] = mapped_column(Text, default="{}")  # canonical JSON, secrets excluded
    surface: Mapped[str] = mapped_column(String(8), default="")  # web | api | cli | worker
    client_addr: Mapped[str] = mapped_column(String(64), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


# An entry's columns in chain order: the first twelve are hashed (then prev_hash and hash); exports,
# windows and the SOC feed read them in this order.
COLUMNS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_name",
    "org_id",
    "action",
    "object_type",
    "object_id",
    "summary",
    "surface",
    "client_addr",
    "request_id",
    "prev_hash",
    "hash",
)


class AuditHead(Base):
    """One row: the chain's tip. Appenders lock it, so entries are chained in commit order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
