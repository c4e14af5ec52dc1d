"""Colocation use cases: the floor (DC admins edit it), capacity checks and the allocation made when
a colocation request is approved, reservations as ministries see them, rack elevations.

The truth is in rows: a row per occupied unit, the active reservations' maximum draw, the ports and
addresses held. A check does not read them all: each rack keeps a summary (occupied-unit mask,
longest free run) and each feed its derated capacity and reserved watts, recomputed from those rows
for the racks and feeds an allocation or release touches, in its own transaction under the floor
lock (`_summary_refresh`), so a check is one indexed query over racks (`capacity_check`);
`capacity_check_scan` reads every row instead (the reference the tests compare with and the
benchmark's baseline), `summary_drift` lists any summary that disagrees with the rows. The
allocation runs inside the approval's transaction after the site rows are locked (PostgreSQL;
SQLite's writer lock serialises it anyway), and the unit, port and address rows' unique keys refuse
a double grant even if two approvals raced past the check.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from panel import db
from panel.capabilities.colocation import rules as R
from panel.capabilities.colocation import vlans as V
from panel.capabilities.colocation.models import (
    AddressAllocation,
    ColoSite,
    CrossConnect,
    Medium,
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
    UnitClaim,
    Vlan,
)
from panel.errors import Conflict, Invalid, NotFound
from panel.models.tenants import Organization, Role
from panel.services import quotas, requests
from panel.services.actor import Actor, get_scoped, require_staff, scoped
from panel.services.audit import audited
from panel.services.pagination import MAX_PAGE, MAX_PER_PAGE, Page, paginate

KIND = "colocation.reservation_create"
DECOMMISSION = "colocation.reservation_decommission"
ACTIVE = ReservationStatus.ACTIVE


def _id(value, field: str = "id") -> int:
    return R.clean_int(value, field, 1, 2**63 - 1)


def _floor_reader(actor: Actor) -> None:
    require_staff(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR)


def _floor_admin(actor: Actor) -> None:
    require_staff(actor, Role.ADMIN)


def _get(s: Session, model, object_id, field: str):
    obj = s.get(model, _id(object_id, field))
    if obj is None:
        raise NotFound(f"{model.__tablename__[:-1]}.not_found", "Not found.", field=field, id=str(object_id))
    return obj


def _unique(s: Session, what: str, field: str, name: str) -> None:
    try:
        s.flush()
    except IntegrityError:
        raise Conflict("colocation.name_taken", "{name} exists already.", field=field, name=name) from None


# ---- the floor (DC admins) -----------------------------------------------------------------------


@audited("colocation.site_create", "colo_site")
def site_create(actor: Actor, *, name: str, description: str = "") -> ColoSite:
    _floor_admin(actor)
    with db.unit_of_work() as s:
        site = ColoSite(
            name=R.clean_name(name), description=R.clean_name(description, "description") if description else ""
        )
        s.add(site)
        _unique(s, "site", "name", site.name)
        return site


@audited("colocation.room_create", "colo_room")
def room_create(actor: Actor, *, site_id: int, name: str) -> Room:
    return _named_at_site(actor, Room, site_id, name)


@audited("colocation.panel_create", "colo_power_panel")
def panel_create(actor: Actor, *, site_id: int, name: str) -> PowerPanel:
    return _named_at_site(actor, PowerPanel, site_id, name)


def _named_at_site(actor: Actor, model, site_id: int, name: str):
    """A floor object that is a name at a site and nothing more (a room, a power panel)."""
    _floor_admin(actor)
    with db.unit_of_work() as s:
        site = _get(s, ColoSite, site_id, "site_id")
        row = model(site_id=site.id, name=R.clean_name(name))
        s.add(row)
        _unique(s, model.__tablename__, "name", row.name)
        return row


@audited("colocation.feed_create", "colo_power_feed")
def feed_create(
    actor: Actor,
    *,
    panel_id: int,
    name: str,
    phase: str = "single",
    voltage: int = 230,
    amperage: int = 16,
    max_utilisation: int = 80,
) -> PowerFeed:
    _floor_admin(actor)
    if phase not in (p.value for p in Phase):
        raise Invalid("colocation.phase_invalid", "The phase is single or three.", field="phase")
    voltage = R.clean_int(voltage, "voltage", 1, 1000)
    if voltage not in R.VOLTAGES:
        raise Invalid(
            "colocation.voltage_invalid",
            "The voltage is one of {voltages}.",
            field="voltage",
            voltages=", ".join(map(str, R.VOLTAGES)),
        )
    with db.unit_of_work() as s:
        panel = _get(s, PowerPanel, panel_id, "panel_id")
        feed = PowerFeed(
            panel_id=panel.id,
            name=R.clean_name(name),
            phase=Phase(phase),
            voltage=voltage,
            amperage=R.clean_int(amperage, "amperage", 1, 400),
            max_utilisation=R.clean_int(max_utilisation, "max_utilisation", 1, 100),
        )
        feed.capacity_w = R.feed_capacity_w(feed.phase.value, feed.voltage, feed.amperage, feed.max_utilisation)
        s.add(feed)
        _unique(s, "feed", "name", feed.name)
        return feed


@audited("colocation.rack_create", "colo_rack")
def rack_create(
    actor: Actor,
    *,
    room_id: int,
    name: str,
    height_u: int = 42,
    depth_mm: int = 1000,
    feed_a_id: int | None = None,
    feed_b_id: int | None = None,
) -> Rack:
    _floor_admin(actor)
    with db.unit_of_work() as s:
        room = _get(s, Room, room_id, "room_id")
        feeds = []
        for fid, fname in ((feed_a_id, "feed_a_id"), (feed_b_id, "feed_b_id")):
            if fid in (None, "", 0):
                feeds.append(None)
                continue
            feed = _get(s, PowerFeed, fid, fname)
            if feed.panel.site_id != room.site_id:
                raise Invalid("colocation.feed_elsewhere", "The feed is at another site.", field=fname)
            feeds.append(feed.id)
        if feeds[0] is not None and feeds[0] == feeds[1]:
            raise Invalid("colocation.feeds_same", "Feeds A and B must be different feeds.", field="feed_b_id")
        rack = Rack(
            room_id=room.id,
            name=R.clean_name(name),
            height_u=R.clean_int(height_u, "height_u", 1, R.MAX_RACK_U),
            depth_mm=R.clean_int(depth_mm, "depth_mm", 100, 2000),
            feed_a_id=feeds[0],
            feed_b_id=feeds[1],
        )
        rack.free_run_u = rack.height_u
        s.add(rack)
        _unique(s, "rack", "name", rack.name)
        return rack


@audited("colocation.switch_create", "colo_switch")
def switch_create(
    actor: Actor, *, room_id: int, name: str, ports: int = 24, speed_mbps: int = 1000, medium: str = "copper"
) -> Switch:
    """A switch and its ports, named 1..N (all of one speed and medium; add another switch for more)."""
    _floor_admin(actor)
    ports = R.clean_int(ports, "ports", 1, 96)
    speed_mbps = _speed(speed_mbps)
    medium = _medium(medium)
    with db.unit_of_work() as s:
        room = _get(s, Room, room_id, "room_id")
        switch = Switch(room_id=room.id, name=R.clean_name(name))
        s.add(switch)
        _unique(s, "switch", "name", switch.name)
        s.add_all(
            SwitchPort(switch_id=switch.id, name=str(i), speed_mbps=speed_mbps, medium=medium)
            for i in range(1, ports + 1)
        )
        s.flush()
        return switch


@audited("colocation.patch_panel_create", "colo_patch_panel")
def patch_panel_create(actor: Actor, *, room_id: int, name: str, ports: int = 24, medium: str = "fibre") -> PatchPanel:
    """A patch panel and its positions 1..N, each a front port with the rear port behind it."""
    _floor_admin(actor)
    ports = R.clean_int(ports, "ports", 1, 144)
    medium = _medium(medium, "medium")
    with db.unit_of_work() as s:
        room = _get(s, Room, room_id, "room_id")
        panel = PatchPanel(room_id=room.id, name=R.clean_name(name), medium=medium)
        s.add(panel)
        _unique(s, "patch panel", "name", panel.name)
        s.add_all(
            PatchPort(panel_id=panel.id, position=i, front_name=f"F{i}", rear_name=f"R{i}") for i in range(1, ports + 1)
        )
        s.flush()
        return panel


def _speed(value) -> int:
    value = R.clean_int(value, "port_speed_mbps", 1, 10**6)
    if value not in R.SPEEDS:
        raise Invalid(
            "colocation.speed_invalid",
            "The port speed is one of {speeds} Mb/s.",
            field="port_speed_mbps",
            speeds=", ".join(map(str, R.SPEEDS)),
        )
    return value


def _medium(value, field: str = "port_medium") -> Medium:
    try:
        return Medium(str(value))
    except ValueError:
        raise Invalid("colocation.medium_invalid", "The medium is copper or fibre.", field=field) from None


@audited("colocation.prefix_create", "colo_prefix")
def prefix_create(actor: Actor, *, site_id: int, cidr: str, vlan: int | None = None, description: str = "") -> Prefix:
    _floor_admin(actor)
    net = R.clean_prefix(cidr)
    with db.unit_of_work() as s:
        site = _get(s, ColoSite, site_id, "site_id")
        for other in s.scalars(select(Prefix.cidr).where(Prefix.family == net.version)):
            if net.overlaps(ipaddress.ip_network(other)):
                raise Conflict(
                    "colocation.prefix_overlaps", "{cidr} overlaps {other}.", field="cidr", cidr=str(net), other=other
                )
        prefix = Prefix(
            site_id=site.id,
            cidr=str(net),
            family=net.version,
            vlan_ref=V.site_vlan(s, site.id, vlan),
            description=R.clean_name(description, "description") if description else "",
        )
        s.add(prefix)
        s.flush()
        return prefix


# ---- reading the floor (staff) --------------------------------------------------------------------


@dataclass(frozen=True)
class RackRow:
    id: int
    name: str
    room: str
    site: str
    height_u: int
    used_u: int
    depth_mm: int
    feeds: str


@dataclass(frozen=True)
class FeedRow:
    id: int
    name: str
    panel: str
    site_id: int
    phase: str
    voltage: int
    amperage: int
    max_utilisation: int
    capacity_w: int
    used_w: int

    @property
    def available_w(self) -> int:
        return self.capacity_w - self.used_w


@dataclass(frozen=True)
class PoolRow:
    id: int
    name: str  # "room / switch" or the prefix
    site: str
    total: int
    used: int
    detail: str = ""


@dataclass(frozen=True)
class Floor:
    sites: list
    rooms: list
    panels: list
    racks: Page
    feeds: Page  # of FeedRow
    switches: Page  # of PoolRow
    prefixes: Page  # of PoolRow
    patch_panels: Page  # of PoolRow
    vlans: Page  # of VlanRow


@dataclass(frozen=True)
class VlanRow:
    id: int
    site: str
    room: str  # "" for a site's VLAN
    vid: int
    name: str
    status: str
    holder: str  # the ministry holding it, "" when free
    pools: int  # address pools routed on it (shared: never given to a ministry)


def _feed_usage(s: Session, feed_ids=None) -> dict[int, int]:
    """Watts each feed carries at the active reservations' maximum draw (A always, B with A+B);
    all feeds, or those of racks on the given feeds."""
    stmt = (
        select(Rack.feed_a_id, Rack.feed_b_id, Reservation.ab_feeds, func.sum(Reservation.max_w))
        .join(Reservation, Reservation.rack_id == Rack.id)
        .where(Reservation.status == ACTIVE)
        .group_by(Rack.feed_a_id, Rack.feed_b_id, Reservation.ab_feeds)
    )
    if feed_ids is not None:
        stmt = stmt.where(or_(Rack.feed_a_id.in_(feed_ids), Rack.feed_b_id.in_(feed_ids)))
    rows = s.execute(stmt).all()
    used: dict[int, int] = defaultdict(int)
    for a, b, ab, watts in rows:
        if a is not None:
            used[a] += int(watts or 0)
        if ab and b is not None:
            used[b] += int(watts or 0)
    return used


def _feed_rows(s: Session, stmt=None) -> list[FeedRow]:
    """Feeds with their derated capacity and reserved watts (the summary the allocations keep)."""
    stmt = stmt if stmt is not None else select(PowerFeed).order_by(PowerFeed.panel_id, PowerFeed.name)
    return [
        FeedRow(
            f.id,
            f.name,
            f.panel.name,
            f.panel.site_id,
            f.phase.value,
            f.voltage,
            f.amperage,
            f.max_utilisation,
            f.capacity_w,
            f.reserved_w,
        )
        for f in s.scalars(stmt)
    ]


def _bounds(page, per_page) -> tuple[int, int]:
    try:
        page, per_page = int(page), int(per_page)
    except (TypeError, ValueError):
        page, per_page = 1, 50
    return min(max(1, page), MAX_PAGE), min(max(1, per_page), MAX_PER_PAGE)


def _page(s: Session, count_stmt, rows_of, page, per_page) -> Page:
    page, per_page = _bounds(page, per_page)
    return Page(rows_of(per_page, (page - 1) * per_page), page, per_page, s.scalar(count_stmt) or 0)


def floor_get(
    actor: Actor,
    *,
    page: int = 1,
    per_page: int = 50,
    feeds_page: int = 1,
    switches_page: int = 1,
    prefixes_page: int = 1,
    patch_panels_page: int = 1,
    vlans_page: int = 1,
) -> Floor:
    """The floor as DC staff see it, each list a page of its own: racks with units used, feeds with
    available W, switches with free ports, prefixes with free addresses. One query per list, none per row."""
    _floor_reader(actor)
    with db.unit_of_work() as s:
        used_u = select(UnitClaim.rack_id, func.count().label("n")).group_by(UnitClaim.rack_id).subquery()
        feed_names = {f.id: f"{f.panel.name}/{f.name}" for f in s.scalars(select(PowerFeed))}
        stmt = (
            select(Rack, func.coalesce(used_u.c.n, 0))
            .join(used_u, used_u.c.rack_id == Rack.id, isouter=True)
            .join(Room, Room.id == Rack.room_id)
            .order_by(Room.site_id, Room.name, Rack.name)
        )

        def racks(limit, offset):
            return [
                RackRow(
                    r.id,
                    r.name,
                    r.room.name,
                    r.room.site.name,
                    r.height_u,
                    n,
                    r.depth_mm,
                    " + ".join(feed_names.get(f, "?") for f in (r.feed_a_id, r.feed_b_id) if f) or "-",
                )
                for r, n in s.execute(stmt.limit(limit).offset(offset))
            ]

        def feeds(limit, offset):
            return _feed_rows(
                s, select(PowerFeed).order_by(PowerFeed.panel_id, PowerFeed.name).limit(limit).offset(offset)
            )

        free_ports = func.sum(case((SwitchPort.reservation_id.is_(None), 1), else_=0))

        def switches(limit, offset):
            return [
                PoolRow(
                    sw_id, f"{room} / {name}", site, int(n), int(n) - int(free or 0), f"{speed} Mb/s {medium.value}"
                )
                for sw_id, name, room, site, speed, medium, n, free in s.execute(
                    select(
                        Switch.id,
                        Switch.name,
                        Room.name,
                        ColoSite.name,
                        func.max(SwitchPort.speed_mbps),
                        func.max(SwitchPort.medium),
                        func.count(SwitchPort.id),
                        free_ports,
                    )
                    .join(Room, Room.id == Switch.room_id)
                    .join(ColoSite, ColoSite.id == Room.site_id)
                    .join(SwitchPort, SwitchPort.switch_id == Switch.id, isouter=True)
                    .group_by(Switch.id, Switch.name, Room.name, ColoSite.name)
                    .order_by(ColoSite.name, Room.name, Switch.name)
                    .limit(limit)
                    .offset(offset)
                )
            ]

        def prefixes(limit, offset):
            rows = s.execute(
                select(Prefix, ColoSite.name)
                .join(ColoSite, ColoSite.id == Prefix.site_id)
                .order_by(Prefix.cidr)
                .limit(limit)
                .offset(offset)
            ).all()
            allocated = dict(
                s.execute(
                    select(AddressAllocation.prefix_id, func.count())
                    .where(AddressAllocation.prefix_id.in_([p.id for p, _ in rows]))
                    .group_by(AddressAllocation.prefix_id)
                ).all()
            )
            return [
                PoolRow(
                    p.id,
                    p.cidr,
                    site,
                    R.usable(ipaddress.ip_network(p.cidr)),
                    allocated.get(p.id, 0),
                    f"VLAN {p.vlan}" if p.vlan else "",
                )
                for p, site in rows
            ]

        patch_free = func.sum(case((PatchPort.reservation_id.is_(None), 1), else_=0))

        def patch_panels(limit, offset):
            return [
                PoolRow(pid, f"{room} / {name}", site, int(n), int(n) - int(free or 0), medium.value)
                for pid, name, room, site, medium, n, free in s.execute(
                    select(
                        PatchPanel.id,
                        PatchPanel.name,
                        Room.name,
                        ColoSite.name,
                        PatchPanel.medium,
                        func.count(PatchPort.id),
                        patch_free,
                    )
                    .join(Room, Room.id == PatchPanel.room_id)
                    .join(ColoSite, ColoSite.id == Room.site_id)
                    .join(PatchPort, PatchPort.panel_id == PatchPanel.id, isouter=True)
                    .group_by(PatchPanel.id, PatchPanel.name, Room.name, ColoSite.name, PatchPanel.medium)
                    .order_by(ColoSite.name, Room.name, PatchPanel.name)
                    .limit(limit)
                    .offset(offset)
                )
            ]

        pools = select(Prefix.vlan_id, func.count().label("n")).group_by(Prefix.vlan_id).subquery()

        def vlans(limit, offset):
            return [
                VlanRow(v.id, site, room or "", v.vid, v.name, v.status.value, holder or "", int(n or 0))
                for v, site, room, holder, n in s.execute(
                    select(Vlan, ColoSite.name, Room.name, Organization.name, pools.c.n)
                    .join(ColoSite, ColoSite.id == Vlan.site_id)
                    .outerjoin(Room, Room.id == Vlan.room_id)
                    .outerjoin(Organization, Organization.id == Vlan.org_id)
                    .outerjoin(pools, pools.c.vlan_id == Vlan.id)
                    .order_by(ColoSite.name, Room.name.is_not(None), Room.name, Vlan.vid)
                    .limit(limit)
                    .offset(offset)
                )
            ]

        return Floor(
            sites=list(s.scalars(select(ColoSite).order_by(ColoSite.name))),
            rooms=list(s.scalars(select(Room).order_by(Room.site_id, Room.name))),
            panels=list(s.scalars(select(PowerPanel).order_by(PowerPanel.site_id, PowerPanel.name))),
            racks=_page(s, select(func.count(Rack.id)), racks, page, per_page),
            feeds=_page(s, select(func.count(PowerFeed.id)), feeds, feeds_page, per_page),
            switches=_page(s, select(func.count(Switch.id)), switches, switches_page, per_page),
            prefixes=_page(s, select(func.count(Prefix.id)), prefixes, prefixes_page, per_page),
            patch_panels=_page(s, select(func.count(PatchPanel.id)), patch_panels, patch_panels_page, per_page),
            vlans=_page(s, select(func.count(Vlan.id)), vlans, vlans_page, per_page),
        )


# ---- capacity --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What a colocation request asks for (the kind's clean payload)."""

    u_count: int
    depth_mm: int = 0
    typical_w: int = 0
    max_w: int = 0
    psus: int = 1
    ab_feeds: bool = False
    ports: int = 0
    port_speed_mbps: int = 1000
    port_medium: str = "copper"
    ipv4: int = 0
    ipv6: int = 0
    cross_connects: int = 0
    cross_connect_medium: str = "fibre"
    cross_connect_room_id: int | None = None  # the B ends' room; None: the rack's own room
    cross_connect_to: str = ""  # who is at the B end
    vlan: bool = False  # a VLAN of the rack's room or site, the ministry's alone
    site_id: int | None = None
    label: str = ""

    @classmethod
    def of(cls, payload: dict) -> Spec:
        return cls(**{k: payload[k] for k in cls.__dataclass_fields__ if k in payload})


