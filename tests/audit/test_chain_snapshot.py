"""A verification reads head and entries from one snapshot and holds no lock: an audited action in
the middle of a long walk neither waits for it nor is counted past the head it read (SQLite and
PostgreSQL)."""

from __future__ import annotations

import threading

from panel import db
from panel.services import audit, tenants


def test_entries_appended_during_a_verification_wait_for_nothing_and_are_not_counted(world, monkeypatch):
    """Before: SQLite's BEGIN IMMEDIATE held the write lock for the whole walk (the write below
    waited), and PostgreSQL's batches each saw the newest rows after a head read before them (a
    false 'entries were appended outside the panel')."""
    admin = world.actor("admin", "cli")
    tenants.org_create(admin, slug="before", name="Before", kind="ministry")
    with audit.chain_snapshot() as (head, _rows):
        n = head[0]
    stream, done, errors = audit._stream, threading.Event(), []

    def write():
        try:
            tenants.org_create(admin, slug="during", name="During", kind="ministry")
            done.set()
        except Exception as e:
            errors.append(e)
        finally:
            db.remove()

    def slow_stream(*args):
        rows = stream(*args)
        yield next(rows)
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=15)
        assert done.is_set(), f"the audited write waited for the verification: {errors}"
        yield from rows

    monkeypatch.setattr(audit, "_stream", slow_stream)
    result = audit.audit_verify(admin)
    assert result.ok and result.checked == n, result
    lines: list[str] = []
    monkeypatch.setattr(audit, "_stream", stream)
    assert audit.audit_export(admin, lines.append) == n + 1
    assert audit.verify_export(lines).ok
