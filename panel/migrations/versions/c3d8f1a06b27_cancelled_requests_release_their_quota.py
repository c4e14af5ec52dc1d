"""cancelled requests hold what they made that lives: release the rows of those cancelled before

A cancelled request now counts in models.requests.HOLDING, and the cancel itself releases what the
request did not make (services.quotas.quota_keep). Requests cancelled before this revision held
nothing by their status: their rows are released here so usage does not change. Data only.

Revision ID: c3d8f1a06b27
Revises: a7c41e9d2b10
Create Date: 2026-12-07 10:30:00
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

import panel.db

revision = "c3d8f1a06b27"
down_revision = "a7c41e9d2b10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # requests.status stores the enum's name (native_enum=False): 'CANCELLED'
    now = sa.bindparam("now", dt.datetime.now(dt.UTC), type_=panel.db.UTCDateTime(timezone=True))
    op.execute(
        sa.text(
            "UPDATE request_quotas SET released_at = :now WHERE released_at IS NULL"
            " AND request_id IN (SELECT id FROM requests WHERE status = 'CANCELLED')"
        ).bindparams(now)
    )


def downgrade() -> None:
    pass  # the released rows of cancelled requests count for nothing under the old rule either