@dataclass(frozen=True)
class Placement:
    rack_id: int
    rack: str
    u_start: int
    site_id: int
    room_id: int
    notes: list = field(default_factory=list)


def capacity_check_scan(s: Session, org_id: int, spec: Spec) -> Placement:
    """capacity_check computed from every row (every rack, reservation and feed) instead of the
    summaries: the reference the tests compare capacity_check with, and the benchmark's baseline."""
    rack_q = select(
        Rack.id, Rack.name, Rack.room_id, Room.site_id, Rack.height_u, Rack.depth_mm, Rack.feed_a_id, Rack.feed_b_id
    ).join(Room, Room.id == Rack.room_id)
    res_q = select(Reservation.rack_id, Reservation.u_start, Reservation.u_count, Reservation.org_id).where(
        Reservation.status == ACTIVE
    )
    if spec.site_id is not None:
        rack_q = rack_q.where(Room.site_id == spec.site_id)
        res_q = (
            res_q.join(Rack, Rack.id == Reservation.rack_id)
            .join(Room, Room.id == Rack.room_id)
            .where(Room.site_id == spec.site_id)
        )
    racks = s.execute(rack_q).all()
    if not racks:
        raise _refused_no_racks()
    used: dict[int, list[int]] = defaultdict(list)
    mine: set[int] = set()
    for rack_id, start, count, owner in s.execute(res_q):
        used[rack_id].extend(range(start, start + count))
        if owner == org_id:
            mine.add(rack_id)
    deep = [r for r in racks if r.depth_mm >= spec.depth_mm]
    fits: list[tuple] = []
    largest = 0
    for r in deep:
        runs = R.free_runs(r.height_u, used.get(r.id, ()))
        best = max((n for _, n in runs), default=0)
        largest = max(largest, best)
        if best >= spec.u_count:
            fits.append((r, R.first_fit(r.height_u, used.get(r.id, ()), spec.u_count)))
    if not fits:
        raise _refused_space(spec, largest)
    used_w = _feed_usage(s)  # from the reservations themselves, not the feeds' summaries
    caps = {
        f.id: R.feed_capacity_w(f.phase.value, f.voltage, f.amperage, f.max_utilisation) - used_w.get(f.id, 0)
        for f in s.scalars(select(PowerFeed))
    }

    def headroom(r) -> int:
        sides = [r.feed_a_id, r.feed_b_id] if spec.ab_feeds else [r.feed_a_id]
        if any(f is None for f in sides):
            return 0
        return min(caps.get(f, 0) for f in sides)

    powered = [(r, u) for r, u in fits if headroom(r) >= spec.max_w]
    if not powered:
        raise _refused_power(spec, max(headroom(r) for r, _ in fits))
    if spec.ports:
        free_ports = dict(
            s.execute(
                select(Switch.room_id, func.count(SwitchPort.id))
                .join(SwitchPort, SwitchPort.switch_id == Switch.id)
                .where(
                    SwitchPort.reservation_id.is_(None),
                    SwitchPort.speed_mbps == spec.port_speed_mbps,
                    SwitchPort.medium == Medium(spec.port_medium),
                )
                .group_by(Switch.room_id)
            ).all()
        )
        cabled = [(r, u) for r, u in powered if free_ports.get(r.room_id, 0) >= spec.ports]
        if not cabled:
            raise _refused_ports(spec, max(free_ports.get(r.room_id, 0) for r, _ in powered))
        powered = cabled
    for family, count in ((4, spec.ipv4), (6, spec.ipv6)):
        if not count:
            continue
        free = _free_addresses(s, family)
        addressed = [(r, u) for r, u in powered if free.get(r.site_id, 0) >= count]
        if not addressed:
            raise _refused_addresses(family, count, max(free.get(r.site_id, 0) for r, _ in powered))
        powered = addressed
    if spec.cross_connects:
        free_pp, ok_rooms, b_room = _patch_rooms(s, spec)
        crossed = [
            (r, u) for r, u in powered if r.room_id in ok_rooms and (b_room is None or r.site_id == b_room.site_id)
        ]
        if not crossed:
            raise _no_patch_ports(spec, free_pp, b_room, {r.room_id for r, _ in powered})
        powered = crossed
    if spec.vlan:
        vlan_rooms, vlan_sites = V.free_scopes(s)
        tagged = [(r, u) for r, u in powered if r.room_id in vlan_rooms or r.site_id in vlan_sites]
        if not tagged:
            raise V.refused(s, {r.room_id for r, _ in powered}, {r.site_id for r, _ in powered})
        powered = tagged
    r, u = min(powered, key=lambda ru: (ru[0].id not in mine, ru[0].site_id, ru[0].room_id, ru[0].id))
    return Placement(r.id, r.name, u, r.site_id, r.room_id)


