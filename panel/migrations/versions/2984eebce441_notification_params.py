"""notification params: notices are stored as a message key plus params, rendered per reader

Revision ID: 2984eebce441
Revises: 8ec4bb534c92
Create Date: 2026-12-06 15:43:26.616639
"""

import sqlalchemy as sa
from alembic import op

revision = "2984eebce441"
down_revision = "8ec4bb534c92"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows hold finished English text and no params: they are shown as they are.
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("params")
