"""Every stateful model shares one state machine and reports its moves through blinker signals."""

from __future__ import annotations

import enum

import pytest
from sqlalchemy import Enum

from panel import db, events
from panel.db import Base
from panel.errors import InvalidTransition
from panel.jobs import capabilities, runner
from panel.models.hosts import Host
from panel.models.jobs import Job, JobHost, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.state import StateMachine
from provisioners.base import Result

# `status` columns that record an outcome once and never move (an Ansible event's ok/failed).
NOT_STATES = {"JobEvent"}
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"


def stateful_models() -> list[type]:
    """Mapped classes with a `status` enum column."""
    out = []
    for mapper in Base.registry.mappers:
        col = mapper.columns.get("status")
        if mapper.class_.__name__ in NOT_STATES:
            continue
        if col is not None and isinstance(col.type, Enum) and issubclass(col.type.enum_class, enum.Enum):
            out.append(mapper.class_)
    return sorted(out, key=lambda c: c.__name__)


def test_every_stateful_model_uses_the_mixin_with_a_complete_table():
    models = stateful_models()
    assert {m.__name__ for m in models} >= {"Request", "Job", "Site", "Zone", "MailDomain", "Mailbox", "MailAlias"}
    for model in models:
        assert issubclass(model, StateMachine), model.__name__
        states = set(model.__mapper__.columns["status"].type.enum_class)
        assert set(model.TRANSITIONS) == states, model.__name__
        assert all(targets <= states for targets in model.TRANSITIONS.values()), model.__name__
        assert model.STATE_KIND


@pytest.mark.parametrize("model", stateful_models(), ids=lambda m: m.__name__)
def test_a_refused_move_names_the_kind_and_sends_nothing(model):
    states = list(model.__mapper__.columns["status"].type.enum_class)
    current, target = next(
        (a, b) for a in states for b in states if b not in model.TRANSITIONS[a] and (b != a or not model.SAME_STATE_OK)
    )
    obj = model(status=current)
    seen = []
    with (
        events.state_moved.connected_to(lambda sender, **kw: seen.append(kw), sender=model),
        pytest.raises(InvalidTransition) as e,
    ):
        obj.move_to(target)
    assert e.value.params["kind"] == model.STATE_KIND and obj.status == current and seen == []


def test_a_move_sends_state_moved_and_request_moved_once():
    r = Request(kind="test.widget", org_id=1, status=RequestStatus.SUBMITTED)
    generic, specific = [], []
    with (
        events.state_moved.connected_to(lambda sender, **kw: generic.append((sender, kw["old"], kw["new"]))),
        events.request_moved.connected_to(lambda sender, **kw: specific.append((sender, kw["old"], kw["new"]))),
    ):
        r.move_to(RequestStatus.APPROVED)
    assert generic == [(Request, RequestStatus.SUBMITTED, RequestStatus.APPROVED)]
    assert specific == [(r, RequestStatus.SUBMITTED, RequestStatus.APPROVED)]
    assert r.decided_at is not None


def test_the_runner_sends_job_finished_inside_the_finishing_transaction(booted):
    with db.unit_of_work() as s:
        host = Host(name="h1", address="10.77.0.250", host_key_type="ssh-ed25519", host_key=KEY, fingerprint="x")
        s.add(host)
        s.flush()
        job = Job(kind="host.ping", status=JobStatus.PENDING, host_links=[JobHost(host_id=host.id, host_name="h1")])
        s.add(job)
    seen = []

    def receiver(sender, *, session, result, ok):
        seen.append((sender.id, sender.status, ok, result.status, session.info.get("uow_depth")))

    with events.job_finished.connected_to(receiver):
        assert runner.claim(job.id)  # as the worker does: pending -> running, with its lease
        status = runner.finish(job.id, Result(status="failed", rc=2, explanation="no"), capabilities.get("host.ping"))
    assert status == JobStatus.FAILED
    assert seen == [(job.id, JobStatus.FAILED, False, "failed", 1)]
