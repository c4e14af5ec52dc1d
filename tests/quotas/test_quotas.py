"""Quota budgets: derived usage (recomputed independently), release, concurrency, scale, admin limits."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import event, insert, select

from panel import db
from panel.errors import Forbidden, QuotaExceeded
from panel.models.quotas import DEFAULT_LIMITS, QuotaLimitChange, RequestQuota
from panel.models.requests import HOLDING, Request, RequestStatus
from panel.services import quotas, request_kinds
from panel.services import requests as svc
from tests.support.fixtures import audit_rows, set_limit

S = RequestStatus


def used(actor, org_id) -> dict[str, int]:
    return {q.resource: q.used for q in quotas.quota_usage(actor, org_id)}


def widget(actor, org, count=1):
    return svc.request_create(actor, kind="test.widget", org_id=org.id, payload={"count": count})


def recompute(ministry_ids: set[int]) -> dict[str, int]:
    """Usage from first principles: every request of the ministry (or its departments) that holds,
    asking its kind again what it costs, minus what was released."""
    totals: dict[str, int] = {}
    with db.unit_of_work() as s:
        released = set(s.scalars(select(RequestQuota.request_id).where(RequestQuota.released_at.is_not(None))))
        for req in s.scalars(select(Request)):
            org = s.get(svc.Organization, req.org_id)
            top = org.parent_id if org.parent_id else org.id
            if top not in ministry_ids or req.status not in HOLDING or req.id in released:
                continue
            for resource, amount in request_kinds.get(req.kind).quota(req.payload).items():
                totals[resource] = totals.get(resource, 0) + amount
    return totals


def test_usage_recomputed_independently_matches(make, min_a, wm_a, op1):
    dept = make.make_org("Dept of A", kind=svc.OrgKind.DEPARTMENT, parent=min_a)
    wm_dept = make.make_user("webmaster", dept)
    set_limit(min_a.id, "sites", 1000)
    rng = random.Random(7)
    a, ad, o = make.actor_of(wm_a), make.actor_of(wm_dept), make.actor_of(op1)
    for i in range(40):
        req = widget(a if i % 3 else ad, dept if i % 3 == 0 else min_a, count=rng.randint(1, 9))
        fate = rng.choice(["approve", "approve", "reject", "cancel", "leave", "release"])
        if fate in ("approve", "release"):
            svc.request_approve(o, req.id)
        if fate == "release":
            with db.unit_of_work() as s:
                quotas.quota_release(s, [req.id])
        elif fate == "reject":
            svc.request_reject(o, req.id, comment="no")
        elif fate == "cancel":
            svc.request_cancel(a if i % 3 else ad, req.id)
    expected = recompute({min_a.id})
    assert expected.get("sites", 0) > 0
    got = used(a, min_a.id)
    assert got["sites"] == expected["sites"]
    assert used(ad, dept.id) == got  # a department shows its ministry's budget
    assert all(v == 0 for k, v in got.items() if k != "sites")


def test_release_frees_the_budget_once(make, min_a, wm_a, op1):
    set_limit(min_a.id, "sites", 2)
    req = widget(make.actor_of(wm_a), min_a, count=2)
    svc.request_approve(make.actor_of(op1), req.id)
    with pytest.raises(QuotaExceeded):
        widget(make.actor_of(wm_a), min_a)
    with db.unit_of_work() as s:  # what a capability's job does when the object is deleted
        assert quotas.quota_release(s, [req.id, None]) == 1
    with db.unit_of_work() as s:
        assert quotas.quota_release(s, [req.id]) == 0 and quotas.quota_release(s, []) == 0
    assert used(make.actor_of(wm_a), min_a.id)["sites"] == 0
    assert widget(make.actor_of(wm_a), min_a).status == S.SUBMITTED


def test_concurrent_approvals_cannot_both_pass(make, min_a, wm_a, op1, op2):
    set_limit(min_a.id, "sites", 1)
    r1, r2 = widget(make.actor_of(wm_a), min_a), widget(make.actor_of(wm_a), min_a)
    actors = [(make.actor_of(op1), r1.id), (make.actor_of(op2), r2.id)]
    barrier = threading.Barrier(2)
    outcome: list[str] = []

    def approve(actor, request_id):
        barrier.wait()
        try:
            svc.request_approve(actor, request_id)
            outcome.append("approved")
        except QuotaExceeded as e:
            outcome.append(e.key)
        finally:
            db.remove()

    threads = [threading.Thread(target=approve, args=pair) for pair in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcome) == ["approved", "quota.sites"]
    assert used(make.actor_of(wm_a), min_a.id)["sites"] == 1


def test_usage_is_one_grouped_query_and_fast_at_scale(make, min_a, wm_a):
    """10,000 sites and 50,000 mailboxes worth of holds: one grouped query, well under a second."""
    with db.unit_of_work() as s:
        s.execute(
            insert(Request),
            [
                {"id": 100000 + i, "kind": "test.widget", "org_id": min_a.id, "status": S.DONE, "payload": {"count": 1}}
                for i in range(20000)
            ],
        )
        rows = [{"request_id": 100000 + i, "org_id": min_a.id, "resource": "sites", "amount": 1} for i in range(10000)]
        rows += [
            {"request_id": 110000 + i, "org_id": min_a.id, "resource": "mailboxes", "amount": 5} for i in range(10000)
        ]
        s.execute(insert(RequestQuota), rows)
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        if "request_quotas" in statement:
            seen.append(statement)

    event.listen(db.engine(), "before_cursor_execute", count)
    try:
        got = used(make.actor_of(wm_a), min_a.id)
    finally:
        event.remove(db.engine(), "before_cursor_execute", count)
    assert got["sites"] == 10000 and got["mailboxes"] == 50000
    assert len(seen) == 1 and "GROUP BY" in seen[0]  # one grouped query, whatever the row count


def test_quota_set_is_admin_only_audited_and_in_history(make, min_a, oa_a, op1, admin):
    with pytest.raises(Forbidden):
        quotas.quota_set(make.actor_of(op1), org_id=min_a.id, resource="sites", limit=50)
    with pytest.raises(Forbidden):
        quotas.quota_set(make.actor_of(oa_a), org_id=min_a.id, resource="sites", limit=50)
    change = quotas.quota_set(make.actor_of(admin), org_id=min_a.id, resource="dns_zones", limit=12, reason="ok")
    assert (change.old, change.new, change.requested_by, change.approved_by) == (5, 12, "dcadmin", "dcadmin")
    history = quotas.quota_history(make.actor_of(oa_a), min_a.id)
    assert [(h.resource, h.new) for h in history.items] == [("dns_zones", 12)]
    entry = audit_rows("quota.set")[-1]
    assert (entry.actor_name, entry.org_id) == ("dcadmin", min_a.id)
    with db.unit_of_work() as s:
        assert s.scalars(select(QuotaLimitChange)).one().id == change.id
    rows = quotas.quota_usage(make.actor_of(oa_a), min_a.id)
    assert [r.resource for r in rows] == list(DEFAULT_LIMITS)
    assert {r.resource: r.limit for r in rows}["dns_zones"] == 12
