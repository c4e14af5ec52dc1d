import os

from panel import db


def test_the_suite_runs_on_the_database_it_was_asked_for(booted):
    """scripts/test runs the suite a second time on PostgreSQL; this proves that run really used it."""
    expected = os.environ.get("GOVHOST_TEST_EXPECT_DB", "sqlite")
    assert db.engine().dialect.name == expected
    if expected == "postgresql":
        assert os.environ.get("GOVHOST_TEST_DATABASE"), "PostgreSQL run without GOVHOST_TEST_DATABASE"
