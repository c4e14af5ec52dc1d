"""SOC destinations: where the security feed goes, and how far each has received it.

The spool is the audit chain itself (committed with the change it records, so nothing is written in
the request path for the feed): a destination's `delivered_seq` is the last chain entry it
acknowledged, and its backlog is the chain head minus that.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from panel.db import Base, utcnow
from panel.models.state import StateMachine


class Transport(enum.StrEnum):
    SYSLOG_TLS = "syslog_tls"  # RFC 5424 over TLS (RFC 5425), octet counting
    SYSLOG_TCP = "syslog_tcp"  # the same framing without TLS, for a loopback relay agent only
    HTTPS_JSON = "https_json"  # JSON arrays POSTed over HTTPS
    FILE = "file"  # JSON lines appended to a local file an agent tails


class SocDestination(Base):
    __tablename__ = "soc_destinations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    transport: Mapped[Transport] = mapped_column(Enum(Transport, native_enum=False, length=16))
    # syslog: "host:port"; https_json: the URL; file: an absolute path
    target: Mapped[str] = mapped_column(String(500))
    ca_file: Mapped[str] = mapped_column(String(500), default="")  # "" = the system's CAs
    client_cert: Mapped[str] = mapped_column(String(500), default="")  # PEM paths, never the key itself
    client_key: Mapped[str] = mapped_column(String(500), default="")
    server_name: Mapped[str] = mapped_column(String(253), default="")  # TLS name if not the target's host
    auth_header: Mapped[str] = mapped_column(Text, default="")  # https: sealed "Authorization" value
    enabled: Mapped[bool] = mapped_column(default=True)
    batch_size: Mapped[int] = mapped_column(default=200)
    delivered_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    sent_total: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts_failed: Mapped[int] = mapped_column(BigInteger, default=0)
    last_ok_at: Mapped[dt.datetime | None] = mapped_column()
    failing_since: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PendingStatus(enum.StrEnum):
    PENDING = "pending"  # waits for a second SOC user or DC admin
    APPROVED = "approved"  # a second person approved: the action ran
    REJECTED = "rejected"  # refused by a second person, or withdrawn by its requester


class SocPendingAction(StateMachine, Base):
    """A containment action held for a second approver (four-eyes, settings `soc.four_eyes`): what
    was asked (action and its checked parameters), by whom and why, and who decided."""

    __tablename__ = "soc_pending_actions"
    TRANSITIONS = {  # decided once, for good
        PendingStatus.PENDING: frozenset({PendingStatus.APPROVED, PendingStatus.REJECTED}),
        PendingStatus.APPROVED: frozenset(),
        PendingStatus.REJECTED: frozenset(),
    }
    STATE_KIND = "soc_pending"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(30))  # user_lock, token_revoke, suspend, address_block...
    params: Mapped[dict] = mapped_column(JSON, default=dict)  # the action's arguments, as checked
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[PendingStatus] = mapped_column(
        Enum(PendingStatus, native_enum=False, length=10), default=PendingStatus.PENDING, index=True
    )
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    requested_by: Mapped[str] = mapped_column(String(150))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_by: Mapped[str] = mapped_column(String(150), default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(200), default="")  # "job 12", "request 7", the refusal's reason
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
