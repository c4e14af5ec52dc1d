"""Requests: create, submit, approve (with the four-eyes rule), reject, cancel, comment, retry.

Every kind runs through the same path. Submission validates the payload with the kind, records the
quota it asks (not yet held), checks the budget, places it, then asks approvers, or approves at once
when the kind's policy is `auto`. The last approval re-checks the budget under a lock on the
ministry, moves the request to approved (the budget is held from then on) and calls the kind's
on_approve, which submits the job(s); jobs are enqueued after commit by the job service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from panel import db, events, security
from panel.errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound, PanelError
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.quotas import RequestQuota
from panel.models.requests import (
    APPROVALS_NEEDED,
    ApprovalMode,
    Decision,
    Request,
    RequestApproval,
    RequestComment,
    RequestStatus,
)
from panel.models.tenants import Organization, OrgKind, Role
from panel.services import jobs, request_kinds
from panel.services.actor import (
    Actor,
    datacenter_org_id,
    get_scoped,
    require_staff,
    require_write,
    scoped,
    system_actor,
)
from panel.services.audit import audited
from panel.services.notifications import N_, notify, staff_approvers
from panel.services.pagination import Page, Window, paginate, window
from panel.services.policies import policy_mode
from panel.services.quotas import Impact, check_deltas, quota_check, quota_impact, quota_keep, quota_record
from panel.services.request_kinds import RequestKind
from panel.services.tenants import clean_text, valid_id

S = RequestStatus
AUTO_APPROVER = "policy:auto"
MAX_PAYLOAD = 16_000  # characters of JSON: payloads are small descriptions, never files


# ---- helpers -----------------------------------------------------------------------------------


def org_roles_up(actor: Actor, org: Organization) -> frozenset[Role]:
    """The actor's ministry roles in `org` or any organization above it."""
    roles: set[Role] = set()
    seen = set()
    while org is not None and org.id not in seen:
        seen.add(org.id)
        roles |= actor.roles_in(org.id)
        org = org.parent
    return frozenset(roles)


def _kind_and_org(actor: Actor, kind_name, org_id) -> tuple[RequestKind, Organization]:
    kind = request_kinds.get(kind_name)
    if org_id in (None, "") and kind.staff_only:
        org_id = datacenter_org_id()
    org_id = valid_id(org_id)
    org = db.session().get(Organization, org_id)
    if org is None or not (actor.sees_all or org_id in actor.org_ids):
        raise NotFound("organization.not_found", "Not found.", field="org_id", id=str(org_id))
    require_write(actor)
    if not kind.may_request(actor, org_roles_up(actor, org)):
        # {label} is the kind's name for people (the surfaces translate it); {kind} stays for clients
        raise Forbidden(
            "request.kind_forbidden", "You may not ask for this: {label}.", kind=kind.name, label=kind.label
        )
    return kind, org


def _locked(actor: Actor, request_id) -> Request:
    """The request, scoped to the actor and locked until commit (approvals of one request queue)."""
    req = get_scoped(Request, valid_id(request_id, "request"), actor, "request")
    db.session().refresh(req, with_for_update=True)
    return req


def _deltas(session: Session, req: Request) -> dict[str, int]:
    rows = session.scalars(select(RequestQuota).where(RequestQuota.request_id == req.id))
    return {r.resource: r.amount for r in rows}


def _check_payload(payload) -> dict:
    if not isinstance(payload, dict):
        raise Invalid("request.payload_invalid", "The payload must be an object of fields.", field="payload")
    if len(json.dumps(payload, default=str)) > MAX_PAYLOAD:
        raise Invalid("request.payload_too_large", "The payload is too large.", field="payload")
    return dict(payload)


def clean_body(value, field: str, *, max_len: int, required: bool) -> str:
    """Multi-line user text (comments): newlines and tabs allowed, other control characters not."""
    return clean_text(value, field, max_len=max_len, required=required, multiline=True)


def _require_approver(actor: Actor) -> None:
    require_write(actor)
    require_staff(actor, Role.OPERATOR, Role.ADMIN)
    if actor.user_id is None:
        raise Forbidden("request.approver_unknown", "A decision needs a named person (on the CLI: --as USERNAME).")


def _require_not_own(actor: Actor, req: Request) -> None:
    if req.requester_id is not None and actor.user_id == req.requester_id:
        raise Forbidden("request.self_approval", "Nobody decides on their own request.")


