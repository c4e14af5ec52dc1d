"""Request kinds zone.create and zone.delete: a ministry asks, the data center approves (policy),
the quota dns_zones is held while the zone exists, and the approval submits the zone job.

Importing this module registers both kinds (services.dns imports it).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.dns import claims as dns_claims
from panel.capabilities.dns import rules as R
from panel.capabilities.dns.jobs import primary_host
from panel.capabilities.dns.models import Zone, ZoneStatus
from panel.errors import Conflict, Forbidden, NotFound
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization
from panel.services import jobs
from panel.services.actor import Actor
from panel.services.names import MAX_NAME
from panel.services.request_kinds import (
    N_,
    kinds_of,
    reject_unknown,
    require_int,
    rule_error,
    says,
    text,
)


class ZoneCreatePayload(Schema):
    name = fields.String(
        required=True,
        validate=text(min=1, max=MAX_NAME),
        metadata=rule_error("name.too_long", "A domain name has at most {max} characters."),
    )  # rules.clean_domain decides what the name means


class ZoneDeletePayload(Schema):
    zone_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**63 - 1))


def _create_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"name"})
    name = R.clean_domain(payload.get("name"), "name")
    s = db.session()
    if s.scalars(select(Zone.id).where(Zone.name == name)).first() is not None:
        raise Conflict("dns.zone_exists", "The zone {name} is hosted here already.", field="name", name=name)
    if not actor.is_staff and not dns_claims.domain_verified(org.id, name):
        raise Forbidden(
            "dns.domain_unverified",
            "{fqdn} is not a verified domain of your ministry: claim and verify it first.",
            field="name",
            fqdn=name,
        )
    return {"name": name}


def _place(session: Session, org: Organization, payload: dict) -> int | None:
    return primary_host(session).id


def _create_start(actor: Actor, request: Request) -> list:
    s = db.session()
    zone = s.scalars(select(Zone).where(Zone.request_id == request.id)).first()
    if zone is None:
        zone = Zone(org_id=request.org_id, name=request.payload["name"], request_id=request.id)
        s.add(zone)
        s.flush()
    elif zone.status == ZoneStatus.FAILED:
        zone.move_to(ZoneStatus.PENDING)
    host_id = request.target_host_id or primary_host(s).id
    return [
        jobs.job_submit(
            actor,
            kind="dns.zone_create",
            org_id=request.org_id,
            host_ids=[host_id],
            params={"zone_id": zone.id},
            request_id=request.id,
        )
    ]


def _zone_of(payload: dict, org: Organization | None = None) -> Zone:
    zone = db.session().get(Zone, payload["zone_id"])
    if zone is None or (org is not None and zone.org_id != org.id):
        raise NotFound("dns_zone.not_found", "Not found.", field="zone_id", id=str(payload["zone_id"]))
    return zone


def _delete_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"zone_id"})
    zone_id = require_int(payload, "zone_id", minimum=1, maximum=2**63 - 1)
    zone = _zone_of({"zone_id": zone_id}, org)
    if zone.status not in (ZoneStatus.ACTIVE, ZoneStatus.FAILED):
        raise Conflict(
            "dns.zone_busy",
            "The zone {name} is {status}; wait until it is done.",
            name=zone.name,
            status=zone.status.value,
        )
    return {"zone_id": zone.id, "name": zone.name}


def zone_remove(actor: Actor, zone: Zone, request_id: int | None = None) -> list:
    """The zone's dns.zone_delete job (removing a zone BIND never had is harmless: a failed one's
    clean-up); when it succeeds the row goes and the name is free. A failed job puts the zone
    back as it was."""
    previous = zone.status.value
    zone.move_to(ZoneStatus.DELETING)
    host_id = zone.host_id or primary_host(db.session()).id
    return [
        jobs.job_submit(
            actor,
            kind="dns.zone_delete",
            org_id=zone.org_id,
            host_ids=[host_id],
            params={"zone_id": zone.id, "zone_name": zone.name, "previous": previous},
            request_id=request_id,
        )
    ]


def _create_give_up(actor: Actor, request: Request) -> list:
    """Cancelling a failed dns.zone_create request: whatever the create job left in BIND goes."""
    zone = db.session().scalars(select(Zone).where(Zone.request_id == request.id)).first()
    if zone is None or zone.status != ZoneStatus.FAILED:
        return []
    return zone_remove(actor, zone)


def _delete_retry(actor: Actor, request: Request) -> list:
    zone = _zone_of(request.payload)
    if zone.status == ZoneStatus.ACTIVE:
        return _delete_start(actor, request)
    return []


_kind = kinds_of("dns", MANAGER_ROLES, default_policy=ApprovalMode.ONE)


_kind(
    "zone_create",
    N_("DNS zone"),
    validate=_create_validate,
    schema=ZoneCreatePayload,
    quota=lambda payload: {"dns_zones": 1},
    place=_place,
    on_give_up=_create_give_up,
    describe=says(N_("zone {name}")),
)(_create_start)


@_kind(
    "zone_delete",
    N_("Delete a DNS zone"),
    validate=_delete_validate,
    schema=ZoneDeletePayload,
    on_retry=_delete_retry,
    describe=says(N_("delete the zone {name}")),
)
def _delete_start(actor: Actor, request: Request) -> list:
    return zone_remove(actor, _zone_of(request.payload), request.id)
