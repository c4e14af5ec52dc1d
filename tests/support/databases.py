"""A database with no tables, for migration tests: SQLite in tmp_path, or a fresh PostgreSQL
database under GOVHOST_TEST_DATABASE (dropped afterwards)."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("GOVHOST_TEST_DATABASE", "")


@pytest.fixture
def empty_database(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migration.db'}"
        return
    name = f"govhost_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
