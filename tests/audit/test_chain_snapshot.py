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
    for i in range(3):  # a walk of several chunks (FAST_CHUNK 1 below)
        tenants.org_create(admin, slug=f"before{i}", name=f"Before {i}", kind="ministry")
    with audit.chain_snapshot() as (head, _rows):
        n = head[0]
    stream, done, errors, written = audit._stream, threading.Event(), [], []

    def write():
        try:
            slug = f"during{len(written) + 1}"
            tenants.org_create(admin, slug=slug, name=slug, kind="ministry")
            written.append(slug)
            done.set()
        except Exception as e:
            errors.append(e)
        finally:
            db.remove()

    def write_now():
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(timeout=15)
        assert done.is_set(), f"the audited write waited for the verification: {errors}"

    def slow_stream(*args):
        rows = stream(*args)
        yield next(rows)
        write_now()
        yield from rows

    def slow_chunk(dbapi_conn, dialect, after):  # the fast walk, one entry per chunk
        if after > 0 and not done.is_set():
            write_now()
        return chunk(dbapi_conn, dialect, after)

    chunk = audit._chunk
    monkeypatch.setattr(audit, "FAST_CHUNK", 1)
    monkeypatch.setattr(audit, "_chunk", slow_chunk)
    result = audit.audit_verify(admin)
    assert result.ok and result.checked == n, result
    assert done.is_set()
    done.clear()
    monkeypatch.setattr(audit, "_stream", slow_stream)  # the walk verify_rows does (fast path disagrees)
    monkeypatch.setattr(audit, "_verify_fast", lambda chunks, head, bounds: None)
    result = audit.audit_verify(admin)
    assert result.ok and result.checked == n + 1, result
    lines: list[str] = []
    monkeypatch.setattr(audit, "_stream", stream)
    assert audit.audit_export(admin, lines.append) == n + 2
    assert audit.verify_export(lines).ok