def capacity_check(s: Session, org_id: int, spec: Spec) -> Placement:
    """Where the request fits now, or Conflict with the precise shortage: contiguous units (at the
    asked depth), then feed headroom for the maximum draw, then free ports, then free addresses.
    One query over the racks' summaries finds the rack (racks already holding the ministry's units
    first, then the lowest site, room and rack); only a refusal asks again, stage by stage, for the
    figure its message gives."""
    feed_a, feed_b = aliased(PowerFeed), aliased(PowerFeed)

    def over_racks(*columns):
        stmt = (
            select(*columns)
            .select_from(Rack)
            .join(Room, Room.id == Rack.room_id)
            .outerjoin(feed_a, feed_a.id == Rack.feed_a_id)
            .outerjoin(feed_b, feed_b.id == Rack.feed_b_id)
        )
        return stmt.where(Room.site_id == spec.site_id) if spec.site_id is not None else stmt

    # A missing feed has no headroom, as in capacity_check_scan.
    head_a = func.coalesce(feed_a.capacity_w - feed_a.reserved_w, 0)
    head_b = func.coalesce(feed_b.capacity_w - feed_b.reserved_w, 0)
    headroom = case((head_a < head_b, head_a), else_=head_b) if spec.ab_feeds else head_a
    stages = [
        ("space", [Rack.depth_mm >= spec.depth_mm, Rack.free_run_u >= spec.u_count]),
        ("power", [headroom >= spec.max_w]),
    ]
    free_ports = None
    if spec.ports:
        free_ports = (
            select(Switch.room_id.label("room_id"), func.count(SwitchPort.id).label("n"))
            .join(SwitchPort, SwitchPort.switch_id == Switch.id)
            .where(
                SwitchPort.reservation_id.is_(None),
                SwitchPort.speed_mbps == spec.port_speed_mbps,
                SwitchPort.medium == Medium(spec.port_medium),
            )
            .group_by(Switch.room_id)
            .subquery()
        )
        stages.append(("ports", [Rack.room_id.in_(select(free_ports.c.room_id).where(free_ports.c.n >= spec.ports))]))
    free_addresses = {}
    for family, count in ((4, spec.ipv4), (6, spec.ipv6)):
        if count:
            free_addresses[family] = free = _free_addresses(s, family)
            stages.append((f"ipv{family}", [Room.site_id.in_([site for site, n in free.items() if n >= count])]))
    if spec.cross_connects:
        free_pp, ok_rooms, b_room = _patch_rooms(s, spec)
        conds = [Rack.room_id.in_(sorted(ok_rooms))]
        if b_room is not None:
            conds.append(Room.site_id == b_room.site_id)
        stages.append(("cross_connects", conds))
    if spec.vlan:
        vlan_rooms, vlan_sites = V.free_scopes(s)
        stages.append(("vlan", [or_(Rack.room_id.in_(sorted(vlan_rooms)), Room.site_id.in_(sorted(vlan_sites)))]))
    everything = [c for _, conds in stages for c in conds]
    mine = Rack.id.in_(select(Reservation.rack_id).where(Reservation.org_id == org_id, Reservation.status == ACTIVE))
    row = s.execute(
        over_racks(Rack.id, Rack.name, Rack.room_id, Room.site_id, Rack.height_u, Rack.used_mask)
        .where(*everything)
        .order_by(case((mine, 0), else_=1), Room.site_id, Rack.room_id, Rack.id)
        .limit(1)
    ).first()
    if row is not None:
        u = R.first_fit(row.height_u, R.units_of(row.used_mask), spec.u_count)
        return Placement(row.id, row.name, u, row.site_id, row.room_id)
    # Refused: say what is short, at the first stage no rack passes.
    if not s.scalar(over_racks(func.count(Rack.id))):
        raise _refused_no_racks()
    passed: list = []
    for stage, conds in stages:
        if s.scalar(over_racks(func.count(Rack.id)).where(*passed, *conds)):
            passed += conds
            continue
        if stage == "space":
            largest = s.scalar(over_racks(func.max(Rack.free_run_u)).where(Rack.depth_mm >= spec.depth_mm))
            raise _refused_space(spec, int(largest or 0))
        if stage == "power":
            raise _refused_power(spec, int(s.scalar(over_racks(func.max(headroom)).where(*passed)) or 0))
        if stage == "ports":
            most = s.scalar(
                over_racks(func.max(func.coalesce(free_ports.c.n, literal(0))))
                .outerjoin(free_ports, free_ports.c.room_id == Rack.room_id)
                .where(*passed)
            )
            raise _refused_ports(spec, int(most or 0))
        if stage == "cross_connects":
            raise _no_patch_ports(spec, free_pp, b_room, set(s.scalars(over_racks(Rack.room_id).where(*passed))))
        if stage == "vlan":
            left = s.execute(over_racks(Rack.room_id, Room.site_id).where(*passed).distinct()).all()
            raise V.refused(s, {room for room, _ in left}, {site for _, site in left})
        family = int(stage[-1])
        sites = s.scalars(over_racks(Room.site_id).where(*passed).distinct()).all()
        count = spec.ipv4 if family == 4 else spec.ipv6
        raise _refused_addresses(family, count, max(free_addresses[family].get(site, 0) for site in sites))
    raise AssertionError("a rack passed every stage but the placement query found none")  # pragma: no cover


