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
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run()