def _require_owner_side(actor: Actor, req: Request) -> None:
    """The requester, an org_admin of the ministry, or a data-center operator/admin."""
    require_write(actor)
    if actor.has_staff(Role.OPERATOR, Role.ADMIN) or (req.requester_id and req.requester_id == actor.user_id):
        return
    org = db.session().get(Organization, req.org_id)
    if Role.ORG_ADMIN not in org_roles_up(actor, org):
        raise Forbidden("request.not_yours", "Only the requester, a ministry admin or staff can do this.")


def request_secrets(req: Request) -> dict:
    """The sealed secrets of a request, for a kind's on_approve (never shown, logged or audited)."""
    return json.loads(security.unseal(req.secrets)) if req.secrets else {}


def _link(req: Request) -> str:
    return f"/requests/{req.id}"


# ---- the path of a request ---------------------------------------------------------------------


def _submit(actor: Actor, s: Session, req: Request, kind: RequestKind) -> None:
    req.move_to(S.SUBMITTED)
    mode = policy_mode(s, req.kind)
    req.approvals_needed = APPROVALS_NEEDED[mode]
    quota_check(actor, req.org_id, _deltas(s, req), exclude_request_id=req.id)
    req.target_host_id = kind.place(s, s.get(Organization, req.org_id), req.payload)
    if mode == ApprovalMode.AUTO:
        req.approvals.append(RequestApproval(approver_id=None, approver_name=AUTO_APPROVER, decision=Decision.APPROVE))
        _grant(actor, s, req, kind)
        return
    notify(
        s,
        staff_approvers(s, exclude=req.requester_id),
        kind="request.submitted",
        org_id=req.org_id,
        subject=N_("Request #{id} ({kind_label}) waits for approval"),
        body=SUMMARY,
        params=_params(req, kind),
        link=_link(req),
    )


def _grant(actor: Actor, s: Session, req: Request, kind: RequestKind) -> None:
    """The last approval: budget re-checked under the ministry's lock, then the work starts."""
    quota_check(actor, req.org_id, _deltas(s, req), exclude_request_id=req.id, lock=True)
    placed = kind.place(s, s.get(Organization, req.org_id), req.payload)
    req.target_host_id = placed if placed is not None else req.target_host_id
    req.move_to(S.APPROVED)
    s.flush()
    _start(actor, req, kind.on_approve)


def _start(actor: Actor, req: Request, start) -> None:
    jobs = start(actor, req)
    if jobs:
        req.move_to(S.PROVISIONING)
        return
    if req.status == S.RETRIED:  # nothing to run again: retried -> provisioning -> done
        req.move_to(S.PROVISIONING)
    req.move_to(S.DONE)


@audited("request.create", "request", exclude=("secrets",))
def request_create(
    actor: Actor,
    *,
    kind: str,
    org_id: int | None = None,
    payload: dict,
    secrets: dict | None = None,
    submit: bool = True,
) -> Request:
    """A new request, submitted at once unless submit=False (then it stays a draft)."""
    with db.unit_of_work() as s:
        k, org = _kind_and_org(actor, kind, org_id)
        clean = k.validate(actor, org, request_kinds.load_payload(k, _check_payload(payload)))
        hidden = k.validate_secrets(actor, org, dict(secrets or {}))
        deltas = check_deltas(k.quota(clean))
        req = _request_add(s, k, org, clean, hidden, requester=(actor.user_id, actor.username))
        quota_record(s, req, deltas)
        if submit:
            _submit(actor, s, req, k)
        return req


def _request_add(s: Session, k, org: Organization, clean: dict, hidden: dict, *, requester: tuple) -> Request:
    """The new request row (a draft): the validated payload, its summary, the secrets sealed."""
    req = Request(
        kind=k.name,
        org_id=org.id,
        requester_id=requester[0],
        requester_name=requester[1],
        payload=clean,
        summary=(request_kinds.describe_text(k.describe(clean)) or k.name)[:300],
        secrets=security.seal(json.dumps(hidden)) if hidden else None,
    )
    s.add(req)
    s.flush()
    if k.on_create is not None:
        k.on_create(s, req)
    return req


