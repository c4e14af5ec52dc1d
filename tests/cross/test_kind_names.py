"""Kind names are namespaced by their capability, and stored rows follow the rename (a14c0e7d2b51)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from panel import capabilities, db
from panel.services import schema

BEFORE = "3ef1c65c6eb7"


def test_every_kind_of_a_capability_starts_with_its_name():
    for p in capabilities.load():
        for kind in (*p.kinds, *p.job_kinds):
            assert kind.startswith(f"{p.manifest.name}."), f"{kind} is not named after {p.manifest.name}"


def test_the_migration_renames_stored_kinds_and_back(tmp_path):
    db.configure(f"sqlite:///{tmp_path / 'kinds.db'}")
    try:
        schema.schema_upgrade(BEFORE)
        with db.engine().begin() as c:
            c.execute(
                text(
                    "INSERT INTO approval_policies (kind, mode, updated_by, updated_at)"
                    " VALUES (:k, 'two', 'x', '2026-01-01')"
                ),
                {"k": "alias.create"},
            )
        schema.schema_upgrade("head")
        with db.engine().connect() as c:
            assert c.execute(text("SELECT kind FROM approval_policies")).scalar() == "mail.alias_create"
        command.downgrade(schema.alembic_config(), BEFORE)
        with db.engine().connect() as c:
            assert c.execute(text("SELECT kind FROM approval_policies")).scalar() == "alias.create"
    finally:
        db.remove()
        db.engine().dispose()
