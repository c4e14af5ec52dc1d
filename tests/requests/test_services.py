"""The request flow through the service functions: approvals, four-eyes, auto, budgets, audit."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from panel import db
from panel.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound, QuotaExceeded
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.notifications import Notification
from panel.models.quotas import QuotaLimitChange
from panel.models.requests import ApprovalMode, RequestStatus
from panel.services import quotas, request_kinds
from panel.services import requests as svc
from panel.services.request_kinds import RequestKind, reject_unknown, require_text
from tests.support.fixtures import MINISTRY, SYSTEM, audit_rows, reload, set_limit, set_policy

S = RequestStatus


def widget(actor, org, count=1, **kw):
    return svc.request_create(actor, kind="test.widget", org_id=org.id, payload={"count": count}, **kw)


def notes(user) -> list[Notification]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)))


def test_quota_change_flow_with_history(make, min_a, oa_a, op1, op2):
    req = svc.request_create(
        make.actor_of(oa_a),
        kind="quota.change",
        org_id=min_a.id,
        payload={"resource": "sites", "new_limit": 30, "reason": "new portal"},
    )
    assert req.status == S.SUBMITTED and req.approvals_needed == 1
    assert [n.kind for n in notes(op1)] == ["request.submitted"] == [n.kind for n in notes(op2)]
    assert notes(oa_a) == []

    done = svc.request_approve(make.actor_of(op1), req.id, comment="ok for the portal")
    assert done.status == S.DONE and done.decided_at and done.finished_at
    assert {r.resource: r.limit for r in quotas.quota_usage(make.actor_of(oa_a), min_a.id)}["sites"] == 30
    with db.unit_of_work() as s:
        change = s.scalars(select(QuotaLimitChange)).one()
    assert (change.org_id, change.resource, change.old, change.new) == (min_a.id, "sites", 5, 30)
    assert (change.requested_by, change.approved_by, change.request_id) == ("oa_a", "op1", req.id)
    assert change.reason == "new portal" and change.created_at
    assert [n.kind for n in notes(oa_a)] == ["request.approved", "request.done"]


def test_webmaster_may_not_ask_for_quota_and_auditor_may_not_approve(make, min_a, wm_a, oa_a, auditor):
    with pytest.raises(Forbidden) as e:
        svc.request_create(
            make.actor_of(wm_a),
            kind="quota.change",
            org_id=min_a.id,
            payload={"resource": "sites", "new_limit": 9, "reason": "x"},
        )
    assert e.value.key == "request.kind_forbidden"
    req = widget(make.actor_of(oa_a), min_a)
    with pytest.raises(Forbidden):
        svc.request_approve(make.actor_of(auditor), req.id)
    assert reload(req.id).status == S.SUBMITTED


def test_self_approval_refused(make, min_a, op1):
    req = widget(make.actor_of(op1), min_a)
    for decide in (
        lambda: svc.request_approve(make.actor_of(op1), req.id),
        lambda: svc.request_reject(make.actor_of(op1), req.id, comment="mine"),
    ):
        with pytest.raises(Forbidden) as e:
            decide()
        assert e.value.key == "request.self_approval"
    assert reload(req.id).status == S.SUBMITTED and reload(req.id).approvals == []


def test_four_eyes_needs_two_different_people(make, min_a, wm_a, op1, op2):
    set_policy("test.widget", "two")
    req = widget(make.actor_of(wm_a), min_a)
    assert req.approvals_needed == 2
    assert svc.request_approve(make.actor_of(op1), req.id).status == S.SUBMITTED
    with pytest.raises(Conflict) as e:
        svc.request_approve(make.actor_of(op1), req.id)
    assert e.value.key == "request.already_approved"
    assert reload(req.id).status == S.SUBMITTED
    assert svc.request_approve(make.actor_of(op2), req.id).status == S.DONE
    assert [a.approver_name for a in reload(req.id).approvals] == ["op1", "op2"]


def test_system_actor_cannot_decide(make, min_a, wm_a):
    req = widget(make.actor_of(wm_a), min_a)
    with pytest.raises(Forbidden) as e:
        svc.request_approve(SYSTEM, req.id)
    assert e.value.key == "request.approver_unknown"


def test_auto_approves_within_budget_and_refuses_over_it_with_numbers(make, min_a, wm_a, op1):
    set_policy("test.widget", "auto")
    set_limit(min_a.id, "sites", 3)
    req = widget(make.actor_of(wm_a), min_a, count=2)
    assert req.status == S.DONE
    assert [(a.approver_id, a.approver_name) for a in req.approvals] == [(None, "policy:auto")]
    with pytest.raises(QuotaExceeded) as e:
        widget(make.actor_of(wm_a), min_a, count=2)
    assert e.value.key == "quota.sites" and e.value.status == 409
    assert e.value.params == {"resource": "quota.sites", "used": 2, "asked": 2, "limit": 3}
    assert str(e.value) == "quota.sites: used 2, asked 2, limit 3."
    with db.unit_of_work() as s:  # refused before anything was stored
        assert s.scalar(select(func.count()).select_from(svc.Request)) == 1
    assert notes(op1) == []  # auto approvals ask nobody


def test_over_budget_refused_at_approval_before_holding(make, min_a, wm_a, op1):
    set_limit(min_a.id, "sites", 2)
    first, second = widget(make.actor_of(wm_a), min_a, count=2), widget(make.actor_of(wm_a), min_a, count=2)
    preview = svc.request_preview(make.actor_of(op1), second.id)
    assert [(i.resource, i.used, i.asked, i.limit, i.after, i.ok) for i in preview.impact] == [
        ("sites", 0, 2, 2, 2, True)
    ]
    svc.request_approve(make.actor_of(op1), first.id)
    preview = svc.request_preview(make.actor_of(op1), second.id)
    assert not preview.within_budget and preview.impact[0].after == 4
    with pytest.raises(QuotaExceeded) as e:
        svc.request_approve(make.actor_of(op1), second.id)
    assert (e.value.key, e.value.params["used"], e.value.params["asked"], e.value.params["limit"]) == (
        "quota.sites",
        2,
        2,
        2,
    )
    again = reload(second.id)
    assert again.status == S.SUBMITTED and again.approvals == []  # the approval was rolled back too


def test_reject_needs_a_comment_and_tells_the_requester(make, min_a, wm_a, op1):
    req = widget(make.actor_of(wm_a), min_a)
    with pytest.raises(Invalid) as e:
        svc.request_reject(make.actor_of(op1), req.id, comment="  ")
    assert e.value.field == "comment"
    out = svc.request_reject(make.actor_of(op1), req.id, comment="not this year")
    assert out.status == S.REJECTED and out.approvals[0].comment == "not this year"
    assert [n.kind for n in notes(wm_a)] == ["request.rejected"]
    with pytest.raises(InvalidTransition):
        svc.request_approve(make.actor_of(op1), req.id)


def test_draft_submit_cancel_and_refused_moves(make, min_a, wm_a, oa_a, wm_b, op1):
    draft = widget(make.actor_of(wm_a), min_a, submit=False)
    assert draft.status == S.DRAFT and draft.submitted_at is None
    assert svc.request_submit(make.actor_of(wm_a), draft.id).status == S.SUBMITTED
    assert svc.request_cancel(make.actor_of(oa_a), draft.id).status == S.CANCELLED
    done = widget(make.actor_of(wm_a), min_a)
    svc.request_approve(make.actor_of(op1), done.id)
    with pytest.raises(InvalidTransition) as e:
        svc.request_cancel(make.actor_of(wm_a), done.id)
    assert e.value.params == {"kind": "request", "current": "done", "target": "cancelled"}
    with pytest.raises(InvalidTransition):
        svc.request_retry(make.actor_of(wm_a), done.id)
    with pytest.raises(NotFound) as e:
        svc.request_cancel(make.actor_of(wm_b), done.id)
    assert e.value.key == "request.not_found"


def test_other_ministry_sees_nothing(make, min_a, min_b, wm_a, wm_b, op1):
    req = widget(make.actor_of(wm_a), min_a)
    b = make.actor_of(wm_b)
    for call in (
        lambda: svc.request_get(b, req.id),
        lambda: svc.request_preview(b, req.id),
        lambda: svc.request_comment(b, req.id, body="hi"),
        lambda: svc.request_submit(b, req.id),
    ):
        with pytest.raises(NotFound) as e:
            call()
        assert e.value.key == "request.not_found"
    assert svc.request_list(b).total == 0
    assert svc.request_list(make.actor_of(op1)).total == 1
    with pytest.raises(NotFound):
        widget(b, min_a)
    with pytest.raises(NotFound):
        quotas.quota_usage(b, min_a.id)


def test_audit_entry_for_each_decision_and_comment(make, min_a, wm_a, op1, op2):
    req = widget(make.actor_of(wm_a), min_a)
    svc.request_comment(make.actor_of(wm_a), req.id, body="please, before Monday")
    svc.request_approve(make.actor_of(op1), req.id, comment="fine")
    other = widget(make.actor_of(wm_a), min_a)
    svc.request_reject(make.actor_of(op2), other.id, comment="duplicate")
    rows = [(r.action, r.actor_name, r.object_id, r.org_id) for r in audit_rows("request.")]
    assert rows == [
        ("request.create", "wm_a", str(req.id), min_a.id),
        ("request.comment", "wm_a", str(req.id), min_a.id),
        ("request.approve", "op1", str(req.id), min_a.id),
        ("request.create", "wm_a", str(other.id), min_a.id),
        ("request.reject", "op2", str(other.id), min_a.id),
    ]
    assert "please, before Monday" in audit_rows("request.comment")[0].summary
    assert "duplicate" in audit_rows("request.reject")[0].summary


def _secret_validate(actor, org, secrets):
    reject_unknown(secrets, {"password"})
    return {"password": require_text(secrets, "password", max_len=200)}


request_kinds.register(
    RequestKind(
        name="test.secretive",
        label="Test secretive",
        who_may_request=MINISTRY,
        validate=lambda a, o, p: {"name": require_text(p, "name", max_len=50)},
        validate_secrets=_secret_validate,
        describe=lambda p: p["name"],
    )
)


def test_secrets_are_sealed_and_never_audited(make, min_a, wm_a):
    pw = "Hunter2-secret-Zz9"
    req = svc.request_create(
        make.actor_of(wm_a), kind="test.secretive", org_id=min_a.id, payload={"name": "box"}, secrets={"password": pw}
    )
    assert pw not in (req.secrets or "") and svc.request_secrets(reload(req.id)) == {"password": pw}
    assert all(pw not in r.summary for r in audit_rows())
    with pytest.raises(Invalid) as e:
        widget(make.actor_of(wm_a), min_a, secrets={"password": pw})
    assert e.value.key == "request.secrets_unexpected"


@pytest.mark.parametrize(
    "payload",
    [
        {"count": 0},
        {"count": "; id"},
        {"count": 1, "x": 1},
        {"count": True},
        {"count": "{{ 7*7 }}"},
        {},
        {"count": 10**30},
    ],
)
def test_bad_payloads_are_refused_with_a_field(make, min_a, wm_a, payload):
    with pytest.raises(Invalid) as e:
        svc.request_create(make.actor_of(wm_a), kind="test.widget", org_id=min_a.id, payload=payload)
    assert e.value.field


def test_unknown_kind_and_bad_quota_change(make, min_a, oa_a):
    with pytest.raises(NotFound) as e:
        svc.request_create(make.actor_of(oa_a), kind="../etc", org_id=min_a.id, payload={})
    assert e.value.key == "request.kind_unknown"
    for payload, field in [
        ({"resource": "cpus", "new_limit": 1, "reason": "x"}, "resource"),
        ({"resource": "sites", "new_limit": -1, "reason": "x"}, "new_limit"),  # the schema names the field
        ({"resource": "sites", "new_limit": 3, "reason": "x\x00"}, "reason"),
    ]:
        with pytest.raises(Invalid) as e:
            svc.request_create(make.actor_of(oa_a), kind="quota.change", org_id=min_a.id, payload=payload)
        assert e.value.field == field


def make_host(name="web1") -> Host:
    with db.unit_of_work() as s:
        host = Host(
            name=name, address="10.77.0.11", host_key_type="ssh-ed25519", host_key="AAAAC3Nza", fingerprint="SHA256:x"
        )
        s.add(host)
        s.flush()
        return host


def test_host_ping_submits_a_job_and_retry_after_failure(make, dc, op1, op2):
    host = make_host()
    set_policy("host.ping", ApprovalMode.ONE)
    req = svc.request_create(make.actor_of(op1), kind="host.ping", payload={"host_id": host.id})
    assert req.org_id == dc.id and req.target_host_id == host.id
    assert svc.request_preview(make.actor_of(op2), req.id).target_host == "web1"
    assert svc.request_approve(make.actor_of(op2), req.id).status == S.PROVISIONING
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        assert job.kind == "host.ping" and job.host_ids == [host.id]
        # What the runner does when the playbook fails (the job engine's own tests run it for real):
        job.status = job.status.__class__.FAILED
        s.get(svc.Request, req.id).move_to(S.FAILED)
    assert [n.kind for n in notes(op1)][-1] == "request.failed"
    again = svc.request_retry(make.actor_of(op1), req.id)
    assert again.status == S.PROVISIONING and again.retries == 1
    with db.unit_of_work() as s:
        assert [j.attempt for j in s.scalars(select(Job).where(Job.request_id == req.id).order_by(Job.id))] == [1, 2]


def test_failed_then_cancelled_releases_the_budget(make, min_a, wm_a, op1):
    set_limit(min_a.id, "sites", 3)
    req = widget(make.actor_of(wm_a), min_a, count=3)
    svc.request_approve(make.actor_of(op1), req.id)
    with db.unit_of_work() as s:  # force the runner's path on a kind without jobs
        r = s.get(svc.Request, req.id)
        r.status = S.PROVISIONING
        r.move_to(S.FAILED)
    usage = {q.resource: q.used for q in quotas.quota_usage(make.actor_of(wm_a), min_a.id)}
    assert usage["sites"] == 3  # still held: a retry is never refused for its own budget
    svc.request_cancel(make.actor_of(wm_a), req.id, comment="giving up")
    usage = {q.resource: q.used for q in quotas.quota_usage(make.actor_of(wm_a), min_a.id)}
    assert usage["sites"] == 0
    assert json.loads(audit_rows("request.cancel")[0].summary)["comment"] == "giving up"
