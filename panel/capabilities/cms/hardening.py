"""The hardening checklist of WordPress instances, re-checked on a schedule (issue 16, item 3).

The install applies it (the per-site config, the vhost's rules, govhost's must-use plugin); the
`cms.hardening_check` job looks at every item again on the web host, as a visitor meets it and on
disk (`roles/wordpress/files/wp-check.py`), and changes nothing. Each instance keeps its last
result per item; an item that was in place and is no longer (drift) notifies the ministry and the
data center once, and shows on the instance's page and in the API. The sweep `cms.hardening` runs
one job per host and ministry (`cms.hardening_interval_minutes`); `govhost cms hardening-check`
runs it at once. Importing this module registers the job (the manifest's subscribers).

`cms.hardening_repair` (a request on one instance, approved at once by default: it only puts back
what the data center set) puts every item back with the same playbook: the config's defines, owner
and mode (on the host, its secrets never leave it), govhost's must-use plugin, the vhost rendered
again; then the same check runs and its result is recorded as a check's.
"""

from __future__ import annotations

from collections import defaultdict

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db, events
from panel.capabilities.cms import APP, lifecycle
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.cms.plugins import site_of
from panel.errors import Conflict, NotFound
from panel.jobs.capabilities import Capability, host_targets, register
from panel.models.jobs import Job
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization, Role
from panel.services import jobs, providers
from panel.services.actor import Actor, require_staff
from panel.services.audit import audited
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import RequestKind, reject_unknown, require_int
from panel.services.request_kinds import register as register_kind
from panel.services.sweeps import Swept, sweep_hosts
from panel.services.tenants import valid_id
from provisioners.base import Result


def N_(text: str) -> str:
    return text


CHECK, REPAIR = "cms.hardening_check", "cms.hardening_repair"
# The checklist, in the order pages show it (docs/cms.md, "Hardening").
ITEMS = {
    "file_editing_off": N_("File editing and installing from the dashboard off"),
    "xmlrpc_off": N_("XML-RPC off"),
    "no_php_in_uploads": N_("No PHP run under uploads"),
    "user_enumeration_blocked": N_("User enumeration blocked"),
    "config_permissions": N_("Config file readable by the site's user only"),
    "version_hidden": N_("WordPress version hidden"),
}
DRIFT = N_("WordPress {fqdn}: hardening changed ({items})")


def _instances(job: Job, session: Session) -> list[Instance]:
    ids = job.params.get("instance_ids") or []
    return list(session.scalars(select(Instance).where(Instance.id.in_(ids)).order_by(Instance.id)))


def _build(job: Job, session: Session):
    checks = [{"instance_id": i.id, **site_of(session, i, job)} for i in _instances(job, session)]
    return {"wordpress_checks": checks}, {}, host_targets(job, session)


def _clean(said: object) -> dict:
    """Only the checklist's items, as booleans and short texts (the host's answer is not trusted)."""
    said = said if isinstance(said, dict) else {}
    out = {}
    for name in ITEMS:
        got = said.get(name)
        if isinstance(got, dict):
            out[name] = {"ok": got.get("ok") is True, "detail": str(got.get("detail") or "")[:300]}
        else:
            out[name] = {"ok": False, "detail": "not checked"}
    return out


def _recorded(job: Job, session: Session, result: Result) -> None:
    said = (result.data or {}).get("wordpress_hardening") or {}
    for inst in _instances(job, session):
        if inst.fqdn not in said:
            continue
        before = set(inst.hardening_drift) if inst.hardening else set()
        inst.hardening = _clean(said[inst.fqdn])
        inst.hardening_checked_at = db.utcnow()
        new = [n for n in inst.hardening_drift if n not in before]
        if new:
            _notify(session, inst, new)


def _notify(session: Session, inst: Instance, items: list[str]) -> None:
    """The ministry's managers and the data center hear of it once per newly changed item."""
    events.needs_attention.send(
        "cms",
        session=session,
        org_id=inst.org_id,
        kind="cms.hardening_drift",
        subject=DRIFT,
        params={"fqdn": inst.fqdn, "items": ", ".join(items)},
        link=f"/cms/{inst.id}",
        roles=(Role.WEBMASTER, Role.ORG_ADMIN),
        staff=True,
    )


register(
    Capability(
        CHECK,
        "cms_hardening.yml",
        _build,
        on_success=_recorded,
        timeout_s=600,
        description=N_("Check the hardening of WordPress sites"),
    )
)


