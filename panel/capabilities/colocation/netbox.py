"""The floor in NetBox's own terms: export to and import from NetBox's bulk-import CSV and JSON.

Each object type is NetBox's model label with the column names of NetBox's import forms (so a file
exported here imports into NetBox, and NetBox's import files import here):

  dcim.site          name, slug, status, description
  dcim.location      site, name, slug, status                         (a room or cage)
  dcim.powerpanel    site, name
  dcim.rack          site, location, name, status, width, u_height, mounting_depth
  dcim.powerfeed     site, power_panel, location, rack, name, status, type, supply, phase,
                     voltage, amperage, max_utilization               (type primary = the rack's
                                                                       feed A, redundant = B)
  dcim.device        site, location, name, role, manufacturer, device_type, status
                                                                      (switches, patch panels)
  dcim.interface     device, name, type, speed                        (switch ports; speed in kb/s)
  dcim.rearport      device, name, type, positions                    (a patch panel's rear ports,
                                                                       one position each)
  dcim.frontport     device, name, type, rear_port, rear_port_position  (its front ports, each on
                                                                       the rear port behind it)
  ipam.vlangroup     name, slug, scope_type, scope_name               (one per room with VLANs:
                                                                       scope dcim.location)
  ipam.vlan          site, group, vid, name, tenant, status           (a room's VLAN is in its
                                                                       room's group; tenant: the
                                                                       ministry holding it, not
                                                                       imported)
  ipam.prefix        prefix, status, scope_type, scope_name, vlan_site, vlan, description
  dcim.rackreservation  site, location, rack, units, tenant, description   (export only)
  dcim.cable         side_a_site, side_a_device, side_a_type, side_a_name, side_b_site, side_b_device,
                     side_b_type, side_b_name, type, status, tenant, label, description
                                                                      (cross-connects: front port
                                                                       to front port; export only)

CSV is one object type per file, with a header row (NetBox's format); JSON is one document
{object type: [rows]} holding them all. Import creates what does not exist yet (matched by name in
its parent), leaves what exists as it is, and runs the same checks as adding each object by hand;
one bad row refuses the whole import (nothing half-applied). Reservations and cross-connects are
never imported: a ministry's units and cables come through a request, its budget and the capacity
check.

What NetBox cannot say is not carried: a NetBox power feed feeds one rack, so a feed shared by
several racks is exported without its rack (and the racks' link to it is not in the file).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import aliased

from panel import db
from panel.capabilities.colocation import rules as R
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import vlans as V
from panel.capabilities.colocation.models import (
    ColoSite,
    CrossConnect,
    Medium,
    PatchPanel,
    PatchPort,
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
from panel.errors import Invalid, PanelError
from panel.models.tenants import Organization
from panel.services.audit import audited

COLUMNS: dict[str, tuple[str, ...]] = {
    "dcim.site": ("name", "slug", "status", "description"),
    "dcim.location": ("site", "name", "slug", "status"),
    "dcim.powerpanel": ("site", "name"),
    "dcim.rack": ("site", "location", "name", "status", "width", "u_height", "mounting_depth"),
    "dcim.powerfeed": (
        "site", "power_panel", "location", "rack", "name", "status", "type", "supply", "phase",
        "voltage", "amperage", "max_utilization",
    ),
    "dcim.device": ("site", "location", "name", "role", "manufacturer", "device_type", "status"),
    "dcim.interface": ("device", "name", "type", "speed"),
    "dcim.rearport": ("device", "name", "type", "positions"),
    "dcim.frontport": ("device", "name", "type", "rear_port", "rear_port_position"),
    "ipam.vlangroup": ("name", "slug", "scope_type", "scope_name"),
    "ipam.vlan": ("site", "group", "vid", "name", "tenant", "status"),
    "ipam.prefix": ("prefix", "status", "scope_type", "scope_name", "vlan_site", "vlan", "description"),
    "dcim.rackreservation": ("site", "location", "rack", "units", "tenant", "description"),
    "dcim.cable": (
        "side_a_site", "side_a_device", "side_a_type", "side_a_name",
        "side_b_site", "side_b_device", "side_b_type", "side_b_name",
        "type", "status", "tenant", "label", "description",
    ),
}  # fmt: skip
EXPORT_ONLY = frozenset({"dcim.rackreservation", "dcim.cable"})
REQUIRED = {
    "dcim.site": ("name",),
    "dcim.location": ("site", "name"),
    "dcim.powerpanel": ("site", "name"),
    "dcim.rack": ("site", "name"),
    "dcim.powerfeed": ("site", "power_panel", "name"),
    "dcim.device": ("site", "location", "name"),
    "dcim.interface": ("device", "name", "type"),
    "dcim.rearport": ("device", "name", "type"),
    "dcim.frontport": ("device", "name", "type", "rear_port"),
    "ipam.vlangroup": ("name", "scope_type", "scope_name"),
    "ipam.vlan": ("site", "vid", "name"),
    "ipam.prefix": ("prefix",),
}
MAX_ROWS = 50_000  # per import, all object types together
MAX_BYTES = 10_000_000
SWITCH = {"role": "Switch", "manufacturer": "Generic", "device_type": "Switch"}
PATCH_PANEL = {"role": "Patch panel", "manufacturer": "Generic", "device_type": "Patch panel"}
# NetBox's port type of a patch panel's ports for each medium (8P8C = RJ45 copper, LC = fibre), and
# the other common types read back as their medium
PORT_TYPES = {"copper": "8p8c", "fibre": "lc"}
MEDIUM_OF_PORT = {
    **dict.fromkeys(("8p8c", "8p6c", "110-punch"), "copper"),
    **dict.fromkeys(("lc", "lc-pc", "lc-upc", "lc-apc", "sc", "sc-pc", "sc-upc", "sc-apc", "st", "fc", "mpo"), "fibre"),
}
PHASES = {"single": "single-phase", "three": "three-phase"}
# NetBox interface types for each (medium, speed in Mb/s) a port may have, and back
TYPES = {
    ("copper", 100): "100base-tx",
    ("copper", 1000): "1000base-t",
    ("copper", 10000): "10gbase-t",
    ("copper", 25000): "25gbase-t",
    ("copper", 40000): "40gbase-cr4",
    ("copper", 100000): "100gbase-cr4",
    ("fibre", 100): "100base-fx",
    ("fibre", 1000): "1000base-x-sfp",
    ("fibre", 10000): "10gbase-x-sfpp",
    ("fibre", 25000): "25gbase-x-sfp28",
    ("fibre", 40000): "40gbase-x-qsfpp",
    ("fibre", 100000): "100gbase-x-qsfp28",
}
PORT_OF_TYPE = {t: key for key, t in TYPES.items()}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or "x"


# ---- export ----------------------------------------------------------------------------------------


def floor_export(actor) -> dict[str, list[dict[str, str]]]:
    """The whole floor as NetBox import rows, by object type (DC staff). One query per type."""
    svc._floor_reader(actor)
    out: dict[str, list[dict]] = {t: [] for t in COLUMNS}
    with db.unit_of_work() as s:
        sites = {x.id: x.name for x in s.scalars(select(ColoSite).order_by(ColoSite.name))}
        out["dcim.site"] = [
            {"name": x.name, "slug": _slug(x.name), "status": "active", "description": x.description}
            for x in s.scalars(select(ColoSite).order_by(ColoSite.name))
        ]
        rooms = {x.id: x for x in s.scalars(select(Room).order_by(Room.site_id, Room.name))}
        out["dcim.location"] = [
            {"site": sites[x.site_id], "name": x.name, "slug": _slug(x.name), "status": "active"}
            for x in rooms.values()
        ]
        panels = {x.id: x for x in s.scalars(select(PowerPanel).order_by(PowerPanel.site_id, PowerPanel.name))}
        out["dcim.powerpanel"] = [{"site": sites[x.site_id], "name": x.name} for x in panels.values()]
        racks = list(s.scalars(select(Rack).order_by(Rack.room_id, Rack.name)))
        out["dcim.rack"] = [
            {
                "site": sites[rooms[r.room_id].site_id],
                "location": rooms[r.room_id].name,
                "name": r.name,
                "status": "active",
                "width": "19",
                "u_height": str(r.height_u),
                "mounting_depth": str(r.depth_mm),
            }
            for r in racks
        ]
        fed: dict[int, list[tuple[Rack, str]]] = defaultdict(list)
        for r in racks:
            if r.feed_a_id:
                fed[r.feed_a_id].append((r, "primary"))
            if r.feed_b_id:
                fed[r.feed_b_id].append((r, "redundant"))
        for f in s.scalars(select(PowerFeed).order_by(PowerFeed.panel_id, PowerFeed.name)):
            one = fed[f.id][0] if len(fed[f.id]) == 1 else None  # NetBox: a feed feeds one rack
            out["dcim.powerfeed"].append(
                {
                    "site": sites[panels[f.panel_id].site_id],
                    "power_panel": panels[f.panel_id].name,
                    "location": rooms[one[0].room_id].name if one else "",
                    "rack": one[0].name if one else "",
                    "name": f.name,
                    "status": "active",
                    "type": one[1] if one else "primary",
                    "supply": "ac",
                    "phase": PHASES[f.phase.value],
                    "voltage": str(f.voltage),
                    "amperage": str(f.amperage),
                    "max_utilization": str(f.max_utilisation),
                }
            )
        switches = {x.id: x for x in s.scalars(select(Switch).order_by(Switch.room_id, Switch.name))}
        out["dcim.device"] = [
            {
                "site": sites[rooms[x.room_id].site_id],
                "location": rooms[x.room_id].name,
                "name": x.name,
                **SWITCH,
                "status": "active",
            }
            for x in switches.values()
        ]
        panels_pp = {x.id: x for x in s.scalars(select(PatchPanel).order_by(PatchPanel.room_id, PatchPanel.name))}
        out["dcim.device"] += [
            {
                "site": sites[rooms[x.room_id].site_id],
                "location": rooms[x.room_id].name,
                "name": x.name,
                **PATCH_PANEL,
                "status": "active",
            }
            for x in panels_pp.values()
        ]
        out["dcim.rearport"], out["dcim.frontport"] = _patch_ports(s, panels_pp)
        out["dcim.cable"] = _cables(s, sites, rooms)
        out["dcim.interface"] = [
            {
                "device": switches[p.switch_id].name,
                "name": p.name,
                "type": TYPES[(p.medium.value, p.speed_mbps)],
                "speed": str(p.speed_mbps * 1000),
            }
            for p in s.scalars(select(SwitchPort).order_by(SwitchPort.switch_id, SwitchPort.id))
        ]
        prefixes = list(s.scalars(select(Prefix).order_by(Prefix.site_id, Prefix.cidr)))
        out["ipam.vlangroup"], out["ipam.vlan"] = _vlans(s, sites, rooms)
        out["ipam.prefix"] = [
            {
                "prefix": p.cidr,
                "status": "active",
                "scope_type": "dcim.site",
                "scope_name": sites[p.site_id],
                "vlan_site": sites[p.site_id] if p.vlan else "",
                "vlan": str(p.vlan or ""),
                "description": p.description,
            }
            for p in prefixes
        ]
        orgs = dict(
            s.execute(
                select(Organization.id, Organization.name)
                .join(Reservation, Reservation.org_id == Organization.id)
                .where(Reservation.status == ReservationStatus.ACTIVE)
                .distinct()
            ).all()
        )
        by_rack = {r.id: r for r in racks}
        out["dcim.rackreservation"] = [
            {
                "site": sites[rooms[by_rack[x.rack_id].room_id].site_id],
                "location": rooms[by_rack[x.rack_id].room_id].name,
                "rack": by_rack[x.rack_id].name,
                "units": ",".join(str(u) for u in range(x.u_start, x.u_end + 1)),
                "tenant": orgs.get(x.org_id, ""),
                "description": x.label or f"reservation {x.id}",
            }
            for x in s.scalars(
                select(Reservation).where(Reservation.status == ReservationStatus.ACTIVE).order_by(Reservation.id)
            )
        ]
    for object_type, key in ORDER.items():
        out[object_type].sort(key=key)
    return out


def _patch_ports(s, panels: dict[int, PatchPanel]) -> tuple[list[dict], list[dict]]:
    """Each position of a patch panel: its rear port (one position) and the front port mapped to it."""
    rear, front = [], []
    for p in s.scalars(select(PatchPort).order_by(PatchPort.panel_id, PatchPort.position)):
        panel = panels[p.panel_id]
        kind = PORT_TYPES[panel.medium.value]
        rear.append({"device": panel.name, "name": p.rear_name, "type": kind, "positions": "1"})
        front.append(
            {
                "device": panel.name,
                "name": p.front_name,
                "type": kind,
                "rear_port": p.rear_name,
                "rear_port_position": "1",
            }
        )
    return rear, front


def _cables(s, sites: dict[int, str], rooms: dict[int, Room]) -> list[dict]:
    """The cross-connects in place (not released) as NetBox cables between two front ports, with the
    ministry as tenant. The medium is in the ports' type: copper or fibre says nothing of the cable's
    category or mode, so the cable's own type is left empty."""
    a_port, b_port = aliased(PatchPort), aliased(PatchPort)
    a_panel, b_panel = aliased(PatchPanel), aliased(PatchPanel)
    rows = s.execute(
        select(CrossConnect, Organization.name, a_panel, a_port.front_name, b_panel, b_port.front_name)
        .join(Organization, Organization.id == CrossConnect.org_id)
        .join(a_port, a_port.id == CrossConnect.a_port_id)
        .join(a_panel, a_panel.id == a_port.panel_id)
        .join(b_port, b_port.id == CrossConnect.b_port_id)
        .join(b_panel, b_panel.id == b_port.panel_id)
        .where(CrossConnect.released_at.is_(None))
        .order_by(CrossConnect.id)
    )
    out = []
    for cc, tenant, ap, a_name, bp, b_name in rows:
        out.append(
            {
                "side_a_site": sites[rooms[ap.room_id].site_id],
                "side_a_device": ap.name,
                "side_a_type": "dcim.frontport",
                "side_a_name": a_name,
                "side_b_site": sites[rooms[bp.room_id].site_id],
                "side_b_device": bp.name,
                "side_b_type": "dcim.frontport",
                "side_b_name": b_name,
                "type": "",
                "status": "connected",
                "tenant": tenant,
                "label": f"XC{cc.id}",
                "description": f"{cc.medium.value} cross-connect of reservation {cc.reservation_id}"
                + (f" to {cc.b_party}" if cc.b_party else ""),
            }
        )
    return out


