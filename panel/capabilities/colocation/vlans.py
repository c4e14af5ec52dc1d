"""VLANs on the floor: DC admins add them at a site or in one of its rooms (VID 1-4094, unique per
scope); a reservation that asks for a VLAN gets one on approval: the lowest free active VID in the
rack's room, else the lowest site-wide one. A VLAN has at most one holder: the grant is a
conditional update (reservation_id IS NULL), so two racing approvals never share one."""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.colocation import rules as R
from panel.capabilities.colocation.models import ColoSite, Prefix, Room, Vlan, VlanStatus
from panel.errors import Conflict, Invalid, NotFound
from panel.models.tenants import Role
from panel.services.actor import Actor, require_staff
from panel.services.audit import audited

MAX_VID = 4094


def clean_status(value) -> VlanStatus:
    if value not in {s.value for s in VlanStatus}:
        raise Invalid(
            "colocation.vlan_status_invalid",
            "The status is one of {statuses}.",
            field="status",
            statuses=", ".join(s.value for s in VlanStatus),
        )
    return VlanStatus(value)


def _scope(s: Session, site_id, room_id) -> tuple[int, int | None]:
    if room_id not in (None, "", 0):
        room = s.get(Room, R.clean_int(room_id, "room_id", 1, 2**63 - 1))
        if room is None:
            raise NotFound("colo_room.not_found", "Not found.", field="room_id", id=str(room_id))
        if site_id not in (None, "", 0) and int(site_id) != room.site_id:
            raise Invalid("colocation.vlan_scope", "The room is at another site.", field="room_id")
        return room.site_id, room.id
    site = s.get(ColoSite, R.clean_int(site_id, "site_id", 1, 2**63 - 1))
    if site is None:
        raise NotFound("colo_site.not_found", "Not found.", field="site_id", id=str(site_id))
    return site.id, None


def vid_taken(s: Session, vlan: Vlan) -> None:
    """Refuse a VID already used in the VLAN's scope (the unique indexes say the same, later)."""
    same = select(func.count(Vlan.id)).where(Vlan.vid == vlan.vid, Vlan.id != (vlan.id or 0))
    same = (
        same.where(Vlan.room_id == vlan.room_id)
        if vlan.room_id
        else same.where(Vlan.site_id == vlan.site_id, Vlan.room_id.is_(None))
    )
    with s.no_autoflush:  # the VLAN's new VID is checked before it is written
        taken = s.scalar(same)
    if taken:
        raise Conflict(
            "colocation.vid_taken",
            "VLAN {vid} exists already in {scope}.",
            field="vid",
            vid=vlan.vid,
            scope=(s.get(Room, vlan.room_id).name if vlan.room_id else s.get(ColoSite, vlan.site_id).name),
        )


@audited("colocation.vlan_create", "colo_vlan")
def vlan_create(
    actor: Actor, *, site_id: int | None = None, room_id: int | None = None, vid: int, name: str, status="active"
) -> Vlan:
    """A VLAN at a site (room_id none) or in one room of it."""
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        site, room = _scope(s, site_id, room_id)
        vlan = Vlan(
            site_id=site,
            room_id=room,
            vid=R.clean_int(vid, "vid", 1, MAX_VID),
            name=R.clean_name(name),
            status=clean_status(status),
        )
        vid_taken(s, vlan)
        s.add(vlan)
        s.flush()
        return vlan


def _free(s: Session):
    """Active, held by no reservation, and carrying no address pool (a pool's VLAN is shared)."""
    return (
        Vlan.status == VlanStatus.ACTIVE,
        Vlan.reservation_id.is_(None),
        ~exists().where(Prefix.vlan_id == Vlan.id),
    )


def site_vlan(s: Session, site_id: int, vid) -> Vlan | None:
    """The site-wide VLAN with this VID, made (active, named "VLAN <vid>") if the site has
    none yet: a prefix's VLAN is given by its VID, as NetBox's prefix import does. 0 or none: none."""
    if vid in (None, "", 0):
        return None
    vid = R.clean_int(vid, "vlan", 1, MAX_VID)
    found = s.scalar(select(Vlan).where(Vlan.site_id == site_id, Vlan.room_id.is_(None), Vlan.vid == vid))
    if found is None:
        found = Vlan(site_id=site_id, room_id=None, vid=vid, name=f"VLAN {vid}", status=VlanStatus.ACTIVE)
        s.add(found)
        s.flush()
    return found


def free_scopes(s: Session) -> tuple[set[int], set[int]]:
    """(rooms with a free room VLAN, sites with a free site-wide VLAN): one query."""
    rooms: set[int] = set()
    sites: set[int] = set()
    for site_id, room_id in s.execute(select(Vlan.site_id, Vlan.room_id).where(*_free(s)).distinct()):
        (rooms.add(room_id) if room_id else sites.add(site_id))
    return rooms, sites


def refused(s: Session, rooms: set[int], sites: set[int]) -> Conflict:
    """colocation.no_vlans, counting the VLANs the racks that passed the rest could have had (their
    rooms' and their sites'): held by ministries, carrying address pools, or none active."""
    scope = or_(Vlan.room_id.in_(sorted(rooms)), Vlan.site_id.in_(sorted(sites)) & Vlan.room_id.is_(None))
    active = select(func.count(Vlan.id)).where(scope, Vlan.status == VlanStatus.ACTIVE)
    return Conflict(
        "colocation.no_vlans",
        "No free VLAN is left for a rack with space, power, ports and addresses: of the {active} active VLANs"
        " in its room or at its site, {held} are held by ministries and {pools} carry address pools; 1 asked.",
        field="vlan",
        active=s.scalar(active) or 0,
        held=s.scalar(active.where(Vlan.reservation_id.is_not(None))) or 0,
        pools=s.scalar(active.where(exists().where(Prefix.vlan_id == Vlan.id))) or 0,
    )


def allocate(s: Session, *, reservation_id: int, org_id: int, site_id: int, room_id: int) -> Vlan:
    """The lowest free active VLAN of the rack's room, else of its site; refused if another
    approval took it meanwhile (never two holders)."""
    vlan_id = s.scalar(
        select(Vlan.id)
        .where(*_free(s), or_(Vlan.room_id == room_id, (Vlan.site_id == site_id) & Vlan.room_id.is_(None)))
        .order_by(Vlan.room_id.is_(None), Vlan.vid)
        .limit(1)
    )
    done = 0
    if vlan_id is not None:
        done = s.execute(
            update(Vlan)
            .where(Vlan.id == vlan_id, *_free(s))
            .values(reservation_id=reservation_id, org_id=org_id)
            .execution_options(synchronize_session=False)
        ).rowcount
    if done != 1:
        raise Conflict("colocation.vlan_taken", "That VLAN was just given to another request; try again.")
    return s.get(Vlan, vlan_id)


def release(s: Session, reservation_id: int) -> None:
    s.execute(
        update(Vlan)
        .where(Vlan.reservation_id == reservation_id)
        .values(reservation_id=None, org_id=None)
        .execution_options(synchronize_session=False)
    )


def of_org(s: Session, org_id: int) -> list[Vlan]:
    """The VLANs a ministry holds now (its statement lists them)."""
    return list(s.scalars(select(Vlan).where(Vlan.org_id == org_id).order_by(Vlan.site_id, Vlan.vid)))
