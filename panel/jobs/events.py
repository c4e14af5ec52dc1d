"""Provisioner events -> JobEvent rows, written in batches while the playbook runs.

The provisioner has already redacted each event with every secret the job knows; this module only
stores. A batch is written when it is full or half a second old, so a watcher sees progress within
about a second without one transaction per event. While the database is unreachable the batch
stays in memory and the playbook goes on; the end of the job waits until it is stored.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from sqlalchemy import insert

from panel import db
from panel.jobs import resilience
from panel.models.jobs import EventStatus, JobEvent

BATCH = 50
INTERVAL_S = 0.5
log = logging.getLogger("govhost.jobs")


def _created(value) -> dt.datetime:
    try:
        created = dt.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return db.utcnow()
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)


class EventWriter:
    def __init__(self, job_id: int, batch: int = BATCH, interval_s: float = INTERVAL_S):
        self.job_id = job_id
        self.batch = batch
        self.interval_s = interval_s
        self.rows: list[dict] = []
        self.last_flush = time.monotonic()
        self.offset = 0  # counters already used by an earlier run of the same job (handed back)
        self._writing = 0  # rows handed to a transaction by write(), dropped by stored()

    def add(self, ev: dict) -> None:
        self.rows.append(
            {
                "job_id": self.job_id,
                "counter": ev["counter"] + self.offset,
                "event": ev["event"][:64],
                "host": ev.get("host", "")[:63],
                "task": ev.get("task", "")[:255],
                "status": EventStatus(ev["status"]) if ev.get("status") else None,
                "stdout": ev.get("stdout", ""),
                "created_at": _created(ev.get("created")),
            }
        )
        if len(self.rows) >= self.batch or time.monotonic() - self.last_flush >= self.interval_s:
            self.flush()

    def tick(self) -> None:
        """Flush a batch that has waited long enough (for runs that emit events rarely)."""
        if self.rows and time.monotonic() - self.last_flush >= self.interval_s:
            self.flush()

    def write(self, s) -> int:
        """Add the rows held in memory to the caller's transaction (the job's end); `stored()`
        once it committed. Returns how many."""
        self._writing = len(self.rows)
        if self.rows:
            s.execute(insert(JobEvent), list(self.rows))
        return self._writing

    def stored(self) -> None:
        del self.rows[: self._writing]
        self._writing = 0

    def flush(self, wait: bool = False) -> None:
        """Store the batch. A transient database error keeps it for the next flush, unless `wait`:
        then it is retried until the database is back."""
        self.last_flush = time.monotonic()
        if not self.rows:
            return
        rows = list(self.rows)

        def write() -> None:
            with db.unit_of_work() as s:
                s.execute(insert(JobEvent), rows)

        if wait:
            resilience.retry_transient(write, f"storing events of job {self.job_id}", log=log)
        else:
            try:
                write()
            except Exception as e:
                if not resilience.is_transient(e):
                    raise
                resilience.throttle.log(
                    log,
                    logging.WARNING,
                    f"events:{self.job_id}",
                    "events of job %s kept in memory: database unreachable (%s)",
                    self.job_id,
                    resilience.describe(e),
                )
                return
        del self.rows[: len(rows)]
