"""Mass updates of catalogue plugins and themes as a plan (issue 16, updates by policy).

A plan names one approved catalogue version (the target) and the instances that have an older
version of the same slug: those of one ministry, or of every ministry when the data center files it
in its own name. It is a request (`cms.update_plan`, one approval) whose plan rows say, per site,
from which version to which; nothing is sent before the approval. Approval submits one
`cms.plugin_update` job per web host; on the host each site in turn is probed (HTTP 200 and the
health marker), snapshotted (its wp-content without uploads, and a dump of its database made with
its own credentials), updated, and probed again; a failed probe restores the snapshot and the site
is probed once more. Each site's result (updated, rolled back, skipped, failed) and the versions
are recorded on its plan row; the request is done when every job ended.
"""

from __future__ import annotations

import datetime as dt
import enum

from marshmallow import Schema, fields, validate
from sqlalchemy import Boolean, Enum, ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from panel import db, events
from panel.capabilities.cms.catalogue import CatalogueItem, approved_item, version_key
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.cms.plugins import InstanceItem, ItemState, item_vars, site_of
from panel.db import Base, utcnow
from panel.errors import Conflict, Invalid, NotFound
from panel.jobs.capabilities import Capability, host_targets, register
from panel.jobs.submit import job_create, usable_hosts
from panel.models.jobs import Job
from panel.models.requests import ApprovalMode, Request, RequestStatus
from panel.models.state import StateMachine
from panel.models.tenants import MANAGER_ROLES, Organization, OrgKind
from panel.services import requests
from panel.services.actor import Actor, get_scoped
from panel.services.pagination import MAX_ID, Page, paginate
from panel.services.request_kinds import N_, RequestKind, reject_unknown, rule_error
from panel.services.request_kinds import register as register_kind
from panel.services.tenants import valid_id

UPDATE = "cms.plugin_update"
PLAN_KIND = "cms.update_plan"
MAX_TARGETS = 1000  # instances in one plan
PER_JOB = 200  # sites one update job takes on one host (a bigger host gets several jobs)


class TargetStatus(enum.StrEnum):
    PLANNED = "planned"  # in the plan; nothing sent yet
    QUEUED = "queued"  # its host's job is on its way
    UPDATED = "updated"  # the new version answers with the marker
    ROLLED_BACK = "rolled_back"  # the probe failed after the update; the snapshot was restored
    SKIPPED = "skipped"  # the site did not answer well BEFORE the update: left untouched
    FAILED = "failed"  # the job or the rollback failed; see detail


T = TargetStatus
TARGET_TRANSITIONS = {
    T.PLANNED: frozenset({T.QUEUED}),
    T.QUEUED: frozenset({T.UPDATED, T.ROLLED_BACK, T.SKIPPED, T.FAILED}),
    T.FAILED: frozenset({T.QUEUED}),  # a retry runs it again
    T.UPDATED: frozenset(),
    T.ROLLED_BACK: frozenset(),
    T.SKIPPED: frozenset(),
}


class UpdateTarget(StateMachine, Base):
    """One site of a plan: from which version to which, and what happened."""

    __tablename__ = "cms_update_targets"
    TRANSITIONS = TARGET_TRANSITIONS
    STATE_KIND = "cms_update_target"
    SAME_STATE_OK = True  # a retry queues again what a lost job left queued
    __table_args__ = (Index("ix_cms_update_targets_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("cms_instances.id", ondelete="SET NULL"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))
    fqdn: Mapped[str] = mapped_column(String(253))
    kind: Mapped[str] = mapped_column(String(10))
    slug: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[str] = mapped_column(String(40))
    to_version: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("cms_catalogue_items.id", ondelete="SET NULL"))
    status: Mapped[TargetStatus] = mapped_column(
        Enum(TargetStatus, native_enum=False, length=12), default=TargetStatus.PLANNED
    )
    version_after: Mapped[str] = mapped_column(String(40), default="")  # what the host reported at the end
    answered: Mapped[bool | None] = mapped_column(Boolean)  # after a rollback: the site answers as before
    detail: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PlanPayload(Schema):
    item_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata=rule_error(
            "cms.not_in_catalogue", "Only approved items of the data center's catalogue can be installed."
        ),
    )
    instance_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
        validate=validate.Length(min=1, max=MAX_TARGETS),
        metadata={"description": "Only these instances (default: every instance in scope with an older version)."},
    )


