"""`python -m panel.migrations.check [PG_URL]`: upgrade an empty database to head, then `alembic check`
(the models and the migrations must agree), on SQLite and, when a URL is given, on PostgreSQL."""

from __future__ import annotations

import sys
import tempfile
import uuid

from sqlalchemy import create_engine, text

from panel import db
from panel.services import schema


def check(url: str) -> None:
    db.configure(url)
    schema.schema_upgrade()
    schema.schema_check()
    print(f"migrations OK on {db.engine().dialect.name}")


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        check(f"sqlite:///{tmp}/check.db")
    if argv:
        admin = create_engine(argv[0], isolation_level="AUTOCOMMIT")
        name = f"govhost_mig_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            check(argv[0].rsplit("/", 1)[0] + "/" + name)
        finally:
            db.remove()
            db.engine().dispose()
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
