"""Plugins and themes on an instance, from the catalogue only (issue 16, updates by policy).

`cms.plugin_install` names an instance of the ministry and an APPROVED catalogue item (cms.catalogue);
there is no way to name anything else, so a plugin that is not in the catalogue never reaches a
host. Policy `auto` by default: the item itself was approved by two people of the data center.
The job `cms.plugin_install` copies the catalogue's zip to the host (its sha256 checked there),
unpacks it as the site's user into the site's wp-content, activates it and reports what WordPress
then sees (version, active), recorded on the instance's item row.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.catalogue import CatalogueItem, approved_item, verify_stored
from panel.capabilities.cms.models import Instance, InstanceItem, InstanceStatus, ItemState
from panel.errors import Conflict, Invalid
from panel.jobs.capabilities import Capability, host_targets, register
from panel.models.jobs import Job
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization
from panel.services import jobs, providers, requests
from panel.services.actor import Actor
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import N_, RequestKind, reject_unknown, rule_error
from panel.services.request_kinds import register as register_kind

INSTALL = "cms.plugin_install"
NOT_IN_CATALOGUE = "Only approved items of the data center's catalogue can be installed."


class PluginInstallPayload(Schema):
    instance_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    item_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata=rule_error(
            "cms.not_in_catalogue", "Only approved items of the data center's catalogue can be installed."
        ),
    )
    activate = fields.Boolean(metadata={"description": "Activate it after the install (default true)."})


# ---- the host side: what a job sends for one item on one instance --------------------------------


def site_of(session: Session, inst: Instance, job: Job) -> dict:
    """The instance's site as the host knows it: name, user, base URL (sites.app_entry)."""
    entry = providers.call("sites.app_entry", session, inst.site_id, job)
    https = entry.get("tls") in ("acme", "custom")
    return {"fqdn": inst.fqdn, "user": entry["user"], "url": f"{'https' if https else 'http'}://{inst.fqdn}"}


def item_vars(item: CatalogueItem) -> dict:
    """An item as the playbook takes it; the zip is the catalogue's own file, its sha256 checked
    here before it leaves and again on the host."""
    return {
        "item_id": item.id,
        "kind": item.kind,
        "slug": item.slug,
        "version": item.version,
        "main_file": item.main_file,
        "sha256": item.sha256,
        "zip": str(verify_stored(item)),
    }


def _build(job: Job, session: Session):
    installs = []
    for row in job.params["installs"]:
        inst = session.get(Instance, row["instance_id"])
        item = session.get(CatalogueItem, row["item_id"])
        if inst is None or item is None:
            raise ValueError("the job names an instance or item that is gone")
        installs.append(
            {"instance_id": inst.id, **site_of(session, inst, job), **item_vars(item), "activate": row["activate"]}
        )
    return {"wordpress_installs": installs}, {}, host_targets(job, session)


def _rows(job: Job, session: Session) -> list[InstanceItem]:
    return list(session.scalars(select(InstanceItem).where(InstanceItem.job_id == job.id)))


def _installed(job: Job, session: Session, result) -> None:
    said = (result.data or {}).get("wordpress_items") or {}
    for row in _rows(job, session):
        got = said.get(f"{row.instance_id}:{row.slug}") or {}
        row.state = ItemState.INSTALLED
        row.version = str(got.get("version") or "")[:40]
        row.active = bool(got.get("active"))
        row.last_error = ""


def _install_failed(job: Job, session: Session, result) -> None:
    for row in _rows(job, session):
        if row.state == ItemState.PENDING:
            row.state = ItemState.FAILED
        row.last_error = (result.explanation or "the job failed")[:2000]


register(
    Capability(
        INSTALL,
        "cms_plugin.yml",
        _build,
        on_success=_installed,
        on_failure=_install_failed,
        timeout_s=600,
        description=N_("Install plugins or themes from the catalogue"),
    )
)


# ---- the request kind ----------------------------------------------------------------------------