def _free_patch_ports(s: Session, medium: str) -> dict[int, int]:
    """Free patch-panel front ports of the medium, by room (one grouped query)."""
    return dict(
        s.execute(
            select(PatchPanel.room_id, func.count(PatchPort.id))
            .join(PatchPort, PatchPort.panel_id == PatchPanel.id)
            .where(PatchPort.reservation_id.is_(None), PatchPanel.medium == _medium(medium, "cross_connect_medium"))
            .group_by(PatchPanel.room_id)
        ).all()
    )


def _patch_rooms(s: Session, spec: Spec) -> tuple[dict[int, int], set[int], Room | None]:
    """The rooms whose racks can have the cross-connects: each takes a free front port at its A end
    (in the rack's room) and one at its B end (the room asked for, or the rack's own), so the rack's
    room needs twice the count when both ends are in it. (free ports by room, those rooms, B room)."""
    count = spec.cross_connects
    free = _free_patch_ports(s, spec.cross_connect_medium)
    b_room = s.get(Room, spec.cross_connect_room_id) if spec.cross_connect_room_id else None
    if b_room is not None and free.get(b_room.id, 0) < count:
        return free, set(), b_room
    ok = {room for room, n in free.items() if n >= (2 * count if b_room is None or room == b_room.id else count)}
    return free, ok, b_room


