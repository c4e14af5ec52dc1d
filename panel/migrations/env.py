"""Alembic environment: the engine comes from the booted panel (or the config file)."""

from alembic import context

import panel.models  # noqa: F401  registers the core's tables
from panel import capabilities, db
from panel.db import Base

config = context.config
capabilities.load()  # and the enabled capabilities' tables


def run() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from panel.boot import boot

        boot()
        engine = db.engine()
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
        if raw is not None:
            # A batch migration on SQLite copies a table, drops the old one and renames the copy. With
            # foreign keys on, that DROP deletes the rows pointing at it first (ON DELETE CASCADE:
            # hosts -> host_roles, host_capacities) or fails (sites -> hosts). Off for the migration,
            # outside any transaction (the PRAGMA is ignored inside one); checked and on again after.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")
        if raw is not None:
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {broken[:5]}")


run()
