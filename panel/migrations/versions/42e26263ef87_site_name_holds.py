"""site name holds: the names open requests ask for, in a table with a unique name

A name was checked against every open site request's payload (a scan that grew with the open
requests while the ministry's row stayed locked on approval); now it is one indexed lookup. The
names of requests open at upgrade time are copied in (the first request asking wins a name, as
submission would have refused the second).

Revision ID: 42e26263ef87
Revises: 9b6ceaaceb0c
Create Date: 2026-12-06 22:00:06
"""

import sqlalchemy as sa
from alembic import op

revision = "42e26263ef87"
down_revision = "9b6ceaaceb0c"
branch_labels = None
depends_on = None

KINDS = ("sites.site_create", "sites.site_alias_add")
OPEN = ("DRAFT", "SUBMITTED", "APPROVED")  # RequestStatus members as the enum column stores them


def _asked(payload: dict) -> list[str]:
    if payload.get("alias"):
        return [payload["alias"]]
    names = [payload.get("fqdn"), *payload.get("aliases", [])]
    for spec in payload.get("sites", []):
        names += [spec.get("fqdn"), *spec.get("aliases", [])]
    return [n for n in names if n]


def upgrade() -> None:
    holds = op.create_table(
        "site_name_holds",
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_site_name_holds_request_id_requests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_site_name_holds")),
    )
    with op.batch_alter_table("site_name_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_name_holds_request_id"), ["request_id"], unique=False)
    requests = sa.table(
        "requests", sa.column("id", sa.Integer), sa.column("kind"), sa.column("status"), sa.column("payload", sa.JSON)
    )
    rows = op.get_bind().execute(
        sa.select(requests.c.id, requests.c.payload)
        .where(requests.c.kind.in_(KINDS), requests.c.status.in_(OPEN))
        .order_by(requests.c.id)
    )
    taken: dict[str, int] = {}
    for request_id, payload in rows:
        for name in _asked(payload or {}):
            taken.setdefault(name, request_id)
    if taken:
        op.bulk_insert(holds, [{"name": n, "request_id": r} for n, r in taken.items()])


def downgrade() -> None:
    with op.batch_alter_table("site_name_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_name_holds_request_id"))
    op.drop_table("site_name_holds")