# ---- the plan ------------------------------------------------------------------------------------


def _everyone(org: Organization) -> bool:
    """A plan filed in the data center's own name covers every ministry."""
    return org.kind == OrgKind.DATACENTER


def plan_rows(session: Session, org: Organization, item: CatalogueItem, instance_ids=None) -> list[tuple]:
    """(instance, installed row) of every active instance in scope with an older version of the item's
    slug, ordered by host and name: what the plan will update. One query."""
    stmt = (
        select(Instance, InstanceItem)
        .join(InstanceItem, InstanceItem.instance_id == Instance.id)
        .where(
            InstanceItem.kind == item.kind,
            InstanceItem.slug == item.slug,
            InstanceItem.state == ItemState.INSTALLED,
            Instance.status == InstanceStatus.ACTIVE,
        )
        .order_by(Instance.host_id, Instance.fqdn, Instance.id)
    )
    if not _everyone(org):
        stmt = stmt.where(Instance.org_id == org.id)
    if instance_ids is not None:
        stmt = stmt.where(Instance.id.in_(instance_ids))
    target = version_key(item.version)
    return [(i, row) for i, row in session.execute(stmt).all() if version_key(row.version) < target]


def _validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"item_id", "instance_ids"})
    s = db.session()
    item = approved_item(s, payload["item_id"])
    wanted = payload.get("instance_ids")
    if wanted is not None:
        wanted = sorted(set(wanted))
    rows = plan_rows(s, org, item, wanted)
    if wanted is not None and len(rows) != len(wanted):
        missing = sorted(set(wanted) - {i.id for i, _ in rows})
        raise Invalid(
            "cms.update_not_applicable",
            "Instance {id} has no older version of {slug} to update (or is not yours or not active).",
            field="instance_ids",
            id=missing[0],
            slug=item.slug,
        )
    if not rows:
        raise Invalid(
            "cms.update_nothing",
            "No instance in scope has an older version of {slug}.",
            field="item_id",
            slug=item.slug,
        )
    if len(rows) > MAX_TARGETS:
        raise Invalid(
            "cms.update_too_many",
            "A plan updates at most {max} instances: choose them with instance_ids.",
            field="instance_ids",
            max=MAX_TARGETS,
        )
    return {
        "item_id": item.id,
        "kind": item.kind,
        "slug": item.slug,
        "version": item.version,
        "instance_ids": [i.id for i, _ in rows],
        "everyone": _everyone(org),
    }


def _record_plan(session: Session, request: Request) -> None:
    """The plan's rows, written with the request (draft or not): which sites, from which version."""
    p = request.payload
    item = session.get(CatalogueItem, p["item_id"])
    org = session.get(Organization, request.org_id)
    rows = plan_rows(session, org, item, p["instance_ids"])
    session.add_all(
        UpdateTarget(
            request_id=request.id,
            instance_id=inst.id,
            org_id=inst.org_id,
            host_id=inst.host_id,
            fqdn=inst.fqdn,
            kind=item.kind,
            slug=item.slug,
            from_version=row.version,
            to_version=item.version,
            item_id=item.id,
        )
        for inst, row in rows
    )


def _targets(session: Session, request_id: int, statuses) -> list[UpdateTarget]:
    return list(
        session.scalars(
            select(UpdateTarget)
            .where(UpdateTarget.request_id == request_id, UpdateTarget.status.in_(statuses))
            .order_by(UpdateTarget.host_id, UpdateTarget.id)
        )
    )


