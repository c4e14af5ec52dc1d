"""DC admins change and delete floor objects. A change that would break what is reserved is refused
with the reason (a feed below the watts reserved on it, a rack lower than its highest reserved unit
or shallower than a reserved device, feeds swapped under reservations); a delete is refused while the
object is in use (a site with rooms, a rack with reservations, a switch with held ports...), never
cascading into a ministry's units. Capacity summaries are recomputed in the same transaction."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from panel import db
from panel.capabilities.colocation import rules as R
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import vlans as V
from panel.capabilities.colocation.models import (
    AddressAllocation,
    ColoSite,
    CrossConnect,
    PatchPanel,
    PatchPort,
    Phase,
    PowerFeed,
    PowerPanel,
    Prefix,
    Rack,
    Reservation,
    ReservationStatus,
    Room,
    Switch,
    SwitchPort,
    Vlan,
)
from panel.errors import Conflict, Invalid, NotFound
from panel.services.actor import Actor
from panel.services.audit import audited
from panel.services.request_kinds import N_

KINDS = {
    "site": (ColoSite, ("name", "description")),
    "room": (Room, ("name",)),
    "panel": (PowerPanel, ("name",)),
    "feed": (PowerFeed, ("name", "phase", "voltage", "amperage", "max_utilisation")),
    "rack": (Rack, ("name", "height_u", "depth_mm", "feed_a_id", "feed_b_id")),
    "switch": (Switch, ("name",)),
    "prefix": (Prefix, ("vlan", "description")),
    "patch_panel": (PatchPanel, ("name",)),
    "vlan": (Vlan, ("name", "vid", "status")),
}
ACTIVE = ReservationStatus.ACTIVE


def _object(actor: Actor, what: str, floor_id):
    if what not in KINDS:
        raise Invalid("colocation.kind_invalid", "The floor object is one of {kinds}.", kinds=", ".join(KINDS))
    if not actor.is_staff:  # the floor is the data center's: a ministry cannot tell what exists
        raise NotFound(f"colo_{what}.not_found", "Not found.", id=str(floor_id))
    svc._floor_admin(actor)
    model = KINDS[what][0]
    obj = db.session().get(model, floor_id) if isinstance(floor_id, int) and 0 < floor_id < 2**63 else None
    if obj is None:
        raise NotFound(f"colo_{what}.not_found", "Not found.", id=str(floor_id))
    return model, obj


def _in_use(name: str, count: int, message: str):
    return Conflict("colocation.in_use", message, name=name, count=count)


def _count(stmt) -> int:
    return db.session().scalar(select(func.count()).select_from(stmt.subquery())) or 0


def floor_get(actor: Actor, *, what: str, floor_id: int):
    """One floor object for its edit page (DC admins)."""
    with db.unit_of_work():
        return _object(actor, what, floor_id)[1]


@audited("colocation.floor_update", "colo_floor")
def floor_update(actor: Actor, *, what: str, floor_id: int, **changes):
    """Change the fields given (others stay); the fields a kind has are KINDS[what][1]."""
    s = db.session()
    _model, obj = _object(actor, what, floor_id)
    unknown = sorted(set(changes) - set(KINDS[what][1]))
    if unknown:
        raise Invalid(
            "colocation.field_not_editable",
            "A {what} has no {change} to change.",
            field=unknown[0],
            change=unknown[0],
            what=what,
        )
    if "name" in changes:
        obj.name = R.clean_name(changes["name"])
    if "description" in changes:
        desc = changes["description"] or ""
        obj.description = R.clean_name(desc, "description") if str(desc).strip() else ""
    if what == "feed":
        _feed(s, obj, changes)
    elif what == "rack":
        _rack(s, obj, changes)
    elif what == "vlan":
        _vlan(s, obj, changes)
    elif what == "prefix" and "vlan" in changes:
        obj.vlan_ref = V.site_vlan(s, obj.site_id, changes["vlan"])
    svc._unique(s, what, "name", getattr(obj, "name", ""))
    return obj


def _vlan(s, vlan: Vlan, changes: dict) -> None:
    """A VLAN a ministry holds keeps its VID and stays active (the ministry's network is on it)."""
    vid = R.clean_int(changes["vid"], "vid", 1, V.MAX_VID) if "vid" in changes else vlan.vid
    status = V.clean_status(changes["status"]) if "status" in changes else vlan.status
    svc._lock_floor(s)
    # its holder as of the lock, from the row (an approval may have just taken it)
    holder = s.scalar(select(Vlan.reservation_id).where(Vlan.id == vlan.id))
    if holder is not None and (vid != vlan.vid or status != vlan.status):
        raise _in_use(
            f"VLAN {vlan.vid}", 1, N_("{name} is allocated to a ministry; its VID and status stay while it is held.")
        )
    vlan.vid = vid
    if status != vlan.status:
        vlan.move_to(status)
    V.vid_taken(s, vlan)


def _feed(s, feed: PowerFeed, changes: dict) -> None:
    if "phase" in changes:
        if changes["phase"] not in (p.value for p in Phase):
            raise Invalid("colocation.phase_invalid", "The phase is single or three.", field="phase")
        feed.phase = Phase(changes["phase"])
    if "voltage" in changes:
        voltage = R.clean_int(changes["voltage"], "voltage", 1, 1000)
        if voltage not in R.VOLTAGES:
            raise Invalid(
                "colocation.voltage_invalid",
                "The voltage is one of {voltages}.",
                field="voltage",
                voltages=", ".join(map(str, R.VOLTAGES)),
            )
        feed.voltage = voltage
    if "amperage" in changes:
        feed.amperage = R.clean_int(changes["amperage"], "amperage", 1, 400)
    if "max_utilisation" in changes:
        feed.max_utilisation = R.clean_int(changes["max_utilisation"], "max_utilisation", 1, 100)
    svc._lock_floor(s)
    capacity = R.feed_capacity_w(feed.phase.value, feed.voltage, feed.amperage, feed.max_utilisation)
    reserved = svc._feed_usage(s, [feed.id]).get(feed.id, 0)
    if capacity < reserved:
        raise Conflict(
            "colocation.feed_below_reserved",
            "{name} carries {reserved} W of reservations; it would deliver only {capacity} W.",
            name=feed.name,
            reserved=reserved,
            capacity=capacity,
        )
    feed.capacity_w, feed.reserved_w = capacity, reserved


def _rack(s, rack: Rack, changes: dict) -> None:
    svc._lock_floor(s)
    active = select(Reservation).where(Reservation.rack_id == rack.id, Reservation.status == ACTIVE)
    if "height_u" in changes:
        height = R.clean_int(changes["height_u"], "height_u", 1, R.MAX_RACK_U)
        top = s.scalar(select(func.max(Reservation.u_start + Reservation.u_count - 1)).where(active.whereclause)) or 0
        if height < top:
            raise Conflict(
                "colocation.rack_below_reserved",
                "Units up to U{top} of {name} are reserved; it cannot be {height} U high.",
                field="height_u",
                top=top,
                name=rack.name,
                height=height,
            )
        rack.height_u = height
    if "depth_mm" in changes:
        depth = R.clean_int(changes["depth_mm"], "depth_mm", 100, 2000)
        deepest = s.scalar(select(func.max(Reservation.depth_mm)).where(active.whereclause)) or 0
        if depth < deepest:
            raise Conflict(
                "colocation.rack_too_shallow",
                "{name} holds a device {deepest} mm deep; it cannot take only {depth} mm.",
                field="depth_mm",
                name=rack.name,
                deepest=deepest,
                depth=depth,
            )
        rack.depth_mm = depth
    sides = [k for k in ("feed_a_id", "feed_b_id") if k in changes]
    old_feeds = {rack.feed_a_id, rack.feed_b_id} - {None}
    if sides:
        held = _count(active)
        if held:
            raise _in_use(
                rack.name,
                held,
                N_("{name} has {count} reservations drawing on its feeds; change its feeds when it is empty."),
            )
        for side in sides:
            value = changes[side]
            if value in (None, "", 0):
                setattr(rack, side, None)
                continue
            feed = s.get(PowerFeed, R.clean_int(value, side, 1, 2**63 - 1))
            if feed is None:
                raise NotFound("colo_power_feed.not_found", "Not found.", field=side)
            if feed.panel.site_id != rack.room.site_id:
                raise Invalid("colocation.feed_elsewhere", "The feed is at another site.", field=side)
            setattr(rack, side, feed.id)
        if rack.feed_a_id is not None and rack.feed_a_id == rack.feed_b_id:
            raise Invalid("colocation.feeds_same", "Feeds A and B must be different feeds.", field="feed_b_id")
    s.flush()
    svc._summary_refresh(s, [rack.id])
    for feed in s.scalars(select(PowerFeed).where(PowerFeed.id.in_(old_feeds))):  # feeds it left
        feed.reserved_w = svc._feed_usage(s, [feed.id]).get(feed.id, 0)


@audited("colocation.floor_delete", "colo_floor")
def floor_delete(actor: Actor, *, what: str, floor_id: int):
    """Delete a floor object that nothing uses; what uses it is named in the refusal."""
    s = db.session()
    _model, obj = _object(actor, what, floor_id)
    name = f"VLAN {obj.vid}" if what == "vlan" else getattr(obj, "name", None) or getattr(obj, "cidr", "")
    checks = {
        "site": (
            (select(Room).where(Room.site_id == obj.id), N_("{name} still has {count} rooms.")),
            (select(PowerPanel).where(PowerPanel.site_id == obj.id), N_("{name} still has {count} power panels.")),
            (select(Prefix).where(Prefix.site_id == obj.id), N_("{name} still has {count} address pools.")),
            (select(Vlan).where(Vlan.site_id == obj.id), N_("{name} still has {count} VLANs.")),
        ),
        "room": (
            (select(Rack).where(Rack.room_id == obj.id), N_("{name} still has {count} racks.")),
            (select(Switch).where(Switch.room_id == obj.id), N_("{name} still has {count} switches.")),
            (select(PatchPanel).where(PatchPanel.room_id == obj.id), N_("{name} still has {count} patch panels.")),
            (select(Vlan).where(Vlan.room_id == obj.id), N_("{name} still has {count} VLANs.")),
        ),
        "panel": (
            (select(PowerFeed).where(PowerFeed.panel_id == obj.id), N_("{name} still has {count} power feeds.")),
        ),
        "feed": (
            (
                select(Rack).where(or_(Rack.feed_a_id == obj.id, Rack.feed_b_id == obj.id)),
                N_("{name} still feeds {count} racks."),
            ),
        ),
        "rack": (
            (
                select(Reservation).where(Reservation.rack_id == obj.id),
                N_("{name} has {count} reservations (current or past); it is kept for their history."),
            ),
        ),
        "switch": (
            (
                select(SwitchPort).where(SwitchPort.switch_id == obj.id, SwitchPort.reservation_id.is_not(None)),
                N_("{name} has {count} ports given to ministries."),
            ),
        ),
        "prefix": (
            (
                select(AddressAllocation).where(AddressAllocation.prefix_id == obj.id),
                N_("{name} has {count} addresses in use."),
            ),
        ),
        "vlan": (
            (
                select(Vlan).where(Vlan.id == obj.id, Vlan.reservation_id.is_not(None)),
                N_("{name} is allocated to a ministry's reservation."),
            ),
            (select(Prefix).where(Prefix.vlan_id == obj.id), N_("{name} carries {count} address pools.")),
        ),
        "patch_panel": (
            (
                select(CrossConnect)
                .join(PatchPort, or_(PatchPort.id == CrossConnect.a_port_id, PatchPort.id == CrossConnect.b_port_id))
                .where(PatchPort.panel_id == obj.id),
                N_("{name} has {count} cross-connects (current or past); it is kept for their history."),
            ),
        ),
    }[what]
    if what != "feed":
        svc._lock_floor(s)
    for stmt, message in checks:
        n = _count(stmt)
        if n:
            raise _in_use(name, n, message)
    if what == "switch":
        s.query(SwitchPort).filter(SwitchPort.switch_id == obj.id).delete(synchronize_session=False)
    if what == "patch_panel":
        s.query(PatchPort).filter(PatchPort.panel_id == obj.id).delete(synchronize_session=False)
    s.delete(obj)
    s.flush()
    return _Gone(floor_id, what, name)


class _Gone:
    """What the audit entry and the surfaces name after the row is gone."""

    def __init__(self, id: int, what: str, name: str):
        self.id, self.what, self.name = id, what, name
