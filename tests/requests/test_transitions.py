"""Every allowed and every refused move of the request state machine."""

from __future__ import annotations

import itertools

import pytest

from panel.errors import InvalidTransition
from panel.models.requests import HOLDING, TRANSITIONS, Request, RequestStatus

ALL = list(RequestStatus)
ALLOWED = [(a, b) for a in ALL for b in sorted(TRANSITIONS[a])]
REFUSED = [(a, b) for a, b in itertools.product(ALL, ALL) if b not in TRANSITIONS[a]]


def test_the_table_is_the_issue_table_plus_two_documented_moves():
    S = RequestStatus
    assert TRANSITIONS[S.DRAFT] == {S.SUBMITTED, S.CANCELLED}
    assert TRANSITIONS[S.SUBMITTED] == {S.APPROVED, S.REJECTED, S.CANCELLED}
    assert TRANSITIONS[S.APPROVED] == {S.PROVISIONING, S.DONE}
    assert TRANSITIONS[S.PROVISIONING] == {S.DONE, S.FAILED}
    assert TRANSITIONS[S.FAILED] == {S.RETRIED, S.CANCELLED}
    assert TRANSITIONS[S.RETRIED] == {S.PROVISIONING}
    assert not TRANSITIONS[S.DONE] and not TRANSITIONS[S.REJECTED] and not TRANSITIONS[S.CANCELLED]
    assert set(TRANSITIONS) == set(S)
    assert S.REJECTED not in HOLDING and S.SUBMITTED not in HOLDING
    # a cancel releases at once all a request holds but what its live objects do (quotas.quota_keep)
    assert S.CANCELLED in HOLDING


@pytest.mark.parametrize(("current", "target"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed_move(current, target):
    r = Request(kind="test.widget", org_id=1, status=current)
    r.move_to(target)
    assert r.status == target


@pytest.mark.parametrize(("current", "target"), REFUSED, ids=[f"{a}-x->{b}" for a, b in REFUSED])
def test_refused_move_names_both_states(current, target):
    r = Request(kind="test.widget", org_id=1, status=current)
    with pytest.raises(InvalidTransition) as e:
        r.move_to(target)
    assert r.status == current
    assert e.value.key == "request.invalid_transition"
    assert e.value.params == {"kind": "request", "current": current.value, "target": target.value}
    assert f"from {current.value} to {target.value}" in str(e.value)


def test_timestamps_follow_the_moves():
    r = Request(kind="test.widget", org_id=1, status=RequestStatus.DRAFT)
    r.move_to(RequestStatus.SUBMITTED)
    assert r.submitted_at and not r.decided_at
    r.move_to(RequestStatus.APPROVED)
    assert r.decided_at and not r.finished_at
    r.move_to(RequestStatus.DONE)
    assert r.finished_at
