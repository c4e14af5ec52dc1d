"""The worker's periodic sweeps run when due, once, whichever worker ticks."""

import datetime as dt

from panel import db
from panel.models.schedule import ScheduledRun
from panel.services import schedule


def last_results() -> dict[str, str]:
    with db.unit_of_work() as s:
        return {r.name: r.last_result for r in s.query(ScheduledRun)}


def test_sweeps_run_when_due_and_only_once(booted):
    now = db.utcnow()
    assert schedule.schedule_tick(booted, now) == ["sites.renew", "sites.usage", "mail.usage"]
    assert last_results() == {"sites.renew": "0 job(s)", "sites.usage": "0 job(s)", "mail.usage": "0 job(s)"}
    assert schedule.schedule_tick(booted, now + dt.timedelta(minutes=1)) == []  # a second worker's tick
    later = now + dt.timedelta(minutes=booted.sites.usage_interval_minutes + 1)
    assert schedule.schedule_tick(booted, later) == ["sites.usage", "mail.usage"]
    assert schedule.schedule_tick(booted, now + dt.timedelta(hours=6, minutes=1)) == [
        "sites.renew",
        "sites.usage",
        "mail.usage",
    ]