def _group(site: str, room: str) -> str:
    return f"{site} / {room}"


def _vlans(s, sites: dict, rooms: dict) -> tuple[list, list]:
    """A room's VLANs go in a VLAN group scoped to the room (NetBox's way of a VID per location);
    a site's VLANs have no group. The tenant is the ministry holding the VLAN (export only)."""
    held = select(Organization.id, Organization.name).join(Vlan, Vlan.org_id == Organization.id)
    holders = dict(s.execute(held).all())
    vlans = list(s.scalars(select(Vlan).order_by(Vlan.site_id, Vlan.room_id, Vlan.vid)))
    groups = sorted({v.room_id for v in vlans if v.room_id})
    return (
        [
            {
                "name": _group(sites[rooms[r].site_id], rooms[r].name),
                "slug": _slug(_group(sites[rooms[r].site_id], rooms[r].name)),
                "scope_type": "dcim.location",
                "scope_name": rooms[r].name,
            }
            for r in groups
        ],
        [
            {
                "site": sites[v.site_id],
                "group": _group(sites[v.site_id], rooms[v.room_id].name) if v.room_id else "",
                "vid": str(v.vid),
                "name": v.name,
                "tenant": holders.get(v.org_id, ""),
                "status": v.status.value,
            }
            for v in vlans
        ],
    )