# The refusals: the check and the reference scan say the same thing when a request does not fit.


def _refused_no_racks() -> Conflict:
    return Conflict("colocation.no_racks", "There are no racks on the floor to place servers in yet.")


def _refused_space(spec: Spec, largest: int) -> Conflict:
    return Conflict(
        "colocation.no_space",
        "No rack has {units} contiguous free units for a device {depth} mm deep; the largest free run is {largest} U.",
        field="u_count",
        units=spec.u_count,
        depth=spec.depth_mm,
        largest=largest,
    )


def _refused_power(spec: Spec, best: int) -> Conflict:
    return Conflict(
        "colocation.no_power",
        "No rack with {units} free units has {watts} W of headroom on feed {feeds}; the most is {best} W.",
        field="max_w",
        units=spec.u_count,
        watts=spec.max_w,
        feeds="A+B" if spec.ab_feeds else "A",
        best=best,
    )


def _refused_ports(spec: Spec, free: int) -> Conflict:
    return Conflict(
        "colocation.no_ports",
        "Only {free} free {speed} Mb/s {medium} ports are left in a room with space and power; {count} asked.",
        field="ports",
        free=free,
        speed=spec.port_speed_mbps,
        medium=spec.port_medium,
        count=spec.ports,
    )


def _refused_addresses(family: int, count: int, free: int) -> Conflict:
    return Conflict(
        "colocation.no_addresses",
        "Only {free} free IPv{family} addresses are left at a site with room; {count} asked.",
        field=f"ipv{family}",
        free=free,
        family=family,
        count=count,
    )


