"""Quota budgets: limits per ministry and resource, the holds of requests, the history of limits.

Usage is never stored as a counter. Each request records what it asks for (RequestQuota rows, one per
resource); a row counts while its request is in a holding status (models.requests.HOLDING) and the
row is not released (the object was deleted, or the request was cancelled). A cancelled request that
made some of its objects before failing keeps holding theirs: its rows are cut down to what lives
(services.quotas.quota_keep). Usage is the sum of those rows, so it cannot drift from the requests
it comes from.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panel.db import Base, utcnow

# Resource name -> the budget of a ministry that has no QuotaLimit row for it (a small starting
# allowance). Resources are stored as plain text and come from the capabilities' manifests
# (services.quotas.resource_register), so a new capability adds one without a schema change.
DEFAULT_LIMITS: dict[str, int] = {}


class QuotaLimit(Base):
    __tablename__ = "quota_limits"
    __table_args__ = (UniqueConstraint("org_id", "resource", name="org_resource"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(32))
    limit: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequestQuota(Base):
    """What one request draws from its ministry's budget for one resource."""

    __tablename__ = "request_quotas"
    __table_args__ = (
        UniqueConstraint("request_id", "resource", name="request_resource"),
        Index("ix_request_quotas_budget", "org_id", "released_at", "resource"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the budget's ministry
    resource: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)  # what it asks; after a cancel, what its live objects hold
    released_at: Mapped[dt.datetime | None]


class QuotaLimitChange(Base):
    """History of every limit change: who asked, who approved, when (append-only)."""

    __tablename__ = "quota_limit_changes"
    __table_args__ = (Index("ix_quota_limit_changes_org_id_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(32))
    old: Mapped[int] = mapped_column(BigInteger)
    new: Mapped[int] = mapped_column(BigInteger)
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str] = mapped_column(String(200))  # every approver, comma-separated
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
