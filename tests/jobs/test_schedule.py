"""The worker's periodic sweeps run when due, once, whichever worker ticks."""

import datetime as dt

from panel import db
from panel.models.schedule import ScheduledRun
from panel.services import schedule


def last_results() -> dict[str, str]:
    with db.unit_of_work() as s:
        return {r.name: r.last_result for r in s.query(ScheduledRun)}


def test_sweeps_run_when_due_and_only_once(booted):
    """Which sweeps run at each tick; their order follows the order capabilities were plugged in,
    which tests that unplug and plug one back change (tests/core), so it is not compared."""
    now = db.utcnow()
    hourly = ["colocation.passes"]  # visitor passes expire by the hour (colocation's manifest)
    bans = ["soc.bans"]  # fail2ban bans on protected hosts, read every 2 minutes (soc's manifest)
    fives = ["databases.remote_expiry"]  # remote database access ends within 5 minutes of its expiry
    db_hourly = ["databases.usage"]  # tenant database sizes, one query per DB host, hourly
    db_daily = ["databases.drift"]  # DB servers compared with the catalog, daily
    consoles = ["databases.console_expiry"]  # web console logins end within a minute of their expiry
    hardening = ["cms.hardening"]  # WordPress hardening checks, every cms.hardening_interval_minutes (6 h)
    assert sorted(schedule.schedule_tick(booted, now)) == sorted(
        [
            "sites.renew",
            "sites.usage",
            "mail.usage",
            *bans,
            *hourly,
            *fives,
            *db_hourly,
            *db_daily,
            *consoles,
            *hardening,
        ]
    )
    assert last_results() == {
        "sites.renew": "0 job(s)",
        "sites.usage": "0 job(s)",
        "mail.usage": "0 job(s)",
        "colocation.passes": "0 job(s)",
        "soc.bans": "0 job(s)",
        "databases.remote_expiry": "0 job(s)",
        "databases.usage": "0 job(s)",
        "databases.drift": "0 job(s)",
        "databases.console_expiry": "0 job(s)",
        "cms.hardening": "0 job(s)",
    }
    assert schedule.schedule_tick(booted, now + dt.timedelta(seconds=30)) == []  # a second worker's tick
    minutes = booted.sites.usage_interval_minutes + 1
    later = now + dt.timedelta(minutes=minutes)
    assert sorted(schedule.schedule_tick(booted, later)) == sorted(
        [
            "sites.usage",
            "mail.usage",
            *bans,
            *(hourly if minutes >= 60 else []),
            *(fives if minutes >= 5 else []),
            *(db_hourly if minutes >= 60 else []),
            *consoles,
        ]
    )
    assert sorted(schedule.schedule_tick(booted, now + dt.timedelta(hours=6, minutes=1))) == sorted(
        [
            "sites.renew",
            "sites.usage",
            "mail.usage",
            *bans,
            *hourly,
            *fives,
            *db_hourly,
            *consoles,
            *hardening,
        ]
    )