def _submit(actor: Actor, request: Request, statuses) -> list[Job]:
    """One job per host (and per PER_JOB sites) for the plan's rows in `statuses`."""
    s = db.session()
    approved_item(s, request.payload["item_id"])  # still approved now
    by_host: dict[int, list[UpdateTarget]] = {}
    for t in _targets(s, request.id, statuses):
        by_host.setdefault(t.host_id, []).append(t)
    if not by_host:
        raise Conflict("cms.update_nothing_left", "Nothing is left to update in this plan.")
    down = [h for h in by_host if h is None or not usable_hosts(s, [h]).ids]
    if down:
        raise Conflict("cms.update_host_unusable", "A web host of the plan cannot be used now (down or maintenance).")
    made = []
    for host_id, rows in by_host.items():
        for start in range(0, len(rows), PER_JOB):
            chunk = rows[start : start + PER_JOB]
            job = job_create(
                s,
                kind=UPDATE,
                org_id=request.org_id,
                host_ids=[host_id],
                params={"plan": request.id, "target_ids": [t.id for t in chunk]},
                created_by_id=actor.user_id,
                created_by_name=actor.username,
            )
            for t in chunk:
                t.move_to(TargetStatus.QUEUED)
                t.job_id, t.detail = job.id, ""
            made.append(job)
    return made


def _start(actor: Actor, request: Request) -> list:
    return _submit(actor, request, (TargetStatus.PLANNED,))


def _retry(actor: Actor, request: Request) -> list:
    """A retry runs the sites whose job failed (never those updated, rolled back or skipped)."""
    return _submit(actor, request, (TargetStatus.FAILED, TargetStatus.QUEUED, TargetStatus.PLANNED))


UPDATE_PLAN = register_kind(
    RequestKind(
        name=PLAN_KIND,
        label=N_("Update a plugin or theme on several WordPress sites"),
        who_may_request=MANAGER_ROLES,
        validate=_validate,
        on_create=_record_plan,
        on_approve=_start,
        on_retry=_retry,
        describe=lambda p: (
            N_("{kind} {slug} to {version} on {count} sites"),
            {"kind": p["kind"], "slug": p["slug"], "version": p["version"], "count": len(p["instance_ids"])},
        ),
        schema=PlanPayload,
        default_policy=ApprovalMode.ONE,
    )
)


# ---- the job -------------------------------------------------------------------------------------


def _job_targets(job: Job, session: Session) -> list[UpdateTarget]:
    ids = job.params.get("target_ids") or []
    return list(session.scalars(select(UpdateTarget).where(UpdateTarget.id.in_(ids)).order_by(UpdateTarget.id)))


def _build(job: Job, session: Session):
    updates = []
    for t in _job_targets(job, session):
        inst = session.get(Instance, t.instance_id) if t.instance_id else None
        item = session.get(CatalogueItem, t.item_id) if t.item_id else None
        if inst is None or item is None:
            raise ValueError(f"plan row {t.id}: its instance or catalogue item is gone")
        updates.append(
            {
                "target_id": t.id,
                "instance_id": inst.id,
                **site_of(session, inst, job),
                **item_vars(item),
                "from_version": t.from_version,
            }
        )
    return {"wordpress_updates": updates}, {}, host_targets(job, session)


