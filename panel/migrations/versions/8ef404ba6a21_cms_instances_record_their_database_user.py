"""cms instances record their database user (databases.app_database names it apart from the database:
on PostgreSQL the database's owner role has the database's name); "" on older instances, whose user
had the database's name

Revision ID: 8ef404ba6a21
Revises: b7e31c52d9a0
Create Date: 2026-12-07 04:50:52
"""

import sqlalchemy as sa
from alembic import op

revision = "8ef404ba6a21"
down_revision = "b7e31c52d9a0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cms_instances") as batch:
        batch.add_column(sa.Column("db_user", sa.String(length=64), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("cms_instances") as batch:
        batch.drop_column("db_user")
