"""cms staging copies: an instance may be the staging copy of another (staging_of_id)

Revision ID: f3a81c7e2b90
Revises: 7468a99a6682
Create Date: 2026-12-07 12:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "f3a81c7e2b90"
down_revision = "7468a99a6682"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cms_instances") as batch:
        batch.add_column(sa.Column("staging_of_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_cms_instances_staging_of_id"), ["staging_of_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_cms_instances_staging_of_id_cms_instances"),
            "cms_instances",
            ["staging_of_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("cms_instances") as batch:
        batch.drop_constraint(batch.f("fk_cms_instances_staging_of_id_cms_instances"), type_="foreignkey")
        batch.drop_index(batch.f("ix_cms_instances_staging_of_id"))
        batch.drop_column("staging_of_id")
