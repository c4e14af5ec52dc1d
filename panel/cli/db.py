"""`govhost db upgrade|check`: Alembic migrations of the panel's database."""

from __future__ import annotations

import click

from panel.cli.common import command, console
from panel.services import schema


@click.group()
def db() -> None:
    """The panel's database schema."""


@db.command()
@command
def upgrade() -> None:
    """Apply every migration (creates the database on first run)."""
    schema.schema_upgrade()
    console.print("database is at the latest revision")
