"""audit entries: the actor's and the organization's foreign keys restrict (were ON DELETE SET NULL)

actor_id and org_id are part of each entry's hashed content: SET NULL let a deleted user or
organization rewrite hashed entries, and `govhost audit verify` then reported an edit nobody made.
RESTRICT refuses such a delete; users and organizations are deactivated instead.

Revision ID: e4ac427924d9
Revises: 75fdc9d56122
Create Date: 2026-12-06 23:19:59
"""

from alembic import op

revision = "e4ac427924d9"
down_revision = "75fdc9d56122"
branch_labels = None
depends_on = None

_FKS = (
    ("fk_audit_entries_actor_id_users", "users", "actor_id"),
    ("fk_audit_entries_org_id_organizations", "organizations", "org_id"),
)


def _swap(ondelete: str) -> None:
    # PostgreSQL: a drop and an add of each constraint (existing rows already satisfy it). SQLite:
    # the batch copies the table with its rows as they are (the hashes do not change).
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        for name, table, column in _FKS:
            batch_op.drop_constraint(name, type_="foreignkey")
        for name, table, column in _FKS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _swap("RESTRICT")


def downgrade() -> None:
    _swap("SET NULL")