@audited("request.create_granted", "request", exclude=("secrets", "payload"))
def request_create_granted(
    actor: Actor, bundle: Request, *, kind: str, payload: dict, secrets: dict | None = None
) -> Request:
    """A request approved by an approved bundle (bulk provisioning's one approval of a whole plan),
    filed for the bundle's requester: validated, budget-checked, placed and started like any other,
    its approval naming the bundle. Called inside the bundle's approval (its transaction)."""
    if bundle.status not in (S.APPROVED, S.PROVISIONING):
        raise InvalidTransition(kind="request", current=bundle.status.value, target=S.APPROVED.value)
    with db.unit_of_work() as s:
        k = request_kinds.get(kind)
        org = s.get(Organization, bundle.org_id)
        clean = k.validate(actor, org, request_kinds.load_payload(k, _check_payload_sized(payload)))
        hidden = k.validate_secrets(actor, org, dict(secrets or {}))
        req = _request_add(s, k, org, clean, hidden, requester=(bundle.requester_id, bundle.requester_name))
        quota_record(s, req, check_deltas(k.quota(clean)))
        req.move_to(S.SUBMITTED)
        req.approvals_needed = 0
        req.approvals.append(
            RequestApproval(approver_id=None, approver_name=f"bundle:{bundle.id}", decision=Decision.APPROVE)
        )
        _grant(actor, s, req, k)
        return req


@audited("request.record", "request")
def request_record(actor: Actor, *, kind: str, org_id: int, payload: dict, comment: str = "") -> Request:
    """A done request that records, in the ministry's own request list, an action staff took at once
    without asking (a security operation center containment: a user locked, a token revoked), with
    `comment` (the reason) as its first comment. Only for kinds nobody may ask for
    (`RequestKind.recorded_only`): the action is already taken, so no policy, budget or job applies;
    its one approval names the person who acted."""
    require_write(actor)
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        k = request_kinds.get(kind)
        if not k.recorded_only:
            raise Forbidden("request.kind_forbidden", "You may not ask for this: {label}.", kind=k.name, label=k.label)
        org = s.get(Organization, valid_id(org_id))
        if org is None:
            raise NotFound("organization.not_found", "Not found.", field="org_id", id=str(org_id))
        clean = k.validate(actor, org, request_kinds.load_payload(k, _check_payload(payload)))
        req = _request_add(s, k, org, clean, {}, requester=(actor.user_id, actor.username))
        req.move_to(S.SUBMITTED)
        req.approvals_needed = 0
        req.approvals.append(
            RequestApproval(approver_id=actor.user_id, approver_name=actor.username, decision=Decision.APPROVE)
        )
        req.move_to(S.APPROVED)
        req.move_to(S.DONE)
        if comment:
            body = clean_body(comment, "comment", max_len=4000, required=True)
            req.comments.append(RequestComment(author_id=actor.user_id, author_name=actor.username, body=body))
        s.flush()
        return req


def _check_payload_sized(payload) -> dict:
    """A bundle's batches may be larger than a typed request's payload (500 sites), never unbounded."""
    if not isinstance(payload, dict):
        raise Invalid("request.payload_invalid", "The payload must be an object of fields.", field="payload")
    if len(json.dumps(payload, default=str)) > MAX_PAYLOAD * 20:
        raise Invalid("request.payload_too_large", "The payload is too large.", field="payload")
    return dict(payload)


@audited("request.submit", "request")
def request_submit(actor: Actor, request_id: int) -> Request:
    with db.unit_of_work() as s:
        req = _locked(actor, request_id)
        _require_owner_side(actor, req)
        _submit(actor, s, req, request_kinds.get(req.kind))
        return req


@audited("request.approve", "request")
def request_approve(actor: Actor, request_id: int, *, comment: str = "") -> Request:
    """One approval; the request is approved when its policy's number of different people agreed."""
    comment = clean_body(comment, "comment", max_len=2000, required=False)
    with db.unit_of_work() as s:
        req = _locked(actor, request_id)
        _require_approver(actor)
        if req.status != S.SUBMITTED:
            raise InvalidTransition(kind="request", current=req.status.value, target=S.APPROVED.value)
        _require_not_own(actor, req)
        if actor.user_id in req.approvers:
            raise Conflict("request.already_approved", "You approved this request already; another person must.")
        req.approvals.append(
            RequestApproval(
                approver_id=actor.user_id, approver_name=actor.username, decision=Decision.APPROVE, comment=comment
            )
        )
        s.flush()
        if len(req.approvers) >= req.approvals_needed:
            _grant(actor, s, req, request_kinds.get(req.kind))
        return req


@audited("request.reject", "request")
def request_reject(actor: Actor, request_id: int, *, comment: str) -> Request:
    with db.unit_of_work() as s:
        req = _locked(actor, request_id)
        _require_approver(actor)
        comment = clean_body(comment, "comment", max_len=2000, required=True)
        _require_not_own(actor, req)
        req.move_to(S.REJECTED)
        req.approvals.append(
            RequestApproval(
                approver_id=actor.user_id, approver_name=actor.username, decision=Decision.REJECT, comment=comment
            )
        )
        s.flush()
        return req