def _instance(actor: Actor, org: Organization, instance_id: int) -> Instance:
    inst = cms_svc.instance_get(actor, instance_id)
    if inst.org_id != org.id:
        raise Invalid("cms.org_mismatch", "The instance belongs to another organization.", field="instance_id")
    if inst.status != InstanceStatus.ACTIVE:
        raise Conflict("cms.instance_state", "The instance is not active.", field="instance_id")
    return inst


def _validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"instance_id", "item_id", "activate"})
    s = db.session()
    inst = _instance(actor, org, payload["instance_id"])
    item = approved_item(s, payload["item_id"])
    there = s.scalars(
        select(InstanceItem).where(
            InstanceItem.instance_id == inst.id, InstanceItem.kind == item.kind, InstanceItem.slug == item.slug
        )
    ).first()
    if there is not None and there.state != ItemState.FAILED:
        raise Conflict(
            "cms.item_installed",
            "{slug} is on this instance already (version {version}): update it with a plan.",
            field="item_id",
            slug=item.slug,
            version=there.version or "?",
        )
    activate = payload.get("activate", True)
    return {
        "instance_id": inst.id,
        "fqdn": inst.fqdn,
        "host_id": inst.host_id,
        "item_id": item.id,
        "kind": item.kind,
        "slug": item.slug,
        "version": item.version,
        "activate": bool(activate),
    }


def submit_installs(actor: Actor, org_id: int, host_id: int, pairs, *, request_id: int | None) -> Job:
    """One job installing (instance, item, activate) triples on one host; records the rows pending."""
    s = db.session()
    job = jobs.job_submit(
        actor,
        kind=INSTALL,
        org_id=org_id,
        host_ids=[host_id],
        request_id=request_id,
        params={"installs": [{"instance_id": i.id, "item_id": it.id, "activate": a} for i, it, a in pairs]},
    )
    for inst, item, _activate in pairs:
        row = s.scalars(
            select(InstanceItem).where(
                InstanceItem.instance_id == inst.id, InstanceItem.kind == item.kind, InstanceItem.slug == item.slug
            )
        ).first()
        if row is None:
            row = InstanceItem(instance_id=inst.id, org_id=inst.org_id, kind=item.kind, slug=item.slug)
            s.add(row)
        row.item_id, row.job_id, row.state, row.last_error = item.id, job.id, ItemState.PENDING, ""
    s.flush()
    return job


def _start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    inst = s.get(Instance, p["instance_id"])
    if inst is None or inst.status != InstanceStatus.ACTIVE:
        raise Conflict("cms.instance_state", "The instance is not active.", field="instance_id")
    item = approved_item(s, p["item_id"])  # still approved at the approval
    return [submit_installs(actor, inst.org_id, inst.host_id, [(inst, item, p["activate"])], request_id=request.id)]


PLUGIN_INSTALL = register_kind(
    RequestKind(
        name=INSTALL,
        label=N_("Install a plugin or theme from the catalogue"),
        who_may_request=MANAGER_ROLES,
        validate=_validate,
        place=lambda s, org, p: p.get("host_id"),
        on_approve=_start,
        describe=lambda p: (
            N_("{kind} {slug} {version} on {fqdn}"),
            {"kind": p["kind"], "slug": p["slug"], "version": p["version"], "fqdn": p["fqdn"]},
        ),
        schema=PluginInstallPayload,
        default_policy=ApprovalMode.AUTO,
    )
)


def plugin_install(actor: Actor, *, org_id, instance_id, item_id, activate: bool = True) -> Request:
    """Install an approved catalogue item on an instance (a request; `auto` by default)."""
    return requests.request_create(
        actor,
        kind=INSTALL,
        org_id=org_id,
        payload={"instance_id": instance_id, "item_id": item_id, "activate": activate},
    )


def instance_items(actor: Actor, instance_id) -> list[InstanceItem]:
    """The catalogue items on one instance the actor may see."""
    inst = cms_svc.instance_get(actor, instance_id)
    with db.unit_of_work() as s:
        return list(
            s.scalars(select(InstanceItem).where(InstanceItem.instance_id == inst.id).order_by(InstanceItem.slug))
        )
