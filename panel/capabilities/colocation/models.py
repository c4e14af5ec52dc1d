"""The floor, a small NetBox subset: site -> room -> rack (U) <- reservations (a ministry's units);
power panel -> feed (phase, voltage, amperage, maximum utilisation) feeding racks as A and B;
switches with ports; VLANs (a site's or a room's); IP prefixes (each on a site VLAN) and the addresses
allocated from them.

Per-U tenancy is a row per occupied unit (colo_units, primary key rack + U), a port belongs to at
most one reservation, and an address is a unique row per prefix: the database itself refuses to
give one unit, port or address to two reservations, whatever two approvals race.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.db import Base, utcnow
from panel.models.state import StateMachine


class Phase(enum.StrEnum):
    SINGLE = "single"
    THREE = "three"


class Medium(enum.StrEnum):
    COPPER = "copper"
    FIBRE = "fibre"


class ReservationStatus(enum.StrEnum):
    ACTIVE = "active"  # the units, power, ports and addresses are the ministry's
    RELEASED = "released"  # given back; its rows are free again, the reservation stays for history


RESERVATION_TRANSITIONS = {
    ReservationStatus.ACTIVE: frozenset({ReservationStatus.RELEASED}),
    ReservationStatus.RELEASED: frozenset(),
}


class ColoSite(Base):
    __tablename__ = "colo_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Room(Base):
    __tablename__ = "colo_rooms"
    __table_args__ = (UniqueConstraint("site_id", "name", name="colo_room_site_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("colo_sites.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))

    site: Mapped[ColoSite] = relationship(lazy="joined", innerjoin=True)


class PowerPanel(Base):
    __tablename__ = "colo_power_panels"
    __table_args__ = (UniqueConstraint("site_id", "name", name="colo_panel_site_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("colo_sites.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))


class PowerFeed(Base):
    __tablename__ = "colo_power_feeds"
    __table_args__ = (UniqueConstraint("panel_id", "name", name="colo_feed_panel_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("colo_power_panels.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    phase: Mapped[Phase] = mapped_column(Enum(Phase, native_enum=False, length=10), default=Phase.SINGLE)
    voltage: Mapped[int] = mapped_column(default=230)
    amperage: Mapped[int] = mapped_column(default=16)
    max_utilisation: Mapped[int] = mapped_column(default=80)  # percent of the breaker's rating we may draw
    # The capacity summary (kept by service._summary_refresh in the transaction that changes it):
    capacity_w: Mapped[int] = mapped_column(default=0)  # rules.feed_capacity_w of the fields above
    reserved_w: Mapped[int] = mapped_column(default=0)  # active reservations' maximum draw on this feed

    panel: Mapped[PowerPanel] = relationship(lazy="joined", innerjoin=True)


class Rack(Base):
    __tablename__ = "colo_racks"
    __table_args__ = (UniqueConstraint("room_id", "name", name="colo_rack_room_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("colo_rooms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    height_u: Mapped[int] = mapped_column(default=42)
    depth_mm: Mapped[int] = mapped_column(default=1000)  # the deepest device it takes
    feed_a_id: Mapped[int | None] = mapped_column(ForeignKey("colo_power_feeds.id", ondelete="SET NULL"))
    feed_b_id: Mapped[int | None] = mapped_column(ForeignKey("colo_power_feeds.id", ondelete="SET NULL"))
    # The capacity summary (kept by service._summary_refresh from the colo_units rows, in the same
    # transaction): occupied units as a bit mask (bit u-1) and the longest run of free units.
    used_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    free_run_u: Mapped[int] = mapped_column(default=0)

    room: Mapped[Room] = relationship(lazy="joined", innerjoin=True)


class Switch(Base):
    __tablename__ = "colo_switches"
    __table_args__ = (UniqueConstraint("room_id", "name", name="colo_switch_room_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("colo_rooms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class SwitchPort(Base):
    __tablename__ = "colo_switch_ports"
    __table_args__ = (
        UniqueConstraint("switch_id", "name", name="colo_port_switch_name"),
        Index("ix_colo_switch_ports_free", "switch_id", "speed_mbps", "medium", "reservation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    switch_id: Mapped[int] = mapped_column(ForeignKey("colo_switches.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    speed_mbps: Mapped[int] = mapped_column(default=1000)
    medium: Mapped[Medium] = mapped_column(Enum(Medium, native_enum=False, length=10), default=Medium.COPPER)
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("colo_reservations.id", ondelete="SET NULL"), index=True
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))

    switch: Mapped[Switch] = relationship(lazy="joined", innerjoin=True)


class PatchPanel(Base):
    """A patch panel in a room: N positions, each a front port (where a cross-connect's cord plugs
    in) backed by the rear port of the same position (the panel's permanent trunk), as NetBox's
    front and rear ports with one position each."""

    __tablename__ = "colo_patch_panels"
    __table_args__ = (UniqueConstraint("room_id", "name", name="colo_patch_panel_room_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("colo_rooms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    medium: Mapped[Medium] = mapped_column(Enum(Medium, native_enum=False, length=10), default=Medium.FIBRE)

    room: Mapped[Room] = relationship(lazy="joined", innerjoin=True)


class PatchPort(Base):
    """One position of a patch panel: its front and rear port. A cross-connect holds the front port
    (reservation_id set by a conditional update: a port has at most one holder)."""

    __tablename__ = "colo_patch_ports"
    __table_args__ = (
        UniqueConstraint("panel_id", "position", name="colo_patch_port_panel_position"),
        Index("ix_colo_patch_ports_free", "panel_id", "reservation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    panel_id: Mapped[int] = mapped_column(ForeignKey("colo_patch_panels.id", ondelete="CASCADE"))
    position: Mapped[int]
    front_name: Mapped[str] = mapped_column(String(50))
    rear_name: Mapped[str] = mapped_column(String(50))
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("colo_reservations.id", ondelete="SET NULL"), index=True
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))

    panel: Mapped[PatchPanel] = relationship(lazy="joined", innerjoin=True)


class Prefix(Base):
    __tablename__ = "colo_prefixes"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("colo_sites.id", ondelete="CASCADE"), index=True)
    cidr: Mapped[str] = mapped_column(String(50), unique=True)  # normalised network, e.g. 10.85.0.0/26
    family: Mapped[int] = mapped_column(default=4)
    # the site VLAN the pool is routed on: shared by every ministry, so never given to one
    vlan_id: Mapped[int | None] = mapped_column(ForeignKey("colo_vlans.id"), index=True)
    description: Mapped[str] = mapped_column(String(200), default="")

    vlan_ref: Mapped[Vlan | None] = relationship(lazy="joined")

    @property
    def vlan(self) -> int | None:
        """The VID of the prefix's VLAN (what the surfaces and NetBox show)."""
        return self.vlan_ref.vid if self.vlan_ref else None


class VlanStatus(enum.StrEnum):
    ACTIVE = "active"  # may be allocated to a ministry's reservation
    RESERVED = "reserved"  # kept by the data center: never allocated
    DEPRECATED = "deprecated"  # being retired: never allocated


_V = VlanStatus
# DC admins set a VLAN's status by hand (edit); any change is allowed, a held VLAN's is refused before.
VLAN_TRANSITIONS: dict[VlanStatus, frozenset[VlanStatus]] = {
    _V.ACTIVE: frozenset({_V.RESERVED, _V.DEPRECATED}),
    _V.RESERVED: frozenset({_V.ACTIVE, _V.DEPRECATED}),
    _V.DEPRECATED: frozenset({_V.ACTIVE, _V.RESERVED}),
}


class Vlan(StateMachine, Base):
    """An 802.1Q VLAN at a site, or in one room of it (room_id set). The VID is unique per scope:
    one site-wide VLAN 100, and one VLAN 100 per room at most. A reservation that asked for a VLAN
    holds one (reservation_id set by a conditional update: a VLAN has at most one holder)."""

    TRANSITIONS = VLAN_TRANSITIONS
    STATE_KIND = "colo_vlan"
    __tablename__ = "colo_vlans"
    __table_args__ = (
        Index(
            "uq_colo_vlans_site_vid",
            "site_id",
            "vid",
            unique=True,
            sqlite_where=text("room_id IS NULL"),
            postgresql_where=text("room_id IS NULL"),
        ),
        UniqueConstraint("room_id", "vid", name="colo_vlan_room_vid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("colo_sites.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("colo_rooms.id", ondelete="CASCADE"), index=True)
    vid: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[VlanStatus] = mapped_column(
        Enum(VlanStatus, native_enum=False, length=12), default=VlanStatus.ACTIVE
    )
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("colo_reservations.id", ondelete="SET NULL"), index=True
    )
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))


