"""Database schema management through Alembic (never create_all outside tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from panel import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    return alembic_config_for(db.engine())


def alembic_config_for(engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def schema_upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)


def schema_check() -> None:
    """Raise if the models and the migrations differ (used by CI)."""
    command.check(alembic_config())