@audited("request.cancel", "request")
def request_cancel(actor: Actor, request_id: int, *, comment: str = "") -> Request:
    """Withdraw a draft or submitted request, or give up a failed one: its budget is freed, but for
    what its jobs made that still lives (the kind's `kept`), and the kind's on_give_up submits the
    clean-up of what its failed jobs left on the hosts."""
    comment = clean_body(comment, "comment", max_len=2000, required=False)
    with db.unit_of_work() as s:
        req = _locked(actor, request_id)
        _require_owner_side(actor, req)
        given_up = req.status == S.FAILED
        kind = request_kinds.get(req.kind)
        # before on_give_up moves the failed objects on: what lives now is what keeps holding
        kept = kind.kept(s, req) if given_up and kind.kept is not None else {}
        req.move_to(S.CANCELLED)
        quota_keep(s, req.id, kept)
        if comment:
            req.comments.append(RequestComment(author_id=actor.user_id, author_name=actor.username, body=comment))
        s.flush()
        if given_up:
            _give_up(s, req, kind)
        return req


def _give_up(s: Session, req: Request, kind: RequestKind) -> None:
    """The kind's clean-up jobs, submitted by the panel itself (the cancel is what is audited). If
    they cannot start (host down, ...), the rows stay failed and the request says why."""
    if kind.on_give_up is None:
        return
    try:
        with s.begin_nested():
            kind.on_give_up(system_actor("worker", "panel:give-up"), req)
    except PanelError as e:
        text = f"Clean-up after the cancel could not start: {e.text()}"[:4000]
        req.comments.append(RequestComment(author_id=None, author_name="panel", body=text))


@audited("request.comment", "request")
def request_comment(actor: Actor, request_id: int, *, body: str) -> Request:
    body = clean_body(body, "body", max_len=4000, required=True)
    require_write(actor)
    with db.unit_of_work() as s:
        req = get_scoped(Request, valid_id(request_id, "request"), actor, "request")
        req.comments.append(RequestComment(author_id=actor.user_id, author_name=actor.username, body=body))
        s.flush()
        return req


@audited("request.retry", "request")
def request_retry(actor: Actor, request_id: int) -> Request:
    """failed -> retried -> provisioning with new job(s); the budget stayed held meanwhile.

    A kind without its own on_retry retries its last job (jobs.job_retry keeps the lineage and
    the sealed secrets, and moves the request); otherwise on_retry (or on_approve) runs again.
    """
    with db.unit_of_work() as s:
        req = _locked(actor, request_id)
        _require_owner_side(actor, req)
        if req.status != S.FAILED:
            raise InvalidTransition(kind="request", current=req.status.value, target=S.RETRIED.value)
        kind = request_kinds.get(req.kind)
        last = s.scalars(select(Job).where(Job.request_id == req.id).order_by(Job.id.desc())).first()
        if kind.on_retry is None and last is not None:
            jobs.job_retry(actor, last.id)
            return req
        req.move_to(S.RETRIED)
        req.retries += 1
        s.flush()
        _start(actor, req, kind.on_retry or kind.on_approve)
        return req


# ---- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """What an approver sees before deciding: the request, its budget impact and its target host."""

    request: Request
    impact: list[Impact]
    target_host: str
    mode: ApprovalMode
    approvals_have: int
    jobs: tuple = ()  # job_public() of the request's jobs, oldest first (the page follows them live)

    @property
    def within_budget(self) -> bool:
        return all(row.ok for row in self.impact)


def _request_filter(
    stmt, actor: Actor, *, status: str | None = None, kind: str | None = None, org_id=None, mine: bool = False
):
    stmt = scoped(stmt, actor, Request)
    if status:
        try:
            stmt = stmt.where(Request.status == RequestStatus(status))
        except ValueError:
            raise Invalid(
                "request.status_invalid", "Unknown status: {status}.", field="status", status=str(status)[:32]
            ) from None
    if kind:
        stmt = stmt.where(Request.kind == str(kind)[:64])
    if org_id not in (None, ""):
        stmt = stmt.where(Request.org_id == valid_id(org_id))
    if mine:
        stmt = stmt.where(Request.requester_id == (actor.user_id or -1))
    return stmt


