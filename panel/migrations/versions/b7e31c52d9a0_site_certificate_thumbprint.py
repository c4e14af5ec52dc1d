"""site certificates: the SHA-1 thumbprint Windows binds by

Revision ID: b7e31c52d9a0
Revises: 133d3333900a
Create Date: 2026-12-07 01:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "b7e31c52d9a0"
down_revision = "133d3333900a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("site_certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thumbprint", sa.String(length=40), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("site_certificates", schema=None) as batch_op:
        batch_op.drop_column("thumbprint")
