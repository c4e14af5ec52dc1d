"""Periodic sweeps (certificate renewals, disk and mailbox usage...), run by the worker's once-a-minute tick.

Capabilities declare their sweeps in their manifests; the capability loader registers them here.

Each sweep is a plain service call made as the worker's system actor; `schedule_tick` runs the ones
whose interval has elapsed since their last run, under a row lock, so several workers never run the
same sweep twice. Sweeps pick their hosts through services.sweeps: a host that cannot be used is
skipped and named in the sweep's last result, never a reason to stop the sweep for the others.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from panel import db
from panel.config import Settings
from panel.errors import PanelError
from panel.models.schedule import ScheduledRun
from panel.services.actor import system_actor
from panel.services.sweeps import Swept

log = logging.getLogger("govhost.schedule")


@dataclass(frozen=True)
class Sweep:
    name: str
    every_minutes: Callable[[Settings], int]
    run: Callable


_sweeps: dict[str, Sweep] = {}


def register(sweep: Sweep) -> Sweep:
    _sweeps[sweep.name] = sweep
    return sweep


def unregister(name: str) -> None:
    _sweeps.pop(name, None)


def sweeps() -> list[Sweep]:
    return list(_sweeps.values())


def _claim(sweep: Sweep, settings: Settings, now: dt.datetime) -> bool:
    """Mark the sweep as run now if it is due; False when another worker ran it recently.

    The row is created with ON CONFLICT DO NOTHING: two workers starting together both try to
    create it, and the loser must not fail on the duplicate key."""
    with db.unit_of_work() as s:
        dialect = s.get_bind().dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ScheduledRun)
        never = now - dt.timedelta(days=3650)
        s.execute(ins.values(name=sweep.name, last_run_at=never, last_result="").on_conflict_do_nothing())
        row = s.scalars(
            select(ScheduledRun)
            .where(ScheduledRun.name == sweep.name)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        if now - row.last_run_at < dt.timedelta(minutes=sweep.every_minutes(settings)):
            return False
        row.last_run_at = now
        return True


def schedule_tick(settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Run every due sweep; returns the names run. A failing sweep is logged and retried next time."""
    now = now or db.utcnow()
    ran = []
    for sweep in sweeps():
        if not _claim(sweep, settings, now):
            continue
        try:
            swept = sweep.run(system_actor("worker", "scheduler"))
            result = swept.report() if isinstance(swept, Swept) else f"{len(swept)} job(s)"
        except PanelError as e:
            result = f"error {e.key}: {e.text()}"
            log.warning("sweep %s: %s", sweep.name, result)
        with db.unit_of_work() as s:
            s.get(ScheduledRun, sweep.name).last_result = result[:500]
        ran.append(sweep.name)
    db.remove()
    return ran
