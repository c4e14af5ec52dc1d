"""kind names namespaced by capability: stored requests, jobs and approval policies renamed

Request and job kinds are named `<capability>.<noun>_<verb>` (`mail.alias_create`, not
`alias.create`), so a kind says which capability owns it. Data only: no schema change.

Revision ID: a14c0e7d2b51
Revises: 3ef1c65c6eb7
Create Date: 2026-12-06 16:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "a14c0e7d2b51"
down_revision = "3ef1c65c6eb7"
branch_labels = None
depends_on = None

RENAMED = {
    "zone.create": "dns.zone_create",
    "zone.delete": "dns.zone_delete",
    **{
        f"site.{verb}": f"sites.site_{verb}"
        for verb in (
            "create",
            "delete",
            "suspend",
            "unsuspend",
            "change_plan",
            "alias_add",
            "alias_remove",
            "cert_upload",
            "cert",
            "update",
            "usage",
        )
    },
    "mail_domain.create": "mail.domain_create",
    **{f"mailbox.{verb}": f"mail.mailbox_{verb}" for verb in ("create", "delete", "password", "quota", "suspend", "unsuspend")},
    "alias.create": "mail.alias_create",
    "alias.delete": "mail.alias_delete",
}
TABLES = ("requests", "jobs", "approval_policies")


def _rename(pairs) -> None:
    pairs = list(pairs)
    for table in TABLES:
        for old, new in pairs:
            op.execute(sa.text(f"UPDATE {table} SET kind = :new WHERE kind = :old").bindparams(old=old, new=new))  # noqa: S608


def upgrade() -> None:
    _rename(RENAMED.items())


def downgrade() -> None:
    _rename((new, old) for old, new in RENAMED.items())
