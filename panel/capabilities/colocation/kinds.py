"""The colocation request kind. Importing this module registers it (the capability loader does).

Submission checks the payload and that the floor has room now (a precise refusal before anyone is
asked); the last approval re-checks the ministry's budgets (the core, under the ministry's lock) and
the floor (under the floor's lock) and reserves the units, power, ports and addresses at once: no
job, the request is done when approved.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError
from sqlalchemy import select

from panel import db
from panel.capabilities.colocation import rules as R
from panel.capabilities.colocation import servers
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import ColoSite, Reservation, ReservationStatus, Room
from panel.errors import Conflict, Invalid, NotFound
from panel.models.requests import ApprovalMode, Request, RequestStatus
from panel.models.tenants import Organization, Role
from panel.services.actor import Actor
from panel.services.request_kinds import N_, RequestKind, register

MANAGERS = frozenset({Role.ORG_ADMIN, Role.OPERATOR, Role.ADMIN})


class ReservationRequestSchema(Schema):
    """A colocation request: units and depth, power, ports, addresses, cross-connects."""

    u_count = fields.Integer(required=True, strict=True, validate=validate.Range(1, R.MAX_RACK_U))
    depth_mm = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 2000))
    typical_w = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 50_000))
    max_w = fields.Integer(required=True, strict=True, validate=validate.Range(1, 50_000))
    psus = fields.Integer(load_default=1, strict=True, validate=validate.Range(1, 8))
    ab_feeds = fields.Boolean(load_default=False)
    ports = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 48))
    port_speed_mbps = fields.Integer(
        load_default=1000,
        strict=True,
        validate=[validate.Range(min(R.SPEEDS), max(R.SPEEDS)), validate.OneOf(R.SPEEDS)],
    )
    port_medium = fields.String(load_default="copper", validate=validate.OneOf(("copper", "fibre")))
    ipv4 = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, R.MAX_ADDRESSES_PER_REQUEST))
    ipv6 = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, R.MAX_ADDRESSES_PER_REQUEST))
    cross_connects = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 48))
    cross_connect_medium = fields.String(load_default="fibre", validate=validate.OneOf(("copper", "fibre")))
    cross_connect_room_id = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(1, 2**63 - 1),
        metadata={"description": "the room of the cross-connects' B ends (a meet-me room); none: the rack's room"},
    )
    cross_connect_to = fields.String(
        load_default="", validate=validate.Length(max=100), metadata={"description": "who is at the B end"}
    )
    vlan = fields.Boolean(
        load_default=False, metadata={"description": "a VLAN of the rack's room or site for the ministry alone"}
    )
    site_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 2**63 - 1))
    label = fields.String(load_default="", validate=validate.Length(max=100))

    @validates_schema
    def _consistent(self, data, **kwargs):
        if data.get("typical_w", 0) > data.get("max_w", 0):
            raise SchemaError("The typical draw cannot exceed the maximum.", field_name="typical_w")
        if data.get("ab_feeds") and data.get("psus", 1) < 2:
            raise SchemaError("A and B feeds need at least two power supplies.", field_name="psus")


def _validate(actor: Actor, org: Organization, payload: dict) -> dict:
    clean = dict(payload)
    clean["label"] = R.clean_name(clean["label"], "label") if clean.get("label", "").strip() else ""
    if clean.get("site_id") is not None and db.session().get(ColoSite, clean["site_id"]) is None:
        raise Invalid("colo_site.not_found", "Not found.", field="site_id")
    clean["cross_connect_to"] = (
        R.clean_name(clean["cross_connect_to"], "cross_connect_to") if clean.get("cross_connect_to", "").strip() else ""
    )
    if clean.get("cross_connect_room_id") is not None:
        room = db.session().get(Room, clean["cross_connect_room_id"])
        if room is None:
            raise Invalid("colo_room.not_found", "Not found.", field="cross_connect_room_id")
        if clean.get("site_id") is not None and room.site_id != clean["site_id"]:
            raise Invalid(
                "colocation.cross_connect_elsewhere",
                "The B ends' room is at another site than the one asked for.",
                field="cross_connect_room_id",
            )
    # Refuse now what the floor cannot hold; approval checks again (the floor may change meanwhile).
    svc.capacity_check(db.session(), org.id, svc.Spec.of(clean))
    return clean


def _quota(payload: dict) -> dict[str, int]:
    return {
        "colo_units": payload["u_count"],
        "colo_power_w": payload["max_w"],
        "colo_ports": payload.get("ports", 0),
        "colo_addresses": payload.get("ipv4", 0) + payload.get("ipv6", 0),
    }


def _approve(actor: Actor, request: Request) -> list:
    svc.reservation_allocate(
        db.session(), org_id=request.org_id, request_id=request.id, spec=svc.Spec.of(request.payload)
    )
    return []


def _describe(p: dict):
    return (
        N_("{units} U, {watts} W, {ports} ports, {addresses} addresses, {cross} cross-connects, a VLAN")
        if p.get("vlan")
        else N_("{units} U, {watts} W, {ports} ports, {addresses} addresses, {cross} cross-connects"),
        {
            "cross": p.get("cross_connects", 0),
            "units": p["u_count"],
            "watts": p["max_w"],
            "ports": p.get("ports", 0),
            "addresses": p.get("ipv4", 0) + p.get("ipv6", 0),
        },
    )


RESERVATION_CREATE = register(
    RequestKind(
        name=svc.KIND,
        label=N_("Rack space for a server"),
        who_may_request=MANAGERS,
        validate=_validate,
        quota=_quota,
        on_approve=_approve,
        describe=_describe,
        default_policy=ApprovalMode.ONE,
        schema=ReservationRequestSchema,
    )
)


# ---- decommission ----------------------------------------------------------------------------------


class DecommissionRequestSchema(Schema):
    """Decommission one of the ministry's reservations: its servers leave, everything it holds is freed."""

    reservation_id = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**63 - 1))
    reason = fields.String(load_default="", validate=validate.Length(max=100))


