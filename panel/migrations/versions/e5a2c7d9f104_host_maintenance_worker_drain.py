"""host state `maintenance` (the column widens to hold its name) and workers.drain_requested_at

Revision ID: e5a2c7d9f104
Revises: c3d1f0a9b7e2
Create Date: 2026-12-06 20:00:00
"""

import sqlalchemy as sa
from alembic import op

import panel.db

revision = "e5a2c7d9f104"
down_revision = "c3d1f0a9b7e2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.alter_column("state", existing_type=sa.Enum("ACTIVE", "DRAINING", "DOWN", name="hoststate", native_enum=False, length=10), type_=sa.Enum("ACTIVE", "DRAINING", "DOWN", "MAINTENANCE", name="hoststate", native_enum=False, length=12), existing_nullable=False)
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("drain_requested_at", panel.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("drain_requested_at")
    op.execute("UPDATE hosts SET state = 'DRAINING' WHERE state = 'MAINTENANCE'")
    with op.batch_alter_table("hosts") as batch:
        batch.alter_column("state", existing_type=sa.Enum("ACTIVE", "DRAINING", "DOWN", "MAINTENANCE", name="hoststate", native_enum=False, length=12), type_=sa.Enum("ACTIVE", "DRAINING", "DOWN", name="hoststate", native_enum=False, length=10), existing_nullable=False)