def _no_patch_ports(spec: Spec, free: dict[int, int], b_room: Room | None, rooms: set[int]) -> Conflict:
    if b_room is not None and free.get(b_room.id, 0) < spec.cross_connects:
        return Conflict(
            "colocation.no_patch_ports_b",
            "Only {free} free {medium} patch-panel ports are left in {room} for the B ends; {count} asked.",
            field="cross_connect_room_id",
            free=free.get(b_room.id, 0),
            medium=spec.cross_connect_medium,
            room=b_room.name,
            count=spec.cross_connects,
        )
    return Conflict(
        "colocation.no_patch_ports",
        "No room with space, power, ports and addresses has free {medium} patch-panel ports for {count}"
        " cross-connects (a port at each end); the most free in such a room is {free}.",
        field="cross_connects",
        medium=spec.cross_connect_medium,
        count=spec.cross_connects,
        free=max((free.get(room, 0) for room in rooms), default=0),
    )


def _summary_refresh(s: Session, rack_ids) -> None:
    """Recompute the summary of these racks (mask and longest free run, from their unit rows) and of
    their feeds (reserved watts, from the active reservations): in the caller's transaction, after
    it changed units or reservations, so a committed summary always matches the committed rows."""
    rack_ids = set(rack_ids)
    units: dict[int, list[int]] = defaultdict(list)
    for rack_id, u in s.execute(select(UnitClaim.rack_id, UnitClaim.u).where(UnitClaim.rack_id.in_(rack_ids))):
        units[rack_id].append(u)
    feed_ids: set[int] = set()
    for rack in s.scalars(select(Rack).where(Rack.id.in_(rack_ids))):
        rack.used_mask = R.mask_of(units[rack.id])
        rack.free_run_u = R.largest_run(rack.height_u, units[rack.id])
        feed_ids |= {f for f in (rack.feed_a_id, rack.feed_b_id) if f is not None}
    used = _feed_usage(s, feed_ids)
    for feed in s.scalars(select(PowerFeed).where(PowerFeed.id.in_(feed_ids))):
        feed.capacity_w = R.feed_capacity_w(feed.phase.value, feed.voltage, feed.amperage, feed.max_utilisation)
        feed.reserved_w = used.get(feed.id, 0)
    s.flush()


def summary_rebuild(s: Session) -> None:
    """Recompute every rack's and feed's summary from the rows (after a bulk load or an import)."""
    _lock_floor(s)
    _summary_refresh(s, s.scalars(select(Rack.id)).all())
    used = _feed_usage(s)
    for feed in s.scalars(select(PowerFeed)):  # feeds on no rack too
        feed.capacity_w = R.feed_capacity_w(feed.phase.value, feed.voltage, feed.amperage, feed.max_utilisation)
        feed.reserved_w = used.get(feed.id, 0)
    s.flush()


def summary_drift(s: Session) -> list[str]:
    """Every rack or feed whose summary disagrees with its rows (empty when all is well)."""
    units: dict[int, list[int]] = defaultdict(list)
    for rack_id, u in s.execute(select(UnitClaim.rack_id, UnitClaim.u)):
        units[rack_id].append(u)
    out = []
    for rack in s.scalars(select(Rack)):
        want = (R.mask_of(units[rack.id]), R.largest_run(rack.height_u, units[rack.id]))
        if (rack.used_mask, rack.free_run_u) != want:
            out.append(f"rack {rack.id}: mask/run {rack.used_mask}/{rack.free_run_u}, rows say {want[0]}/{want[1]}")
    used = _feed_usage(s)
    for f in s.scalars(select(PowerFeed)):
        want = (R.feed_capacity_w(f.phase.value, f.voltage, f.amperage, f.max_utilisation), used.get(f.id, 0))
        if (f.capacity_w, f.reserved_w) != want:
            out.append(f"feed {f.id}: capacity/reserved {f.capacity_w}/{f.reserved_w} W, rows say {want[0]}/{want[1]}")
    return out


def _free_addresses(s: Session, family: int) -> dict[int, int]:
    allocated = dict(
        s.execute(
            select(AddressAllocation.prefix_id, func.count())
            .join(Prefix, Prefix.id == AddressAllocation.prefix_id)
            .where(Prefix.family == family)
            .group_by(AddressAllocation.prefix_id)
        ).all()
    )
    free: dict[int, int] = defaultdict(int)
    for pid, site_id, cidr in s.execute(select(Prefix.id, Prefix.site_id, Prefix.cidr).where(Prefix.family == family)):
        free[site_id] += R.usable(ipaddress.ip_network(cidr)) - allocated.get(pid, 0)
    return free