def _validate_decommission(actor: Actor, org: Organization, payload: dict) -> dict:
    s = db.session()
    res = s.get(Reservation, payload["reservation_id"])
    if res is None or res.org_id != org.id:  # another ministry's is as unknown as a missing one
        raise NotFound("colo_reservation.not_found", "Not found.", field="reservation_id")
    if res.status != ReservationStatus.ACTIVE:
        raise Conflict("colocation.reservation_released", "This reservation was released already.")
    open_ = (RequestStatus.DRAFT, RequestStatus.SUBMITTED, RequestStatus.APPROVED)
    for other in s.scalars(
        select(Request.payload).where(
            Request.kind == svc.DECOMMISSION, Request.org_id == org.id, Request.status.in_(open_)
        )
    ):
        if other.get("reservation_id") == res.id:
            raise Conflict(
                "colocation.decommission_pending",
                "A decommission of this reservation is waiting for approval already.",
                field="reservation_id",
            )
    reason = payload.get("reason", "").strip()
    return {"reservation_id": res.id, "reason": R.clean_name(reason, "reason") if reason else ""}


def _approve_decommission(actor: Actor, request: Request) -> list:
    servers.reservation_decommission(actor, reservation_id=request.payload["reservation_id"], request_id=request.id)
    return []


RESERVATION_DECOMMISSION = register(
    RequestKind(
        name=svc.DECOMMISSION,
        label=N_("Decommission a colocation reservation"),
        who_may_request=MANAGERS,
        validate=_validate_decommission,
        on_approve=_approve_decommission,
        describe=lambda p: (N_("Decommission reservation #{id}"), {"id": p["reservation_id"]}),
        default_policy=ApprovalMode.ONE,
        schema=DecommissionRequestSchema,
    )
)
