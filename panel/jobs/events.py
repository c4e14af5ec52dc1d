"""Provisioner events -> JobEvent rows, written in batches while the playbook runs.

The provisioner has already redacted each event with every secret the job knows; this module only
stores. A batch is written when it is full or half a second old, so a watcher sees progress within
about a second without one transaction per event.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import insert

from panel import db
from panel.models.jobs import EventStatus, JobEvent

BATCH = 50
INTERVAL_S = 0.5


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

    def add(self, ev: dict) -> None:
        self.rows.append(
            {
                "job_id": self.job_id,
                "counter": ev["counter"],
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

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        with db.unit_of_work() as s:
            s.execute(insert(JobEvent), rows)
