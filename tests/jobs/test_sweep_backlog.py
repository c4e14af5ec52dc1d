"""The sweeper and a backlog (issue 21, bench/queue.py): a long run of jobs still waiting their turn
in the queue is not queued a second time (each duplicate costs a claim for nothing); when messages
are missing, as many jobs as are missing are queued again, oldest first; an emptied queue gets
every stale job back at once. Our own Redis, no worker: the queue's content is what we made it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from panel import db
from panel.jobs import queue, supervise
from panel.models.jobs import Job
from tests.jobs.test_outages import noop, redis_server, settings  # noqa: F401


def _age(ids: list[int], seconds: float) -> None:
    with db.unit_of_work() as s:
        s.execute(update(Job).where(Job.id.in_(ids)).values(enqueued_at=db.now(s) - dt.timedelta(seconds=seconds)))


def test_a_backlog_is_not_queued_twice_and_missing_messages_are(booted):
    with db.unit_of_work():
        ids = [noop().id for _ in range(30)]
    assert queue.length() == 30
    _age(ids, 3 * booted.queue.sweep_s)  # stale: older than sweep_s, still waiting their turn
    assert supervise.sweep(booted, force=True) == []
    assert queue.length() == 30

    for _ in range(5):  # five messages lost (taken by no one who claims them)
        queue.huey().dequeue()
    assert queue.length() == 25
    _age(ids[10:], 0)  # a backlog: 10 stale jobs, 20 fresh ones, 25 messages
    again = supervise.sweep(booted, force=True)
    assert again == ids[:5]  # as many as are missing, the oldest first
    assert queue.length() == 30

    queue.huey().flush()  # Redis came back empty
    _age(ids, 3 * booted.queue.sweep_s)
    assert sorted(supervise.sweep(booted, force=True)) == ids
    assert queue.length() == 30
