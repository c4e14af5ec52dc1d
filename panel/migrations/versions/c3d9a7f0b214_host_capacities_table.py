"""host capacities table: one row per (host, resource) instead of a max_* column per capability

Capabilities declare host roles and capacities in their manifests; the core stores them as names.
Existing values move over: max_sites -> "sites", max_mailboxes -> "mailboxes", max_databases ->
"databases" (the databases capability declares that one when it is enabled; until then the values
wait in the table). Host roles were stored as the old enum's member names ("WEB"); they become the
declared role names ("web").

Revision ID: c3d9a7f0b214
Revises: db0499e7e8e7
Create Date: 2026-12-06 19:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c3d9a7f0b214"
down_revision = "db0499e7e8e7"
branch_labels = None
depends_on = None

COLUMNS = {"max_sites": "sites", "max_mailboxes": "mailboxes", "max_databases": "databases"}
DEFAULTS = {"max_sites": 100, "max_mailboxes": 1000, "max_databases": 100}  # the dropped columns' defaults
OLD_ROLE = sa.Enum("WEB", "MAIL", "DNS", "DB", name="hostrole", native_enum=False, length=10)


def upgrade() -> None:
    op.create_table(
        "host_capacities",
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=40), nullable=False),
        sa.Column("maximum", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_id"], ["hosts.id"], name=op.f("fk_host_capacities_host_id_hosts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("host_id", "resource", name=op.f("pk_host_capacities")),
    )
    for column, resource in COLUMNS.items():
        op.execute(
            sa.text(
                f"INSERT INTO host_capacities (host_id, resource, maximum) SELECT id, :resource, {column} FROM hosts"  # noqa: S608
            ).bindparams(resource=resource)
        )
    # ALTER TABLE ... DROP COLUMN on both databases: a batch copy of `hosts` would drop and recreate
    # a table other tables' foreign keys point at.
    for column in COLUMNS:
        op.drop_column("hosts", column)
    with op.batch_alter_table("host_roles", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=OLD_ROLE, type_=sa.String(length=30), existing_nullable=False)
    op.execute(sa.text("UPDATE host_roles SET role = LOWER(role)"))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM host_roles WHERE role NOT IN ('web', 'mail', 'dns', 'db')"))
    op.execute(sa.text("UPDATE host_roles SET role = UPPER(role)"))
    with op.batch_alter_table("host_roles", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=sa.String(length=30), type_=OLD_ROLE, existing_nullable=False)
    # The columns keep their server default: dropping it would take a batch copy of `hosts` on SQLite.
    for column, resource in COLUMNS.items():
        op.add_column("hosts", sa.Column(column, sa.Integer(), nullable=False, server_default=str(DEFAULTS[column])))
        op.execute(
            sa.text(
                f"UPDATE hosts SET {column} = (SELECT maximum FROM host_capacities c"  # noqa: S608
                " WHERE c.host_id = hosts.id AND c.resource = :resource)"
                f" WHERE EXISTS (SELECT 1 FROM host_capacities c WHERE c.host_id = hosts.id AND c.resource = :resource)"
            ).bindparams(resource=resource)
        )
    op.drop_table("host_capacities")