def _record(job: Job, session: Session, result) -> None:
    said = (result.data or {}).get("wordpress_update_results") or {}
    for t in _job_targets(job, session):
        got = said.get(str(t.id))
        if got is None:  # the run ended before this site
            if t.status == TargetStatus.QUEUED:
                t.move_to(TargetStatus.FAILED)
                t.detail = (result.explanation or "the job ended before this site")[:2000]
            continue
        try:
            said_status = TargetStatus(got.get("status"))
        except ValueError:
            said_status = TargetStatus.FAILED
        # What the host says moves the site on from QUEUED; a word that cannot follow is a failure.
        if t.can_move_to(said_status):
            t.move_to(said_status)
        elif t.can_move_to(TargetStatus.FAILED):
            t.move_to(TargetStatus.FAILED)
        t.detail = str(got.get("detail") or "")[:2000]
        t.version_after = str(got.get("version") or "")[:40]
        t.answered = got.get("answered") if t.status == TargetStatus.ROLLED_BACK else None
        if t.status == TargetStatus.UPDATED and t.instance_id:
            row = session.scalars(
                select(InstanceItem).where(
                    InstanceItem.instance_id == t.instance_id, InstanceItem.kind == t.kind, InstanceItem.slug == t.slug
                )
            ).first()
            if row is not None:
                row.item_id, row.version, row.active = (
                    t.item_id,
                    t.version_after or t.to_version,
                    bool(got.get("active")),
                )


register(
    Capability(
        UPDATE,
        "cms_update.yml",
        _build,
        on_success=_record,
        on_failure=_record,
        timeout_s=3600,
        description=N_("Update plugins or themes on WordPress sites (snapshot, probe, rollback)"),
    )
)


@events.job_finished.connect
def _plan_progress(job: Job, *, session: Session, ok: bool, **_) -> None:
    """The plan's request is done when none of its sites waits for a job; failed if a job failed."""
    if job.kind != UPDATE:
        return
    req = session.get(Request, job.params.get("plan"))
    if req is None or req.kind != PLAN_KIND:
        return
    session.flush()
    if _targets(session, req.id, (TargetStatus.QUEUED,)):
        return
    failed = _targets(session, req.id, (TargetStatus.FAILED,))
    target = RequestStatus.FAILED if failed else RequestStatus.DONE
    if req.can_move_to(target):
        req.move_to(target)


# ---- use cases -----------------------------------------------------------------------------------


def update_plan(actor: Actor, *, org_id, item_id, instance_ids=None) -> Request:
    """File a mass update (a request with its plan rows); the data center approves it once."""
    payload = {"item_id": item_id}
    if instance_ids is not None:
        payload["instance_ids"] = instance_ids
    return requests.request_create(actor, kind=PLAN_KIND, org_id=org_id, payload=payload)


def plan_targets(actor: Actor, request_id) -> list[UpdateTarget]:
    """A plan's rows (its request must be visible to the actor: a data-center-wide plan is the data
    center's request, a 404 for ministries); rows are filtered by the actor's ministries as well."""
    with db.unit_of_work() as s:
        req = get_scoped(Request, valid_id(request_id, "request"), actor, "request")
        if req.kind != PLAN_KIND:
            raise Invalid("cms.not_a_plan", "This request is not an update plan.", field="request_id")
        stmt = select(UpdateTarget).where(UpdateTarget.request_id == req.id).order_by(UpdateTarget.id)
        if not actor.sees_all:
            stmt = stmt.where(UpdateTarget.org_id.in_(actor.org_ids))
        return list(s.scalars(stmt))


def plan_list(actor: Actor, *, page: int = 1, per_page: int = 50) -> Page:
    """The update plans (their requests) the actor may see, newest first: a ministry its own, the
    data center every plan (a data-center-wide one is the data center's request)."""
    return requests.request_list(actor, page=page, per_page=per_page, kind=PLAN_KIND)


def plan_page(actor: Actor, request_id, *, page: int = 1, per_page: int = 50) -> tuple[Request, Page]:
    """One plan: its request and its rows a page at a time (the actor's ministries' rows only)."""
    with db.unit_of_work():
        req = get_scoped(Request, valid_id(request_id, "request"), actor, "request")
        if req.kind != PLAN_KIND:
            raise NotFound("cms.not_a_plan", "Not found.", field="request_id")
        stmt = select(UpdateTarget).where(UpdateTarget.request_id == req.id)
        if not actor.sees_all:
            stmt = stmt.where(UpdateTarget.org_id.in_(actor.org_ids))
        return req, paginate(stmt.order_by(UpdateTarget.id), page=page, per_page=per_page)