class Reservation(StateMachine, Base):
    """A ministry's units in one rack, with the power, ports and addresses granted with them."""

    TRANSITIONS = RESERVATION_TRANSITIONS
    STATE_KIND = "reservation"
    __tablename__ = "colo_reservations"
    __table_args__ = (Index("ix_colo_reservations_org_id_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    rack_id: Mapped[int] = mapped_column(ForeignKey("colo_racks.id"), index=True)
    u_start: Mapped[int]  # lowest unit, counted from 1 at the bottom (as NetBox and rack labels do)
    u_count: Mapped[int]
    depth_mm: Mapped[int] = mapped_column(default=0)
    typical_w: Mapped[int] = mapped_column(default=0)
    max_w: Mapped[int] = mapped_column(default=0)  # drawn from feed A, and from B too with ab_feeds
    psus: Mapped[int] = mapped_column(default=1)
    ab_feeds: Mapped[bool] = mapped_column(default=False)
    cross_connects: Mapped[int] = mapped_column(default=0)
    # what was granted, kept after release (the port and address rows are then free again): the statement
    ports: Mapped[int] = mapped_column(default=0)
    addresses: Mapped[int] = mapped_column(default=0)
    vlan_vid: Mapped[int | None]  # the VLAN granted (its VID), when the request asked for one
    label: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[ReservationStatus] = mapped_column(
        Enum(ReservationStatus, native_enum=False, length=10), default=ReservationStatus.ACTIVE
    )
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_at: Mapped[dt.datetime | None]

    rack: Mapped[Rack] = relationship(lazy="joined", innerjoin=True)

    @property
    def u_end(self) -> int:
        return self.u_start + self.u_count - 1


class UnitClaim(Base):
    """One occupied unit: the primary key is the guarantee that no unit has two tenants."""

    __tablename__ = "colo_units"

    rack_id: Mapped[int] = mapped_column(ForeignKey("colo_racks.id", ondelete="CASCADE"), primary_key=True)
    u: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("colo_reservations.id", ondelete="CASCADE"), index=True)


class AddressAllocation(Base):
    __tablename__ = "colo_addresses"
    __table_args__ = (UniqueConstraint("prefix_id", "address", name="colo_address_prefix_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix_id: Mapped[int] = mapped_column(ForeignKey("colo_prefixes.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(45))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    reservation_id: Mapped[int] = mapped_column(ForeignKey("colo_reservations.id", ondelete="CASCADE"), index=True)


class CrossConnect(Base):
    """A cable between two patch-panel front ports: its A end in the room of the ministry's rack,
    its B end in the room the request named (a meet-me room, a carrier's cage) or the same room.
    Kept after release (released_at set; its ports are free again) for the statement's history."""

    __tablename__ = "colo_cross_connects"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    reservation_id: Mapped[int] = mapped_column(ForeignKey("colo_reservations.id", ondelete="CASCADE"), index=True)
    a_port_id: Mapped[int] = mapped_column(ForeignKey("colo_patch_ports.id", ondelete="CASCADE"), index=True)
    b_port_id: Mapped[int] = mapped_column(ForeignKey("colo_patch_ports.id", ondelete="CASCADE"), index=True)
    medium: Mapped[Medium] = mapped_column(Enum(Medium, native_enum=False, length=10), default=Medium.FIBRE)
    b_party: Mapped[str] = mapped_column(String(100), default="")  # who is at the B end (a carrier...)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    released_at: Mapped[dt.datetime | None]


# ---- visitor access ----------------------------------------------------------------------------------


class Signer(Base):
    """A person a ministry authorises to name its visitors (a ministry admin names them)."""

    __tablename__ = "colo_signers"
    __table_args__ = (UniqueConstraint("org_id", "user_id", name="colo_signer_org_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    named_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PassStatus(enum.StrEnum):
    PENDING = "pending"  # named by the signer; DC staff have not decided
    APPROVED = "approved"  # lets the person in within its window
    REJECTED = "rejected"
    REVOKED = "revoked"  # withdrawn by the signer or DC staff
    EXPIRED = "expired"  # its window ended, or it went unused too long (see expired_reason)


P = PassStatus
PASS_TRANSITIONS = {
    P.PENDING: frozenset({P.APPROVED, P.REJECTED, P.REVOKED}),
    P.APPROVED: frozenset({P.REVOKED, P.EXPIRED}),
    P.REJECTED: frozenset(),
    P.REVOKED: frozenset(),
    P.EXPIRED: frozenset(),
}


class VisitorPass(StateMachine, Base):
    """A named person allowed into the data center for a ministry, within a validity window."""

    TRANSITIONS = PASS_TRANSITIONS
    STATE_KIND = "visitor_pass"

    __tablename__ = "colo_visitor_passes"
    __table_args__ = (Index("ix_colo_visitor_passes_org_id_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    full_name: Mapped[str] = mapped_column(String(100))
    id_number: Mapped[str] = mapped_column(String(40))  # national ID or passport number, checked at the door
    company: Mapped[str] = mapped_column(String(100), default="")
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    temporary: Mapped[bool] = mapped_column(default=False)  # at most 24 hours
    status: Mapped[PassStatus] = mapped_column(
        Enum(PassStatus, native_enum=False, length=10), default=PassStatus.PENDING, index=True
    )
    expired_reason: Mapped[str] = mapped_column(String(20), default="")  # "window" | "inactive"
    signer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signer_name: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str] = mapped_column(String(64), default="")
    decided_at: Mapped[dt.datetime | None]
    last_visit_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Visit(Base):
    """One entry through the door on a pass, and its exit (logged by DC staff)."""

    __tablename__ = "colo_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int] = mapped_column(ForeignKey("colo_visitor_passes.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    checked_in_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    checked_in_by: Mapped[str] = mapped_column(String(64))
    checked_out_at: Mapped[dt.datetime | None]
    checked_out_by: Mapped[str] = mapped_column(String(64), default="")


# ---- arriving servers ----------------------------------------------------------------------------------


class ServerStatus(enum.StrEnum):
    RECEIVED = "received"  # at the loading dock
    RACKED = "racked"  # mounted in its reservation's units
    CABLED = "cabled"  # network and power cables in
    POWERED = "powered"  # switched on, reachable on its address
    HANDED_OVER = "handed_over"  # its SSH host key is pinned and it is a govhost host
    RETIRED = "retired"  # its reservation was decommissioned: off the floor, its host out of the inventory


S = ServerStatus
SERVER_TRANSITIONS = {
    S.RECEIVED: frozenset({S.RACKED, S.RETIRED}),
    S.RACKED: frozenset({S.CABLED, S.RETIRED}),
    S.CABLED: frozenset({S.POWERED, S.RETIRED}),
    S.POWERED: frozenset({S.HANDED_OVER, S.RETIRED}),
    S.HANDED_OVER: frozenset({S.RETIRED}),
    S.RETIRED: frozenset(),
}


class Management(enum.StrEnum):
    CUSTOMER = "customer"  # the ministry runs it; govhost keeps it in the inventory only (no roles, no jobs)
    HOSTING = "hosting"  # offered to the data center for hosting roles (placements and jobs may use it)


class ColoServer(StateMachine, Base):
    """A ministry's own server, from the loading dock to a govhost host (hosts.id once handed over)."""

    TRANSITIONS = SERVER_TRANSITIONS
    STATE_KIND = "colocation server"
    __tablename__ = "colo_servers"
    __table_args__ = (Index("ix_colo_servers_org_id_id", "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    reservation_id: Mapped[int] = mapped_column(ForeignKey("colo_reservations.id"), index=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)  # its host name once handed over
    serial: Mapped[str] = mapped_column(String(100), default="")
    address: Mapped[str] = mapped_column(String(45))  # where its sshd answers (one of the reservation's)
    fingerprint: Mapped[str] = mapped_column(String(60), default="")  # the SSH host key the ministry declared
    status: Mapped[ServerStatus] = mapped_column(
        Enum(ServerStatus, native_enum=False, length=12), default=ServerStatus.RECEIVED
    )
    management: Mapped[Management | None] = mapped_column(Enum(Management, native_enum=False, length=10))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"), index=True)
    received_by: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    handed_over_by: Mapped[str] = mapped_column(String(64), default="")
    handed_over_at: Mapped[dt.datetime | None]
    retired_host: Mapped[str] = mapped_column(
        String(63), default="", server_default=""
    )  # the host removed from the inventory
    retired_at: Mapped[dt.datetime | None]
