"""Bulk provisioning: a plan made from uploaded files, and its rows.

A plan is read-only once made: its rows (the clean values, never a password), their action
(create / noop / conflict / invalid) and a digest over both and the budget it was checked against.
The approver approves that digest (the `bulk.apply` request's payload holds it), and the apply
refuses if planning the same rows again gives another digest. Rows then carry what happened to
them (the request that made them, its job, the object's id, the error), which is the report.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from panel.db import Base, utcnow


class BulkPlan(Base):
    __tablename__ = "bulk_plans"
    __table_args__ = (Index("ix_bulk_plans_org_id_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    files: Mapped[list] = mapped_column(JSON, default=list)  # [{"name", "kind", "rows"}]
    digest: Mapped[str] = mapped_column(String(64))  # sha256 hex of the rows, actions and budget
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # {action: n}
    quota: Mapped[dict] = mapped_column(JSON, default=dict)  # {resource: amount} the creates ask
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    applied_at: Mapped[dt.datetime | None]
    # Passwords of new mailboxes (given in the file or generated), sealed; cleared once applied.
    secrets: Mapped[str | None] = mapped_column(Text)
    # Generated passwords waiting for their one delivery to the plan's creator (sealed), then None.
    delivery: Mapped[str | None] = mapped_column(Text)


class BulkRow(Base):
    __tablename__ = "bulk_rows"
    __table_args__ = (Index("ix_bulk_rows_plan_id_seq", "plan_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("bulk_plans.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column()  # order in the plan
    kind: Mapped[str] = mapped_column(String(32))  # the row kind: "sites", "mailboxes" ...
    file: Mapped[str] = mapped_column(String(200), default="")
    line: Mapped[int] = mapped_column(default=0)
    key: Mapped[str] = mapped_column(String(300))  # natural key: the site's name, the address ...
    action: Mapped[str] = mapped_column(String(16))  # create | noop | conflict | invalid
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # clean values; never a secret
    errors: Mapped[list] = mapped_column(JSON, default=list)  # [{"column", "key", "message"}]
    status: Mapped[str] = mapped_column(String(16), default="planned")  # planned|running|done|failed|skipped
    object_id: Mapped[int | None]
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"))
    job_id: Mapped[int | None]
    error_key: Mapped[str] = mapped_column(String(64), default="")
    error_message: Mapped[str] = mapped_column(Text, default="")
