"""Arrival to enrolment: a ministry's server goes received -> racked -> cabled -> powered -> handed
over. DC staff move it along; at hand-over the core's host registration reads the server's SSH host
key over the network (no transaction open), refuses it unless it is the fingerprint the ministry
declared, and pins it: the server becomes a govhost host, either customer-managed (inventory only:
no roles, so nothing is ever placed on it or run there) or offered for hosting roles. The server row
keeps the owner (the ministry) and the host's id; a ministry sees its own servers only.
"""

from __future__ import annotations

import ipaddress
import re

from sqlalchemy import func, select

from panel import db
from panel.capabilities.colocation import rules as R
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import (
    AddressAllocation,
    ColoServer,
    Management,
    Reservation,
    ReservationStatus,
    ServerStatus,
)
from panel.errors import Conflict, Invalid
from panel.models.requests import Request
from panel.models.tenants import Role
from panel.services import hosts, requests
from panel.services.actor import Actor, get_scoped, require_staff, require_write, scoped
from panel.services.audit import audited
from panel.services.pagination import Page, paginate

FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
STEPS = (ServerStatus.RACKED, ServerStatus.CABLED, ServerStatus.POWERED)


def _staff(actor: Actor) -> None:
    require_write(actor)
    require_staff(actor, Role.OPERATOR, Role.ADMIN)


def clean_fingerprint(value, field: str = "fingerprint") -> str:
    text = str(value or "").strip()
    if not FINGERPRINT.match(text):
        raise Invalid(
            "colocation.fingerprint_invalid",
            "Give the SSH host key's SHA256 fingerprint as `ssh-keygen -lf` prints it (SHA256: and 43 characters).",
            field=field,
        )
    return text


def _get(actor: Actor, server_id) -> ColoServer:
    return get_scoped(ColoServer, server_id, actor, "colo_server")


@audited("colocation.server_receive", "colo_server")
def server_receive(
    actor: Actor, *, reservation_id: int, name: str, address: str, serial: str = "", fingerprint: str = ""
) -> ColoServer:
    """DC staff record a server arriving for a reservation: its future host name, the address its
    sshd will answer on (one of the reservation's), serial number and the SSH host key fingerprint the
    ministry declared (required by hand-over at the latest)."""
    s = db.session()
    res = get_scoped(
        Reservation, R.clean_int(reservation_id, "reservation_id", 1, 2**63 - 1), actor, "colo_reservation"
    )
    _staff(actor)
    if res.status != ReservationStatus.ACTIVE:
        raise Conflict("colocation.reservation_released", "This reservation was released already.")
    name = hosts.validate_name(name)
    address = hosts.validate_address(address)
    held = set(s.scalars(select(AddressAllocation.address).where(AddressAllocation.reservation_id == res.id)))
    if held and str(ipaddress.ip_address(address)) not in held:
        raise Invalid(
            "colocation.address_not_reserved",
            "{address} is not one of the reservation's addresses ({held}).",
            field="address",
            address=address,
            held=", ".join(sorted(held)),
        )
    count = s.scalar(select(func.count(ColoServer.id)).where(ColoServer.reservation_id == res.id))
    if count >= res.u_count:  # a server takes at least one unit
        raise Conflict(
            "colocation.reservation_full",
            "The reservation holds {units} U and {count} servers already.",
            units=res.u_count,
            count=count,
        )
    if s.scalars(select(ColoServer.id).where(ColoServer.name == name)).first() is not None:
        raise Conflict("colocation.server_name_taken", "{name} exists already.", field="name", name=name)
    server = ColoServer(
        org_id=res.org_id,
        reservation_id=res.id,
        name=name,
        serial=R.clean_name(serial, "serial") if str(serial or "").strip() else "",
        address=address,
        fingerprint=clean_fingerprint(fingerprint) if str(fingerprint or "").strip() else "",
        received_by=actor.username,
    )
    s.add(server)
    s.flush()
    return server


@audited("colocation.server_advance", "colo_server")
def server_advance(actor: Actor, *, server_id: int, status: str) -> ColoServer:
    """DC staff: racked, cabled, powered, in that order (hand-over is server_hand_over)."""
    server = _get(actor, server_id)
    _staff(actor)
    if status not in {s.value for s in STEPS}:
        raise Invalid(
            "colocation.server_status_invalid",
            "The next status is racked, cabled or powered; hand-over pins the host key.",
            field="status",
        )
    server.move_to(status)
    db.session().flush()
    return server