def _lock_floor(s: Session) -> None:
    """One allocation at a time: lock the site rows (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    holds the database's one writer lock). Later reads in this transaction see the winner's rows."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(ColoSite.id).order_by(ColoSite.id).with_for_update()).all()


def reservation_allocate(s: Session, *, org_id: int, request_id: int | None, spec: Spec) -> Reservation:
    """Grant the request's units, power, ports and addresses (in the caller's transaction)."""
    _lock_floor(s)
    place = capacity_check(s, org_id, spec)
    res = Reservation(
        org_id=org_id,
        rack_id=place.rack_id,
        u_start=place.u_start,
        u_count=spec.u_count,
        depth_mm=spec.depth_mm,
        typical_w=spec.typical_w,
        max_w=spec.max_w,
        psus=spec.psus,
        ab_feeds=spec.ab_feeds,
        cross_connects=spec.cross_connects,
        ports=spec.ports,
        addresses=spec.ipv4 + spec.ipv6,
        label=spec.label,
        request_id=request_id,
    )
    s.add(res)
    s.flush()
    try:
        with s.begin_nested():
            s.add_all(
                UnitClaim(rack_id=place.rack_id, u=u, reservation_id=res.id)
                for u in range(place.u_start, place.u_start + spec.u_count)
            )
    except IntegrityError:
        raise Conflict("colocation.unit_taken", "Those units were just given to another request; try again.") from None
    if spec.ports:
        port_ids = list(
            s.scalars(
                select(SwitchPort.id)
                .join(Switch, Switch.id == SwitchPort.switch_id)
                .where(
                    Switch.room_id == place.room_id,
                    SwitchPort.reservation_id.is_(None),
                    SwitchPort.speed_mbps == spec.port_speed_mbps,
                    SwitchPort.medium == Medium(spec.port_medium),
                )
                .order_by(Switch.id, SwitchPort.id)
                .limit(spec.ports)
            )
        )
        done = s.execute(
            update(SwitchPort)
            .where(SwitchPort.id.in_(port_ids), SwitchPort.reservation_id.is_(None))
            .values(reservation_id=res.id, org_id=org_id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done != spec.ports:
            raise Conflict("colocation.port_taken", "Those ports were just given to another request; try again.")
    for family, count in ((4, spec.ipv4), (6, spec.ipv6)):
        if count:
            _allocate_addresses(s, res, place.site_id, family, count)
    if spec.cross_connects:
        _allocate_cross_connects(s, res, place.room_id, spec)
    if spec.vlan:
        vlan = V.allocate(s, reservation_id=res.id, org_id=org_id, site_id=place.site_id, room_id=place.room_id)
        res.vlan_vid = vlan.vid
    s.flush()
    _summary_refresh(s, [place.rack_id])
    return res


def _allocate_cross_connects(s: Session, res: Reservation, room_id: int, spec: Spec) -> None:
    """The lowest free front ports: A ends in the rack's room, B ends in the room asked for (or the
    same room, after the A ends). The conditional update takes only ports still free: a port that
    another approval took meanwhile makes this one fail rather than share it."""
    medium = _medium(spec.cross_connect_medium, "cross_connect_medium")

    def free_ports(room: int, exclude: list[int]) -> list[int]:
        return list(
            s.scalars(
                select(PatchPort.id)
                .join(PatchPanel, PatchPanel.id == PatchPort.panel_id)
                .where(
                    PatchPanel.room_id == room,
                    PatchPanel.medium == medium,
                    PatchPort.reservation_id.is_(None),
                    PatchPort.id.not_in(exclude),
                )
                .order_by(PatchPanel.id, PatchPort.position)
                .limit(spec.cross_connects)
            )
        )

    a_ends = free_ports(room_id, [])
    b_ends = free_ports(spec.cross_connect_room_id or room_id, a_ends)
    taken = 0
    if len(a_ends) == len(b_ends) == spec.cross_connects:
        taken = s.execute(
            update(PatchPort)
            .where(PatchPort.id.in_(a_ends + b_ends), PatchPort.reservation_id.is_(None))
            .values(reservation_id=res.id, org_id=res.org_id)
            .execution_options(synchronize_session=False)
        ).rowcount
    if taken != 2 * spec.cross_connects:
        raise Conflict(
            "colocation.patch_port_taken", "Those patch-panel ports were just given to another request; try again."
        )
    s.add_all(
        CrossConnect(
            org_id=res.org_id,
            reservation_id=res.id,
            a_port_id=a,
            b_port_id=b,
            medium=medium,
            b_party=spec.cross_connect_to,
        )
        for a, b in zip(a_ends, b_ends, strict=True)
    )


def _allocate_addresses(s: Session, res: Reservation, site_id: int, family: int, count: int) -> None:
    """The lowest free addresses of the site's prefixes. An approval that raced past the check (no
    floor lock) may find them gone by now: fewer than asked is refused like a unique-key clash, never
    granted short (the reservation would count addresses it does not hold)."""
    got: list[AddressAllocation] = []
    for pid, cidr in s.execute(
        select(Prefix.id, Prefix.cidr).where(Prefix.site_id == site_id, Prefix.family == family).order_by(Prefix.id)
    ):
        taken = set(s.scalars(select(AddressAllocation.address).where(AddressAllocation.prefix_id == pid)))
        for addr in R.candidates(ipaddress.ip_network(cidr)):
            if len(got) == count:
                break
            if addr not in taken:
                got.append(AddressAllocation(prefix_id=pid, address=addr, org_id=res.org_id, reservation_id=res.id))
        if len(got) == count:
            break
    taken_meanwhile = Conflict(
        "colocation.address_taken", "Those addresses were just given to another request; try again."
    )
    if len(got) != count:
        raise taken_meanwhile
    try:
        with s.begin_nested():
            s.add_all(got)
    except IntegrityError:
        raise taken_meanwhile from None


# ---- requests and reservations ---------------------------------------------------------------------


def colocation_request(actor: Actor, *, org_id: int, **spec):
    """Ask for rack space, power, ports and addresses: a request DC staff approve; approval checks
    the floor's real capacity and the ministry's budgets, then reserves it all for the ministry."""
    return requests.request_create(actor, kind=KIND, org_id=org_id, payload=spec)


def reservation_list(
    actor: Actor, *, page: int = 1, per_page: int = 50, org_id: int | None = None, active_only: bool = False
) -> Page:
    stmt = scoped(select(Reservation), actor, Reservation)
    if org_id not in (None, ""):
        stmt = stmt.where(Reservation.org_id == _id(org_id, "org_id"))
    if active_only:
        stmt = stmt.where(Reservation.status == ACTIVE)
    with db.unit_of_work():
        return paginate(stmt.order_by(Reservation.id.desc()), page=page, per_page=per_page)


@dataclass(frozen=True)
class ReservationView:
    reservation: Reservation
    org_name: str
    rack: str
    room: str
    site: str
    ports: list[str]
    addresses: list[str]
    feeds: str
    cross_connects: list[str] = field(default_factory=list)  # "A end <-> B end (medium, to whom)"


def reservation_get(actor: Actor, reservation_id) -> ReservationView:
    with db.unit_of_work() as s:
        res = get_scoped(Reservation, reservation_id, actor, "colo_reservation")
        rack = res.rack
        ports = [
            f"{sw}:{p} ({speed} Mb/s {medium.value})"
            for sw, p, speed, medium in s.execute(
                select(Switch.name, SwitchPort.name, SwitchPort.speed_mbps, SwitchPort.medium)
                .join(Switch, Switch.id == SwitchPort.switch_id)
                .where(SwitchPort.reservation_id == res.id)
                .order_by(SwitchPort.id)
            )
        ]
        addresses = list(
            s.scalars(
                select(AddressAllocation.address)
                .where(AddressAllocation.reservation_id == res.id)
                .order_by(AddressAllocation.id)
            )
        )
        names = {f.id: f"{f.panel.name}/{f.name}" for f in s.scalars(select(PowerFeed))}
        sides = [rack.feed_a_id, rack.feed_b_id] if res.ab_feeds else [rack.feed_a_id]
        a_port, b_port = aliased(PatchPort), aliased(PatchPort)
        a_panel, b_panel = aliased(PatchPanel), aliased(PatchPanel)
        a_room, b_room = aliased(Room), aliased(Room)
        cross = [
            f"{ar} / {ap}:{af} <-> {br} / {bp}:{bf} ({medium.value}{', ' + party if party else ''})"
            for ar, ap, af, br, bp, bf, medium, party in s.execute(
                select(
                    a_room.name,
                    a_panel.name,
                    a_port.front_name,
                    b_room.name,
                    b_panel.name,
                    b_port.front_name,
                    CrossConnect.medium,
                    CrossConnect.b_party,
                )
                .join(a_port, a_port.id == CrossConnect.a_port_id)
                .join(a_panel, a_panel.id == a_port.panel_id)
                .join(a_room, a_room.id == a_panel.room_id)
                .join(b_port, b_port.id == CrossConnect.b_port_id)
                .join(b_panel, b_panel.id == b_port.panel_id)
                .join(b_room, b_room.id == b_panel.room_id)
                .where(CrossConnect.reservation_id == res.id)
                .order_by(CrossConnect.id)
            )
        ]
        return ReservationView(
            res,
            s.get(Organization, res.org_id).name,
            rack.name,
            rack.room.name,
            rack.room.site.name,
            ports,
            addresses,
            " + ".join(names.get(f, "?") for f in sides if f),
            cross,
        )


@audited("colocation.reservation_release", "colo_reservation")
def reservation_release(actor: Actor, *, reservation_id: int) -> Reservation:
    """DC staff give the units, ports and addresses back to the floor; the budget is freed. (The
    ministry's way out is a decommission request, which also retires its servers: servers.py.)"""
    with db.unit_of_work() as s:
        res = get_scoped(Reservation, _id(reservation_id, "reservation_id"), actor, "colo_reservation")
        require_staff(actor, Role.ADMIN, Role.OPERATOR)
        _lock_floor(s)  # the rack's summary is rewritten: one writer at a time, as allocations
        reservation_free(s, res)
        return res


def reservation_free(s: Session, res: Reservation) -> None:
    """Give an active reservation's units, switch and patch-panel ports and addresses back to the
    floor, mark it (and its cross-connects) released and free the ministry's budget; in the caller's
    transaction, after it took the floor lock (release and decommission both come here)."""
    if res.status != ACTIVE:
        raise Conflict("colocation.reservation_released", "This reservation was released already.")
    s.query(UnitClaim).filter(UnitClaim.reservation_id == res.id).delete(synchronize_session=False)
    s.execute(
        update(SwitchPort)
        .where(SwitchPort.reservation_id == res.id)
        .values(reservation_id=None, org_id=None)
        .execution_options(synchronize_session=False)
    )
    s.query(AddressAllocation).filter(AddressAllocation.reservation_id == res.id).delete(synchronize_session=False)
    V.release(s, res.id)
    res.move_to(ReservationStatus.RELEASED)
    res.released_at = db.utcnow()
    _release_cross_connects(s, res)
    s.flush()
    _summary_refresh(s, [res.rack_id])
    quotas.quota_release(s, [res.request_id])
    s.flush()


def _release_cross_connects(s: Session, res: Reservation) -> None:
    """Free the reservation's patch-panel ports; its cross-connects stay as history, marked released."""
    s.execute(
        update(PatchPort)
        .where(PatchPort.reservation_id == res.id)
        .values(reservation_id=None, org_id=None)
        .execution_options(synchronize_session=False)
    )
    s.execute(
        update(CrossConnect)
        .where(CrossConnect.reservation_id == res.id, CrossConnect.released_at.is_(None))
        .values(released_at=res.released_at)
        .execution_options(synchronize_session=False)
    )


# ---- rack elevation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    u_start: int
    u_count: int
    reservation_id: int | None  # None: another ministry's units, as a ministry sees them
    org_id: int | None
    label: str


@dataclass(frozen=True)
class Elevation:
    rack: Rack
    room: str
    site: str
    slots: list[Slot]
    free_u: int


def rack_elevation(actor: Actor, rack_id) -> Elevation:
    """The rack, bottom (U1) to top. Staff see every ministry's units; a ministry sees a rack only
    where it holds units, with its own reservations named and everyone else's as plain occupied."""
    with db.unit_of_work() as s:
        rack = None
        if isinstance(rack_id, int) and 0 < rack_id < 2**63:
            rack = s.get(Rack, rack_id)
        rows = (
            s.execute(
                select(Reservation, Organization.name)
                .join(Organization, Organization.id == Reservation.org_id)
                .where(Reservation.rack_id == rack.id, Reservation.status == ACTIVE)
                .order_by(Reservation.u_start)
            ).all()
            if rack
            else []
        )
        own = actor.sees_all or any(r.org_id in actor.org_ids for r, _ in rows)
        if rack is None or not own:
            raise NotFound("colo_rack.not_found", "Not found.", id=str(rack_id))
        slots = []
        for r, org_name in rows:
            visible = actor.sees_all or r.org_id in actor.org_ids
            slots.append(
                Slot(
                    r.u_start,
                    r.u_count,
                    r.id if visible else None,
                    r.org_id if visible else None,
                    (f"{org_name}: {r.label}" if r.label else org_name) if visible else "",
                )
            )
        used = sum(x.u_count for x in slots)
        return Elevation(rack, rack.room.name, rack.room.site.name, slots, rack.height_u - used)


# ---- choices for forms -----------------------------------------------------------------------------


def site_choices(actor: Actor) -> list[ColoSite]:
    """The sites a request may name (their names are public to every signed-in user)."""
    with db.unit_of_work() as s:
        return list(s.scalars(select(ColoSite).order_by(ColoSite.name)))


def room_choices(actor: Actor) -> list[tuple[int, str]]:
    """Rooms a request may name for its cross-connects' B ends (a meet-me room, a carrier's cage):
    "site / room", public to signed-in users as the sites are."""
    with db.unit_of_work() as s:
        return [(x.id, f"{x.site.name} / {x.name}") for x in s.scalars(select(Room).order_by(Room.site_id, Room.name))]


def floor_choices(actor: Actor) -> dict[str, list[tuple[int, str]]]:
    """Parents of new floor objects, by the form field that names them (staff)."""
    _floor_reader(actor)
    with db.unit_of_work() as s:
        sites = [(x.id, x.name) for x in s.scalars(select(ColoSite).order_by(ColoSite.name))]
        rooms = [(x.id, f"{x.site.name} / {x.name}") for x in s.scalars(select(Room).order_by(Room.site_id, Room.name))]
        panels = [
            (p.id, f"{site} / {p.name}")
            for p, site in s.execute(
                select(PowerPanel, ColoSite.name)
                .join(ColoSite, ColoSite.id == PowerPanel.site_id)
                .order_by(PowerPanel.id)
            )
        ]
        feeds = [(f.id, f"{f.panel.name} / {f.name}") for f in s.scalars(select(PowerFeed).order_by(PowerFeed.id))]
        return {
            "site_id": sites,
            "room_id": rooms,
            "panel_id": panels,
            "feed_a_id": [(0, "-"), *feeds],
            "feed_b_id": [(0, "-"), *feeds],
        }


def org_names(actor: Actor, org_ids) -> dict[int, str]:
    """Names of the organizations of a page of reservations (one query, only those the actor sees)."""
    stmt = select(Organization.id, Organization.name).where(Organization.id.in_({int(i) for i in org_ids}))
    if not actor.sees_all:
        stmt = stmt.where(Organization.id.in_(actor.org_ids))
    with db.unit_of_work() as s:
        return dict(s.execute(stmt).all())