@audited("cms.hardening_check", "cms_instance")
def hardening_check(actor: Actor, instance_id: int | None = None) -> Swept:
    """One check job per usable web host and ministry, for every live instance (or the one given)
    with no job under way; hosts that cannot be used are skipped and named."""
    require_staff(actor)
    with db.unit_of_work() as s:
        stmt = select(Instance).where(
            Instance.status.in_((InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED)),
            Instance.busy_job_id.is_(None),
            Instance.host_id.is_not(None),
        )
        if instance_id is not None:
            _checkable(s, instance_id)
            stmt = stmt.where(Instance.id == instance_id)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for inst in s.scalars(stmt.order_by(Instance.id)):
            groups[(inst.host_id, inst.org_id)].append(inst.id)
        found = sweep_hosts(s, {h for h, _ in groups}, "cms.hardening")
        submitted = [
            jobs.job_submit(actor, kind=CHECK, org_id=org_id, host_ids=[host_id], params={"instance_ids": ids})
            for (host_id, org_id), ids in sorted(groups.items())
            if host_id in found.ids
        ]
        if instance_id is not None and not submitted:
            raise Conflict(
                "cms.host_unusable", "The instance's web host cannot be used now (down, maintenance or changed key)."
            )
        return Swept(submitted, found.skipped)


def _checkable(s: Session, instance_id: int) -> None:
    inst = s.get(Instance, valid_id(instance_id, "cms_instance"))
    if inst is None:
        raise NotFound("cms_instance.not_found", "Not found.", field="instance_id", id=str(instance_id))
    if inst.status not in (InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED) or inst.busy_job_id is not None:
        raise Conflict(
            "cms.instance_state",
            "Only a live instance with no job under way can be checked (it is {status}).",
            status=inst.status.value,
        )


# ---- the repair: a request on one instance --------------------------------------------------------


class RepairPayload(Schema):
    instance_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


LIVE_STATES = (InstanceStatus.ACTIVE, InstanceStatus.SUSPENDED)


def _repair_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"instance_id"})
    inst = lifecycle.instance_of(org, require_int(payload, "instance_id", minimum=1, maximum=MAX_ID), LIVE_STATES)
    return {"instance_id": inst.id, "fqdn": inst.fqdn, "drift": inst.hardening_drift}


def _repair_start(actor: Actor, request: Request) -> list:
    s = db.session()
    inst = lifecycle.instance_of(s.get(Organization, request.org_id), request.payload["instance_id"], LIVE_STATES)
    job = jobs.job_submit(
        actor,
        kind=REPAIR,
        org_id=inst.org_id,
        host_ids=[inst.host_id],
        request_id=request.id,
        params={"instance_ids": [inst.id]},
    )
    inst.busy_job_id = job.id  # no suspend, delete or push meanwhile: the repair renders its vhost
    return [job]


register_kind(
    RequestKind(
        name=REPAIR,
        label=N_("Repair a WordPress site's hardening"),
        who_may_request=MANAGER_ROLES,
        validate=_repair_validate,
        place=lambda s, org, p: lifecycle.host_of(s, p["instance_id"]),
        on_approve=_repair_start,
        describe=lambda p: p["fqdn"],
        schema=RepairPayload,
        default_policy=ApprovalMode.AUTO,
    )
)


def _repair_build(job: Job, session: Session):
    """The check's input, and the sites' entries for their vhosts (WordPress's, in their state)."""
    extra, secrets, targets = _build(job, session)
    entries = []
    for inst in _instances(job, session):
        entry = providers.call("sites.app_entry", session, inst.site_id, job)
        if entry.get("app") != APP:
            raise ValueError(f"site {inst.fqdn} does not serve WordPress")
        entries.append(entry)
    return {**extra, "wordpress_repair": True, "govhost_sites": entries}, secrets, targets


def _release(job: Job, session: Session) -> None:
    for inst in _instances(job, session):
        if inst.busy_job_id == job.id:
            inst.busy_job_id = None


def _repaired(job: Job, session: Session, result: Result) -> None:
    _release(job, session)
    _recorded(job, session, result)  # the check after the repair, recorded as any check
    for inst in _instances(job, session):
        inst.last_error = ""


def _repair_failed(job: Job, session: Session, result: Result) -> None:
    _release(job, session)
    for inst in _instances(job, session):
        inst.last_error = f"hardening repair: {result.explanation or 'the job failed'}"[:2000]


register(
    Capability(
        REPAIR,
        "cms_hardening.yml",
        _repair_build,
        on_success=_repaired,
        on_failure=_repair_failed,
        timeout_s=600,
        description=N_("Repair the hardening of WordPress sites"),
    )
)
