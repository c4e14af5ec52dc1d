"""DNS: zones hosted on govhost's BIND, the records govhost wants there, domain claims, the TSIG key.

A Record row is desired state. `applied_at` is set only after BIND served it (read-back); a row in
state ABSENT is a removal still to be sent, deleted once BIND no longer serves it. Records that
BIND serves without a row here were made by someone else and are left alone unless forced.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.db import Base, utcnow
from panel.models.state import StateMachine


class ZoneStatus(enum.StrEnum):
    PENDING = "pending"  # approved or asked for; the zone.create job has not finished yet
    ACTIVE = "active"  # BIND serves it; records are applied by RFC 2136 updates
    FAILED = "failed"  # the create job failed; a retry moves it back to pending
    DELETING = "deleting"  # zone.delete job submitted; the row goes when the job succeeds


Z = ZoneStatus
ZONE_TRANSITIONS: dict[ZoneStatus, frozenset[ZoneStatus]] = {
    Z.PENDING: frozenset({Z.ACTIVE, Z.FAILED}),
    Z.FAILED: frozenset({Z.PENDING, Z.DELETING}),
    Z.ACTIVE: frozenset({Z.DELETING}),
    # A failed delete leaves the zone as it was: served (active), or a failed one failed.
    Z.DELETING: frozenset({Z.ACTIVE, Z.FAILED}),
}


class RecordState(enum.StrEnum):
    PRESENT = "present"  # wanted on the server
    ABSENT = "absent"  # to be removed from the server; the row goes once it is


class RecordOwner(enum.StrEnum):
    GOVHOST = "govhost"  # made by govhost (a user through the panel, or a site/mail template)
    MANUAL = "manual"  # found on the server and adopted by an operator (kept, never removed unforced)


class Zone(StateMachine, Base):
    TRANSITIONS = ZONE_TRANSITIONS
    STATE_KIND = "zone"
    __tablename__ = "dns_zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    status: Mapped[ZoneStatus] = mapped_column(
        Enum(ZoneStatus, native_enum=False, length=10), default=ZoneStatus.PENDING
    )
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    serial: Mapped[int] = mapped_column(default=0)  # SOA serial BIND reported after the last apply
    applied_at: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    records: Mapped[list[Record]] = relationship(
        back_populates="zone", cascade="all, delete-orphan", passive_deletes=True, lazy="raise_on_sql"
    )


class Record(Base):
    __tablename__ = "dns_records"
    __table_args__ = (
        UniqueConstraint("zone_id", "name", "rtype", "data", name="rrdata"),
        Index("ix_dns_records_zone_name", "zone_id", "name"),
        Index("ix_dns_records_source", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("dns_zones.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(253))  # absolute, lowercase, without the final dot
    rtype: Mapped[str] = mapped_column(String(10))
    ttl: Mapped[int]
    data: Mapped[str] = mapped_column(Text)  # canonical presentation form
    owner: Mapped[RecordOwner] = mapped_column(
        Enum(RecordOwner, native_enum=False, length=10), default=RecordOwner.GOVHOST
    )
    source: Mapped[str] = mapped_column(String(64), default="user")  # "user", "zone", "site:12", "mail:3"
    state: Mapped[RecordState] = mapped_column(
        Enum(RecordState, native_enum=False, length=10), default=RecordState.PRESENT
    )
    applied_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    zone: Mapped[Zone] = relationship(back_populates="records")


class ClaimMethod(enum.StrEnum):
    TXT = "txt"  # a TXT token at _govhost-challenge.<domain>, checked with a resolver
    ZONE = "zone"  # the domain is inside a zone the same ministry has hosted here
    STAFF = "staff"  # confirmed by a data-center admin


class DomainClaim(Base):
    __tablename__ = "dns_domain_claims"
    __table_args__ = (UniqueConstraint("org_id", "domain", name="org_domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    domain: Mapped[str] = mapped_column(String(253), index=True)
    token: Mapped[str] = mapped_column(String(64))  # public by design: it is published in DNS
    method: Mapped[ClaimMethod | None] = mapped_column(Enum(ClaimMethod, native_enum=False, length=10))
    verified_at: Mapped[dt.datetime | None]
    checked_at: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ClaimSuffix(Base):
    """A suffix a ministry may claim names under (e.g. mptc.gov.kh), kept by data-center admins."""

    __tablename__ = "dns_claim_suffixes"
    __table_args__ = (UniqueConstraint("org_id", "suffix", name="org_suffix"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    suffix: Mapped[str] = mapped_column(String(253))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DnsKey(Base):
    """The TSIG key govhost made for its BIND server(s); the secret is sealed (security.seal)."""

    __tablename__ = "dns_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    algorithm: Mapped[str] = mapped_column(String(20), default="hmac-sha256")
    secret_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