# Rows in the order of their names (never of database ids), so an export reads the same after a round trip.
ORDER = {
    "dcim.site": lambda r: r["name"],
    "dcim.location": lambda r: (r["site"], r["name"]),
    "dcim.powerpanel": lambda r: (r["site"], r["name"]),
    "dcim.rack": lambda r: (r["site"], r["location"], r["name"]),
    "dcim.powerfeed": lambda r: (r["site"], r["power_panel"], r["name"]),
    "dcim.device": lambda r: (r["site"], r["location"], r["name"]),
    "dcim.interface": lambda r: r["device"],  # stable: ports keep their order on the switch
    "dcim.rearport": lambda r: r["device"],  # stable: positions keep their order on the panel
    "dcim.frontport": lambda r: r["device"],
    "ipam.vlangroup": lambda r: r["name"],
    "ipam.vlan": lambda r: (r["site"], r["group"], int(r["vid"])),
    "ipam.prefix": lambda r: (r["scope_name"], r["prefix"]),
}


def to_csv(rows: list[dict[str, str]], object_type: str) -> str:
    """One object type as NetBox's CSV: a header row of its columns, then the rows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS[object_type], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(document: dict[str, list[dict[str, str]]]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False)


# ---- reading files ---------------------------------------------------------------------------------


def _object_type(value) -> str:
    if value not in COLUMNS or value in EXPORT_ONLY:
        raise Invalid(
            "colocation.netbox_object_invalid",
            "The object type is one of {types}.",
            field="object",
            types=", ".join(t for t in COLUMNS if t not in EXPORT_ONLY),
        )
    return value


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # a file may hold tabs and line breaks, nothing else


def _checked(text: str) -> str:
    if len(text) > MAX_BYTES:
        raise Invalid("colocation.netbox_too_large", "At most {max} bytes at a time.", field="data", max=MAX_BYTES)
    if CONTROL.search(text):
        raise Invalid("colocation.netbox_control", "The file holds control characters.", field="data")
    return text


def read_csv(text: str, object_type: str) -> dict[str, list[dict[str, str]]]:
    """A NetBox CSV of one object type (header row first) -> an import document."""
    object_type = _object_type(object_type)
    text = _checked(text)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        rows = []
        for row in reader:
            if None in row:
                raise Invalid(
                    "colocation.netbox_csv_invalid",
                    "Line {line}: more fields than the header names.",
                    field="data",
                    line=reader.line_num,
                )
            rows.append({k.strip(): (v or "").strip() for k, v in row.items() if k})
    except csv.Error as e:
        raise Invalid(
            "colocation.netbox_csv_invalid", "Line {line}: {reason}.", field="data", line=reader.line_num, reason=str(e)
        ) from None
    return {object_type: rows}


def read_json(text: str) -> dict[str, list[dict[str, str]]]:
    """{object type: [rows]} (this module's export, or NetBox's import JSON keyed by type)."""
    try:
        doc = json.loads(_checked(text))
    except ValueError:
        raise Invalid("colocation.netbox_json_invalid", "The JSON cannot be read.", field="data") from None
    if not isinstance(doc, dict) or not all(isinstance(v, list) for v in doc.values()):
        raise Invalid(
            "colocation.netbox_json_invalid",
            "The JSON is an object of object types, each a list of rows.",
            field="data",
        )
    out = {}
    for object_type, rows in doc.items():
        if object_type in EXPORT_ONLY:
            continue  # reservations come through requests, never through a file
        _object_type(object_type)
        if not all(isinstance(r, dict) for r in rows):
            raise Invalid(
                "colocation.netbox_json_invalid", "Each row of {object} is an object.", field="data", object=object_type
            )
        out[object_type] = [{str(k): "" if v is None else _checked(str(v)).strip() for k, v in r.items()} for r in rows]
    return out


# ---- import ----------------------------------------------------------------------------------------


def _int(row: dict, column: str, default: int | None = None) -> int | None:
    value = row.get(column, "")
    if value == "":
        return default
    if not re.fullmatch(r"-?\d{1,9}", value):
        raise Invalid("colocation.netbox_number_invalid", "{column} must be a whole number.", column=column)
    return int(value)


@audited("colocation.floor_import", "colo_floor", exclude=("document",))
def floor_import(actor, *, document: dict[str, list[dict[str, str]]], source: str = "") -> dict[str, dict[str, int]]:
    """Create what the document holds and the floor does not (DC admins), all or nothing; the same
    checks as adding each object by hand (each added object is audited as such). Returns
    {object type: {"added": n, "existing": n}}."""
    svc._floor_admin(actor)
    total = sum(len(rows) for rows in document.values())
    if total > MAX_ROWS:
        raise Invalid("colocation.netbox_too_many_rows", "At most {max} rows at a time.", field="data", max=MAX_ROWS)
    counts = {t: {"added": 0, "existing": 0} for t in document}
    s = db.session()
    state = _Floor(s)
    for object_type in COLUMNS:
        for number, row in enumerate(document.get(object_type, ()), start=1):
            missing = [c for c in REQUIRED[object_type] if not row.get(c)]
            try:
                if missing:
                    raise Invalid("colocation.netbox_value_missing", "{column} is missing.", column=missing[0])
                added = getattr(state, object_type.replace(".", "_"))(actor, row)
            except PanelError as err:
                raise Invalid(
                    "colocation.netbox_row_invalid",
                    "{object} row {row}: {reason}",
                    field="data",
                    object=object_type,
                    row=number,
                    reason=err.text(),
                ) from None
            counts[object_type]["added" if added else "existing"] += 1
    svc._summary_refresh(s, state.touched_racks)
    return counts


class _Floor:
    """The floor as the import finds and grows it, looked up by NetBox's natural keys."""

    def __init__(self, s):
        self.s = s
        self.sites = {x.name: x.id for x in s.scalars(select(ColoSite))}
        self.rooms = {(x.site_id, x.name): x.id for x in s.scalars(select(Room))}
        self.panels = {(x.site_id, x.name): x.id for x in s.scalars(select(PowerPanel))}
        self.racks = {(x.room_id, x.name): x.id for x in s.scalars(select(Rack))}
        self.feeds = {(x.panel_id, x.name): x.id for x in s.scalars(select(PowerFeed))}
        self.switches = {(x.room_id, x.name): x.id for x in s.scalars(select(Switch))}
        self.patch_panels = {(x.room_id, x.name): x.id for x in s.scalars(select(PatchPanel))}
        self.named_fronts: set[int] = set()  # patch ports whose front port a row of this import named
        self.patch_ports: dict[int, dict[str, PatchPort]] = {}  # panel id -> {rear port name: port}
        self.prefixes = set(s.scalars(select(Prefix.cidr)))
        self.groups: dict[str, str] = {}  # VLAN group name -> its room's name (scope dcim.location)
        self.touched_racks: set[int] = set()

    def _site(self, name: str) -> int:
        if name not in self.sites:
            raise Invalid("colocation.netbox_unknown", "There is no {what} {name}.", what="site", name=name)
        return self.sites[name]

    def _room(self, site: str, name: str) -> int:
        key = (self._site(site), name)
        if key not in self.rooms:
            raise Invalid("colocation.netbox_unknown", "There is no {what} {name}.", what="location", name=name)
        return self.rooms[key]

    def dcim_site(self, actor, row) -> bool:
        if row["name"] in self.sites:
            return False
        self.sites[row["name"]] = svc.site_create(actor, name=row["name"], description=row.get("description", "")).id
        return True

    def dcim_location(self, actor, row) -> bool:
        key = (self._site(row["site"]), row["name"])
        if key in self.rooms:
            return False
        self.rooms[key] = svc.room_create(actor, site_id=key[0], name=row["name"]).id
        return True

    def dcim_powerpanel(self, actor, row) -> bool:
        key = (self._site(row["site"]), row["name"])
        if key in self.panels:
            return False
        self.panels[key] = svc.panel_create(actor, site_id=key[0], name=row["name"]).id
        return True

    def dcim_rack(self, actor, row) -> bool:
        if not row.get("location"):
            raise Invalid("colocation.netbox_value_missing", "{column} is missing.", column="location")
        key = (self._room(row["site"], row["location"]), row["name"])
        if key in self.racks:
            return False
        rack = svc.rack_create(
            actor,
            room_id=key[0],
            name=row["name"],
            height_u=_int(row, "u_height", 42),
            depth_mm=_int(row, "mounting_depth", 1000),
        )
        self.racks[key] = rack.id
        return True

    def dcim_powerfeed(self, actor, row) -> bool:
        site_id = self._site(row["site"])
        if (site_id, row["power_panel"]) not in self.panels:
            raise Invalid(
                "colocation.netbox_unknown", "There is no {what} {name}.", what="power panel", name=row["power_panel"]
            )
        panel_id = self.panels[(site_id, row["power_panel"])]
        key = (panel_id, row["name"])
        phase = {v: k for k, v in PHASES.items()}.get(row.get("phase") or "single-phase")
        if phase is None:
            raise Invalid("colocation.phase_invalid", "The phase is single-phase or three-phase.", field="phase")
        added = key not in self.feeds
        if added:
            self.feeds[key] = svc.feed_create(
                actor,
                panel_id=panel_id,
                name=row["name"],
                phase=phase,
                voltage=_int(row, "voltage", 230),
                amperage=_int(row, "amperage", 16),
                max_utilisation=_int(row, "max_utilization", 80),
            ).id
        if row.get("rack"):  # the rack it feeds: as its feed A (primary) or B (redundant)
            side = {"primary": "feed_a_id", "redundant": "feed_b_id"}.get(row.get("type") or "primary")
            if side is None:
                raise Invalid("colocation.netbox_feed_type", "The type is primary or redundant.", field="type")
            rooms = [r for (sid, _), r in self.rooms.items() if sid == site_id]
            if row.get("location"):
                rooms = [self._room(row["site"], row["location"])]
            found = [self.racks[(r, row["rack"])] for r in rooms if (r, row["rack"]) in self.racks]
            if len(found) != 1:
                raise Invalid("colocation.netbox_unknown", "There is no {what} {name}.", what="rack", name=row["rack"])
            rack = self.s.get(Rack, found[0])
            if getattr(rack, side) is None:
                setattr(rack, side, self.feeds[key])
                self.touched_racks.add(rack.id)
                if rack.feed_a_id is not None and rack.feed_a_id == rack.feed_b_id:
                    raise Invalid("colocation.feeds_same", "Feeds A and B must be different feeds.", field="rack")
        return added

    def dcim_device(self, actor, row) -> bool:
        role = (row.get("role") or "Switch").lower().replace("-", " ")
        if role == PATCH_PANEL["role"].lower():
            return self._patch_panel(row)
        if role != "switch":
            raise Invalid(
                "colocation.netbox_device_role",
                "Only switches (role Switch) and patch panels (role Patch panel) are kept on the floor.",
                field="role",
            )
        key = (self._room(row["site"], row["location"]), R.clean_name(row["name"]))
        if key in self.switches:
            return False
        switch = Switch(room_id=key[0], name=key[1])
        self.s.add(switch)
        svc._unique(self.s, "switch", "name", switch.name)
        self.switches[key] = switch.id
        return True

    def _patch_panel(self, row) -> bool:
        """A patch panel with no positions yet: its rear ports add them, the first one sets its medium."""
        key = (self._room(row["site"], row["location"]), R.clean_name(row["name"]))
        if key in self.patch_panels:
            return False
        panel = PatchPanel(room_id=key[0], name=key[1], medium=Medium.FIBRE)
        self.s.add(panel)
        svc._unique(self.s, "patch panel", "name", panel.name)
        self.patch_panels[key] = panel.id
        return True

    def _panel(self, device: str) -> PatchPanel:
        found = [pid for (_, name), pid in self.patch_panels.items() if name == device]
        if len(found) != 1:
            raise Invalid(
                "colocation.netbox_unknown",
                "There is no {what} {name}." if not found else "{name} names several patch panels; rename one.",
                what="patch panel",
                name=device,
            )
        return self.s.get(PatchPanel, found[0])

    def _port_medium(self, row) -> Medium:
        if row["type"] not in MEDIUM_OF_PORT:
            raise Invalid(
                "colocation.netbox_port_type",
                "The type is one of {types}.",
                field="type",
                types=", ".join(sorted(MEDIUM_OF_PORT)),
            )
        return Medium(MEDIUM_OF_PORT[row["type"]])

    def _one_position(self, row, column: str) -> None:
        if row.get(column) not in ("", None, "1"):
            raise Invalid(
                "colocation.netbox_positions",
                "{column}: a patch panel position here is one front port on one rear port (1).",
                field=column,
                column=column,
            )

    def dcim_rearport(self, actor, row) -> bool:
        panel, medium = self._panel(row["device"]), self._port_medium(row)
        self._one_position(row, "positions")
        name = R.clean_name(row["name"])
        ports = self._ports(panel.id)
        if name in ports:
            return False
        if not ports:
            panel.medium = medium
        elif panel.medium != medium:
            raise Invalid(
                "colocation.netbox_port_medium",
                "{device} is a {medium} patch panel; {type} is not.",
                field="type",
                device=panel.name,
                medium=panel.medium.value,
                type=row["type"],
            )
        position = max((p.position for p in ports.values()), default=0) + 1
        R.clean_int(position, "positions", 1, 144)
        port = PatchPort(panel_id=panel.id, position=position, front_name=f"F{position}", rear_name=name)
        self.s.add(port)
        self.s.flush()
        ports[name] = port
        return True

    def _ports(self, panel_id: int) -> dict[str, PatchPort]:
        if panel_id not in self.patch_ports:
            rows = self.s.scalars(select(PatchPort).where(PatchPort.panel_id == panel_id))
            self.patch_ports[panel_id] = {p.rear_name: p for p in rows}
        return self.patch_ports[panel_id]

    def dcim_frontport(self, actor, row) -> bool:
        panel, medium = self._panel(row["device"]), self._port_medium(row)
        self._one_position(row, "rear_port_position")
        port = self._ports(panel.id).get(row["rear_port"])
        if port is None:
            raise Invalid(
                "colocation.netbox_unknown", "There is no {what} {name}.", what="rear port", name=row["rear_port"]
            )
        if medium != panel.medium:
            raise Invalid(
                "colocation.netbox_port_medium",
                "{device} is a {medium} patch panel; {type} is not.",
                field="type",
                device=panel.name,
                medium=panel.medium.value,
                type=row["type"],
            )
        name = R.clean_name(row["name"])
        if port.front_name == name:
            self.named_fronts.add(port.id)
            return False
        # a rear port brings its front port as F<position> until a front port row names it (NetBox's
        # files come one object type at a time); one in use by a cross-connect keeps its name
        default = port.front_name == f"F{port.position}" and port.reservation_id is None
        if default and port.id not in self.named_fronts:
            port.front_name = name
            self.named_fronts.add(port.id)
            return True
        raise Invalid(
            "colocation.netbox_front_taken",
            "{rear} of {device} has the front port {front} already.",
            field="rear_port",
            rear=port.rear_name,
            device=panel.name,
            front=port.front_name,
        )

    def dcim_interface(self, actor, row) -> bool:
        found = [sid for (_, name), sid in self.switches.items() if name == row["device"]]
        if len(found) != 1:
            raise Invalid(
                "colocation.netbox_unknown",
                "There is no {what} {name}." if not found else "{name} names several switches; rename one.",
                what="device",
                name=row["device"],
            )
        if row["type"] not in PORT_OF_TYPE:
            raise Invalid(
                "colocation.netbox_interface_type",
                "The type is one of {types}.",
                field="type",
                types=", ".join(sorted(PORT_OF_TYPE)),
            )
        medium, speed = PORT_OF_TYPE[row["type"]]
        if row.get("speed") and _int(row, "speed") != speed * 1000:
            raise Invalid(
                "colocation.netbox_speed_mismatch",
                "A {type} port runs at {speed} kb/s.",
                field="speed",
                type=row["type"],
                speed=speed * 1000,
            )
        name = R.clean_name(row["name"])
        exists = self.s.scalars(
            select(SwitchPort.id).where(SwitchPort.switch_id == found[0], SwitchPort.name == name)
        ).first()
        if exists:
            return False
        self.s.add(SwitchPort(switch_id=found[0], name=name, speed_mbps=speed, medium=Medium(medium)))
        self.s.flush()
        return True

    def ipam_vlangroup(self, actor, row) -> bool:
        if row["scope_type"] != "dcim.location":
            raise Invalid(
                "colocation.netbox_vlangroup_scope",
                "A VLAN group is a room's: scope_type dcim.location and scope_name.",
                field="scope_type",
            )
        self.groups[row["name"]] = row["scope_name"]
        return False  # a group is only the room its VLANs are scoped to

    def ipam_vlan(self, actor, row) -> bool:
        """A site's VLAN, or a room's (its group names the room). The tenant is not imported: a
        ministry gets a VLAN through a request."""
        site_id = self._site(row["site"])
        vid = R.clean_int(_int(row, "vid"), "vid", 1, V.MAX_VID)
        room_id = None
        if row.get("group"):
            if row["group"] not in self.groups:
                raise Invalid(
                    "colocation.netbox_unknown", "There is no {what} {name}.", what="group", name=row["group"]
                )
            room_id = self._room(row["site"], self.groups[row["group"]])
        exists = self.s.scalar(
            select(Vlan.id).where(
                Vlan.site_id == site_id,
                Vlan.vid == vid,
                Vlan.room_id == room_id if room_id else Vlan.room_id.is_(None),
            )
        )
        if exists:
            return False
        V.vlan_create(
            actor, site_id=site_id, room_id=room_id, vid=vid, name=row["name"], status=row.get("status") or "active"
        )
        return True

    def ipam_prefix(self, actor, row) -> bool:
        net = R.clean_prefix(row["prefix"], "prefix")
        if str(net) in self.prefixes:
            return False
        if (row.get("scope_type") or "dcim.site") != "dcim.site" or not row.get("scope_name"):
            raise Invalid(
                "colocation.netbox_prefix_scope",
                "Give the prefix's site: scope_type dcim.site and scope_name.",
                field="scope_name",
            )
        site_id = self._site(row["scope_name"])
        vlan = _int(row, "vlan")
        svc.prefix_create(actor, site_id=site_id, cidr=str(net), vlan=vlan, description=row.get("description", ""))
        self.prefixes.add(str(net))
        return True


def normalise(document: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    """Each row with exactly its type's columns (missing ones empty), as export writes them."""
    return {t: [{c: str(r.get(c, "") or "") for c in COLUMNS[t]} for r in rows] for t, rows in document.items()}
