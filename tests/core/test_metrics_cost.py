"""The two database-read histograms of /metrics (job run times, approval to live) read only what
finished since the last scrape plus the last SETTLE_S, by the indexed finish column: a scrape costs
the same with 100 or 20,000 old jobs in the table. Cost is counted in SQLite VM instructions (the
progress handler), on a database of the test's own."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from panel import db
from panel.models.jobs import Job, JobStatus
from panel.services import health, schema


def _steps(fn) -> tuple[int, object]:
    """SQLite VM instructions that fn(session) costs, and its result."""
    with db.unit_of_work() as s:
        raw = s.connection().connection.driver_connection
        steps = [0]

        def tick() -> int:
            steps[0] += 1
            return 0

        raw.set_progress_handler(tick, 1)
        try:
            out = fn(s)
        finally:
            raw.set_progress_handler(None, 1)
    return steps[0], out


def _finished(n: int, at: dt.datetime, ran_s: int = 3) -> None:
    rows = [
        {
            "kind": "core.noop", "status": JobStatus.SUCCESSFUL, "params": {},
            "started_at": at - dt.timedelta(seconds=ran_s), "finished_at": at,
        }
        for _ in range(n)
    ]  # fmt: skip
    with db.unit_of_work() as s:
        s.execute(insert(Job), rows)


def _count(rows) -> int:
    return int(sum(values[0] for _labels, values in rows))


def _scrape_costs(path, old: int) -> tuple[int, int, int]:
    """(first scrape, next scrape, the whole-table read the histogram replaced) with `old` jobs that
    finished yesterday and 10 that finished a minute ago."""
    db.configure(f"sqlite:///{path}")
    try:
        schema.schema_upgrade()
        now = dt.datetime.now(dt.UTC)
        _finished(old, now - dt.timedelta(days=1))
        hist = health.job_runs()
        first, rows = _steps(lambda s: hist.rows(s, now))
        assert _count(rows) == old
        _finished(10, now + dt.timedelta(seconds=30), ran_s=40)
        later = now + dt.timedelta(seconds=60)
        nxt, rows = _steps(lambda s: hist.rows(s, later))
        assert _count(rows) == old + 10  # every run, old and new, once
        scan, full = _steps(lambda s: health._histogram_rows(
            s, hist.labels, hist.seconds, (*hist.where, Job.finished_at.is_not(None)), hist.buckets))  # fmt: skip
        assert [(labels, list(map(float, v))) for labels, v in full] == [(labels, v) for labels, v in rows]
        return first, nxt, scan
    finally:
        db.remove()
        db.engine().dispose()


def test_a_scrape_costs_the_same_with_100_or_20000_old_jobs(tmp_path):
    small = _scrape_costs(tmp_path / "small.db", 100)
    large = _scrape_costs(tmp_path / "large.db", 20_000)
    first_small, next_small, scan_small = small
    first_large, next_large, scan_large = large
    assert next_large <= next_small * 1.2 + 100, (small, large)  # does not grow with the table
    # the measure sees table size: the first scrape and the old whole-table read grow with it
    assert first_large > 20 * first_small and scan_large > 20 * scan_small, (small, large)
    assert scan_large > 100 * next_large, (small, large)
