"""`python -m panel.migrations.revision "message"`: autogenerate a migration from the models,
diffing against an empty SQLite database upgraded to the current head."""

from __future__ import annotations

import sys
import tempfile

from alembic import command

from panel import db
from panel.services import schema


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m panel.migrations.revision MESSAGE")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        db.configure(f"sqlite:///{tmp}/rev.db")
        schema.schema_upgrade()
        command.revision(schema.alembic_config(), message=argv[0], autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
