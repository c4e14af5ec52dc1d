"""jobs.trace_id: the request id (X-Request-ID) of the web request or command that submitted the job

Revision ID: 75fdc9d56122
Revises: 67b7d32857f7
Create Date: 2026-12-06 22:21:30
"""

import sqlalchemy as sa
from alembic import op

revision = "75fdc9d56122"
down_revision = "67b7d32857f7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain added column with a default: no table rewrite on PostgreSQL, running workers (which
    # do not know the column) keep working while it is added (docs/operations.md, "Upgrading").
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("trace_id", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("trace_id")
