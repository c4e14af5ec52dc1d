"""cms instances: suspend, delete (archive), busy job; a deleted instance no longer holds its site
(the one-instance-per-site index becomes partial, as sites' name index is)

Revision ID: 7e102024172f
Revises: 8ef404ba6a21
Create Date: 2026-12-07 09:03:30
"""

import sqlalchemy as sa
from alembic import op

import panel.db

revision = "7e102024172f"
down_revision = "8ef404ba6a21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cms_instances") as batch:
        batch.add_column(sa.Column("busy_job_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("archive_path", sa.String(length=400), server_default="", nullable=False))
        batch.add_column(sa.Column("deleted_at", panel.db.UTCDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_cms_instances_busy_job_id_jobs"), "jobs", ["busy_job_id"], ["id"], ondelete="SET NULL"
        )
        batch.drop_index("uq_cms_instances_site")
    op.create_index(
        "uq_cms_instances_site",
        "cms_instances",
        ["site_id"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_cms_instances_site", table_name="cms_instances")
    with op.batch_alter_table("cms_instances") as batch:
        batch.create_index("uq_cms_instances_site", ["site_id"], unique=True)
        batch.drop_constraint(batch.f("fk_cms_instances_busy_job_id_jobs"), type_="foreignkey")
        batch.drop_column("deleted_at")
        batch.drop_column("archive_path")
        batch.drop_column("busy_job_id")
