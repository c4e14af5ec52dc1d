"""mailboxes: the one-live-address index really leaves deleted rows out

The partial unique index compared `status` with 'deleted', but the enum column stores the member
name ('DELETED'), so every row counted and a deleted mailbox's address could never be used again
(IntegrityError on the new mailbox). The index is rebuilt with the stored name.

Revision ID: c3d1f0a9b7e2
Revises: 9fb14049f813
Create Date: 2026-12-06 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c3d1f0a9b7e2"
down_revision = "9fb14049f813"
branch_labels = None
depends_on = None

NAME = "uq_mailboxes_live_address"


def _index(status: str) -> None:
    where = sa.text(f"status != '{status}'")
    op.create_index(NAME, "mailboxes", ["domain_id", "local_part"], unique=True, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    op.drop_index(NAME, table_name="mailboxes")
    _index("DELETED")


def downgrade() -> None:
    op.drop_index(NAME, table_name="mailboxes")
    _index("deleted")