def server_hand_over(
    actor: Actor, *, server_id: int, management: str, roles=(), fingerprint: str | None = None
) -> ColoServer:
    """Pin the powered server's SSH host key (the core's host registration, which reads it over the
    network with no transaction open and refuses any other key than the declared fingerprint) and
    make it a govhost host: customer-managed (no roles) or offered for the hosting roles given."""
    try:
        management = Management(str(management))
    except ValueError:
        raise Invalid(
            "colocation.management_invalid", "Management is customer or hosting.", field="management"
        ) from None
    roles = sorted(hosts.validate_roles(roles or ()))
    if management == Management.CUSTOMER and roles:
        raise Invalid(
            "colocation.customer_no_roles",
            "A customer-managed server is inventory only: it takes no hosting roles.",
            field="roles",
        )
    if management == Management.HOSTING and not roles:
        raise Invalid("colocation.hosting_needs_roles", "Name the hosting roles it is offered for.", field="roles")
    with db.unit_of_work():
        server = _get(actor, server_id)
        _staff(actor)
        if server.status != ServerStatus.POWERED:
            raise Conflict(
                "colocation.server_not_powered",
                "{name} is {status}; it is handed over once powered.",
                name=server.name,
                status=server.status.value,
            )
        declared = clean_fingerprint(fingerprint) if fingerprint else server.fingerprint
        if not declared:
            raise Invalid(
                "colocation.fingerprint_missing",
                "Give the SSH host key fingerprint the ministry declared: the key is pinned only if it matches.",
                field="fingerprint",
            )
        name, address = server.name, server.address
    # Network I/O: the core reads the key outside any transaction and refuses a different one.
    host = hosts.host_register(actor, name=name, address=address, roles=roles, fingerprint=declared)
    return _handed_over(actor, server_id=server_id, host_id=host.id, management=management.value, roles=roles)


@audited("colocation.server_hand_over", "colo_server")
def _handed_over(actor: Actor, *, server_id: int, host_id: int, management: str, roles) -> ColoServer:
    server = _get(actor, server_id)
    server.move_to(ServerStatus.HANDED_OVER)
    server.host_id, server.management = host_id, Management(management)
    server.handed_over_by, server.handed_over_at = actor.username, db.utcnow()
    db.session().flush()
    return server


# ---- decommission --------------------------------------------------------------------------------


def decommission_request(actor: Actor, *, reservation_id: int, reason: str = "") -> Request:
    """Ask to decommission a reservation (its ministry's admins, or DC staff): a request DC staff
    approve; approval retires its servers (their hosts leave govhost's inventory) and frees its
    units, power, ports, patch-panel ports and addresses (reservation_decommission)."""
    with db.unit_of_work():
        res = get_scoped(
            Reservation, R.clean_int(reservation_id, "reservation_id", 1, 2**63 - 1), actor, "colo_reservation"
        )
        org_id, res_id = res.org_id, res.id
    return requests.request_create(
        actor, kind=svc.DECOMMISSION, org_id=org_id, payload={"reservation_id": res_id, "reason": reason or ""}
    )


@audited("colocation.reservation_decommission", "colo_reservation")
def reservation_decommission(actor: Actor, *, reservation_id: int, request_id: int | None = None) -> Reservation:
    """The approved decommission (the approver's transaction, no network I/O): every server of the
    reservation is retired, a handed-over one's host deleted from the inventory by the core (refused,
    and nothing done, while the host still holds sites or other objects); then the reservation is
    freed as a release frees it."""
    s = db.session()
    svc._lock_floor(s)
    res = s.get(Reservation, R.clean_int(reservation_id, "reservation_id", 1, 2**63 - 1))
    if res is None:
        raise Invalid("colo_reservation.not_found", "Not found.", field="reservation_id")
    if res.status != ReservationStatus.ACTIVE:
        raise Conflict("colocation.reservation_released", "This reservation was released already.")
    for server_id in s.scalars(
        select(ColoServer.id)
        .where(ColoServer.reservation_id == res.id, ColoServer.status != ServerStatus.RETIRED)
        .order_by(ColoServer.id)
    ).all():
        _server_retire(actor, server_id=server_id, reservation_id=res.id)
    svc.reservation_free(s, res)
    return res


@audited("colocation.server_retire", "colo_server")
def _server_retire(actor: Actor, *, server_id: int, reservation_id: int) -> ColoServer:
    server = db.session().get(ColoServer, server_id)
    if server.host_id is not None:
        try:
            host = hosts.host_delete(actor, server.host_id)  # audited by the core as host.delete
        except Conflict as err:
            if err.key != "host.in_use":
                raise
            raise Conflict(
                "colocation.server_in_use",
                "{name} still holds sites or other objects as a govhost host; move them before the decommission.",
                name=server.name,
            ) from None
        server.retired_host = host.name
        server.host_id = None
    server.move_to(ServerStatus.RETIRED)
    server.retired_at = db.utcnow()
    db.session().flush()
    return server


def server_list(actor: Actor, *, page: int = 1, per_page: int = 50) -> Page:
    with db.unit_of_work():
        return paginate(
            scoped(select(ColoServer), actor, ColoServer).order_by(ColoServer.id.desc()), page=page, per_page=per_page
        )


def server_get(actor: Actor, server_id) -> ColoServer:
    with db.unit_of_work():
        return _get(actor, server_id)


def reservation_servers(actor: Actor, reservation_id) -> list[ColoServer]:
    """The servers received for one reservation (the reservation page lists them; at most one per unit)."""
    with db.unit_of_work() as s:
        res = get_scoped(Reservation, reservation_id, actor, "colo_reservation")
        return list(s.scalars(select(ColoServer).where(ColoServer.reservation_id == res.id).order_by(ColoServer.id)))


def next_step(server: ColoServer) -> str | None:
    """racked, cabled or powered: where DC staff move it next (None once powered: hand-over)."""
    following = [s for s in STEPS if s in server.TRANSITIONS[server.status]]
    return following[0].value if following else None