def request_list(
    actor: Actor,
    *,
    page: int = 1,
    per_page: int = 50,
    status: str | None = None,
    kind: str | None = None,
    org_id: int | None = None,
    mine: bool = False,
) -> Page:
    """Newest first, scoped to the actor; status="submitted" is the approvals queue."""
    stmt = _request_filter(select(Request), actor, status=status, kind=kind, org_id=org_id, mine=mine)
    with db.unit_of_work():
        return paginate(stmt.order_by(Request.id.desc()), page=page, per_page=per_page)


_WINDOW_COLUMNS = (
    "id",
    "kind",
    "org_id",
    "requester_name",
    "status",
    "summary",
    "payload",
    "target_host_id",
    "approvals_needed",
    "retries",
    "created_at",
    "submitted_at",
    "decided_at",
    "finished_at",
)


def request_window(
    actor: Actor,
    *,
    per_page: int = 50,
    cursor: str | None = None,
    page: int | None = None,
    with_total: bool = False,
    **filters,
) -> Window:
    """request_list as plain rows by cursor, newest first, without approvals and comments (one
    statement; GET /requests/{id} has the conversation)."""
    stmt = _request_filter(select(*(getattr(Request, c) for c in _WINDOW_COLUMNS)), actor, **filters)
    return window(
        stmt, [(Request.id, "id")], descending=True, per_page=per_page, cursor=cursor, page=page, with_total=with_total
    )


def request_kinds_for(actor: Actor) -> list[RequestKind]:
    """Kinds the actor may ask for in at least one of their organizations (for menus and choices)."""
    roles = actor.staff_roles.union(*actor.org_roles.values()) if actor.can_write else frozenset()
    return [k for k in request_kinds.all() if k.who_may_request & roles]


def request_orgs(actor: Actor) -> list[Organization]:
    """Organizations a request may be filed for: staff see every active ministry and department."""
    stmt = select(Organization).where(Organization.is_active.is_(True), Organization.kind != OrgKind.DATACENTER)
    if not actor.sees_all:
        stmt = stmt.where(Organization.id.in_(actor.org_ids))
    with db.unit_of_work() as s:
        return list(s.scalars(stmt.order_by(Organization.name).limit(500)))


def request_get(actor: Actor, request_id) -> Request:
    with db.unit_of_work():
        return get_scoped(Request, valid_id(request_id, "request"), actor, "request")


def request_preview(actor: Actor, request_id) -> Preview:
    with db.unit_of_work() as s:
        req = get_scoped(Request, valid_id(request_id, "request"), actor, "request")
        impact = quota_impact(s, req.org_id, _deltas(s, req), exclude_request_id=req.id)
        host = s.get(Host, req.target_host_id) if req.target_host_id else None
        mode = policy_mode(s, req.kind) if req.status in (S.DRAFT, S.SUBMITTED) else ApprovalMode.ONE
        rows = s.scalars(select(Job).where(Job.request_id == req.id).order_by(Job.id).limit(50))
        return Preview(
            req,
            impact,
            host.name if host else "",
            mode,
            len(req.approvers),
            tuple(jobs.job_public(actor, j) for j in rows),
        )


# ---- notifications on every move (also when the job runner finishes a request) -----------------

_TOLD = {
    S.APPROVED: N_("Request #{id} ({kind_label}) was approved"),
    S.REJECTED: N_("Request #{id} ({kind_label}) was rejected"),
    S.DONE: N_("Request #{id} ({kind_label}) is done"),
    S.FAILED: N_("Request #{id} ({kind_label}) failed"),
}
SUMMARY = N_("{summary}")  # the requester's own words: shown as written


def _params(req: Request, kind: RequestKind | None = None) -> dict:
    if kind is None:
        try:
            kind = request_kinds.get(req.kind)
        except NotFound:  # a kind no longer installed: its name stands in for the label
            return {"id": req.id, "kind_label": req.kind, "summary": req.summary or ""}
    label = kind.label
    return {"id": req.id, "kind_label": label, "summary": req.summary or ""}


@events.request_moved.connect
def _notify_requester(req: Request, *, old: RequestStatus, new: RequestStatus, **_) -> None:
    s = object_session(req)
    if new not in _TOLD or req.requester_id is None or s is None:
        return
    notify(
        s,
        [req.requester_id],
        kind=f"request.{new.value}",
        org_id=req.org_id,
        link=_link(req),
        subject=_TOLD[new],
        body=SUMMARY,
        params=_params(req),
    )
