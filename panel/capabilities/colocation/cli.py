"""`govhost colocation ...`: the floor (DC admins), requests for rack space, reservations, racks."""

from __future__ import annotations

import click
from rich.table import Table

from panel.capabilities.colocation import edit as ed
from panel.capabilities.colocation import netbox as nb
from panel.capabilities.colocation import servers as srv
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import statement as st
from panel.capabilities.colocation import visitors as vis
from panel.capabilities.colocation import vlans as V
from panel.capabilities.colocation.models import VlanStatus
from panel.cli.common import command, console, print_page
from panel.cli.users import acting, as_option
from panel.db import utcnow as db_now


@click.group()
def colocation() -> None:
    """Ministries' own servers on the data-center floor: racks, power, ports, addresses."""


@colocation.command("floor")
@click.option("--page", default=1, show_default=True)
@as_option
@command
def floor(page: int, as_user: str | None) -> None:
    """The floor: racks (units used), feeds (kW available), switches (free ports), address pools, VLANs."""
    f = svc.floor_get(acting(as_user), page=page)
    t = Table("id", "site", "room", "rack", "used U", "depth mm", "feeds")
    for r in f.racks.items:
        t.add_row(str(r.id), r.site, r.room, r.name, f"{r.used_u}/{r.height_u}", str(r.depth_mm), r.feeds)
    print_page(t, f.racks, "racks")
    t = Table("id", "panel", "feed", "phase", "V", "A", "max %", "capacity kW", "reserved kW", "available kW")
    for x in f.feeds.items:
        t.add_row(
            str(x.id), x.panel, x.name, x.phase, str(x.voltage), str(x.amperage), str(x.max_utilisation),
            f"{x.capacity_w / 1000:.2f}", f"{x.used_w / 1000:.2f}", f"{x.available_w / 1000:.2f}",
        )  # fmt: skip
    console.print(t)
    t = Table("id", "pool", "site", "total", "used", "free", "")
    for x in (*f.switches.items, *f.prefixes.items, *f.patch_panels.items):
        t.add_row(str(x.id), x.name, x.site, str(x.total), str(x.used), str(x.total - x.used), x.detail)
    console.print(t)
    t = Table("id", "site", "room", "VID", "name", "status", "held by", "pools")
    for v in f.vlans.items:
        t.add_row(str(v.id), v.site, v.room or "-", str(v.vid), v.name, v.status, v.holder or "-", str(v.pools))
    print_page(t, f.vlans, "VLANs")


def _added(what: str, obj) -> None:
    console.print(f"{what} {obj.id} added", highlight=False)


def _add_command(name: str, parent: str, what: str, create, doc: str) -> None:
    """`add-<what> PARENT_ID NAME`, for the floor objects that are only a name somewhere."""

    @colocation.command(name, help=doc)
    @click.argument(parent, type=int)
    @click.argument("name")
    @as_option
    @command
    def run(as_user: str | None, **fields) -> None:
        _added(what, create(acting(as_user), **fields))


def _id_command(name: str, arg: str, act, done: str, doc: str) -> None:
    """A command that does one thing to the object with id ARG and says `done` (formatted with it)."""

    @colocation.command(name, help=doc)
    @click.argument(arg, type=int)
    @as_option
    @command
    def run(as_user: str | None, **ids) -> None:
        act(acting(as_user), **ids)
        console.print(done.format(**ids), highlight=False)


@colocation.command("add-site")
@click.argument("name")
@click.option("--description", default="")
@as_option
@command
def add_site(name: str, description: str, as_user: str | None) -> None:
    """Add a site (a building)."""
    _added("site", svc.site_create(acting(as_user), name=name, description=description))


_add_command("add-room", "site_id", "room", svc.room_create, "Add a room or cage to SITE_ID.")
_add_command("add-panel", "site_id", "panel", svc.panel_create, "Add a power panel to SITE_ID.")


@colocation.command("add-feed")
@click.argument("panel_id", type=int)
@click.argument("name")
@click.option("--phase", type=click.Choice(["single", "three"]), default="single", show_default=True)
@click.option("--voltage", type=int, default=230, show_default=True)
@click.option("--amperage", type=int, default=16, show_default=True)
@click.option("--max-utilisation", type=int, default=80, show_default=True, help="percent of the rating")
@as_option
@command
def add_feed(as_user: str | None, **fields) -> None:
    """Add a power feed to PANEL_ID."""
    _added("feed", svc.feed_create(acting(as_user), **fields))


@colocation.command("add-rack")
@click.argument("room_id", type=int)
@click.argument("name")
@click.option("--height", "height_u", type=int, default=42, show_default=True, help="units (U)")
@click.option("--depth", "depth_mm", type=int, default=1000, show_default=True, help="mm")
@click.option("--feed-a", "feed_a_id", type=int, default=None)
@click.option("--feed-b", "feed_b_id", type=int, default=None)
@as_option
@command
def add_rack(as_user: str | None, **fields) -> None:
    """Add a rack to ROOM_ID, on feeds A and B."""
    _added("rack", svc.rack_create(acting(as_user), **fields))


@colocation.command("add-switch")
@click.argument("room_id", type=int)
@click.argument("name")
@click.option("--ports", type=int, default=24, show_default=True)
@click.option("--speed", "speed_mbps", type=int, default=1000, show_default=True, help="Mb/s")
@click.option("--medium", type=click.Choice(["copper", "fibre"]), default="copper", show_default=True)
@as_option
@command
def add_switch(as_user: str | None, **fields) -> None:
    """Add a switch with its ports to ROOM_ID."""
    _added("switch", svc.switch_create(acting(as_user), **fields))


@colocation.command("add-prefix")
@click.argument("site_id", type=int)
@click.argument("cidr")
@click.option("--vlan", type=int, default=None)
@click.option("--description", default="")
@as_option
@command
def add_prefix(as_user: str | None, **fields) -> None:
    """Add an address pool (IPv4 or IPv6 prefix) to SITE_ID."""
    _added("prefix", svc.prefix_create(acting(as_user), **fields))


@colocation.command("add-vlan")
@click.argument("site_id", type=int)
@click.argument("vid", type=int)
@click.argument("name")
@click.option("--room", "room_id", type=int, default=None, help="a room's VLAN (the VID unique in the room)")
@click.option("--status", type=click.Choice([s.value for s in VlanStatus]), default="active", show_default=True)
@as_option
@command
def add_vlan(as_user: str | None, **fields) -> None:
    """Add VLAN VID (1-4094) named NAME to SITE_ID, or to one of its rooms (--room)."""
    _added("VLAN", V.vlan_create(acting(as_user), **fields))


@colocation.command("add-patch-panel")
@click.argument("room_id", type=int)
@click.argument("name")
@click.option("--ports", type=int, default=24, show_default=True)
@click.option("--medium", type=click.Choice(["copper", "fibre"]), default="fibre", show_default=True)
@as_option
@command
def add_patch_panel(as_user: str | None, **fields) -> None:
    """Add a patch panel to ROOM_ID (front ports F1..FN, each with its rear port R1..RN)."""
    _added("patch panel", svc.patch_panel_create(acting(as_user), **fields))


@colocation.command("request")
@click.option("--org", "org_id", type=int, required=True)
@click.option("--units", "u_count", type=int, required=True)
@click.option("--max-w", type=int, required=True, help="maximum draw, W")
@click.option("--typical-w", type=int, default=0)
@click.option("--depth", "depth_mm", type=int, default=0, help="mm")
@click.option("--psus", type=int, default=1)
@click.option("--ab/--no-ab", "ab_feeds", default=False, help="on both A and B feeds")
@click.option("--ports", type=int, default=0)
@click.option("--port-speed", "port_speed_mbps", type=int, default=1000)
@click.option("--port-medium", type=click.Choice(["copper", "fibre"]), default="copper")
@click.option("--ipv4", type=int, default=0)
@click.option("--ipv6", type=int, default=0)
@click.option("--cross-connects", type=int, default=0)
@click.option("--cross-connect-medium", type=click.Choice(["copper", "fibre"]), default="fibre")
@click.option("--cross-connect-room", "cross_connect_room_id", type=int, default=None, help="room of the B ends")
@click.option("--cross-connect-to", default="", help="who is at the B end")
@click.option("--vlan/--no-vlan", default=False, help="a VLAN of the rack's room or site for the ministry alone")
@click.option("--site", "site_id", type=int, default=None)
@click.option("--label", default="")
@as_option
@command
def request(org_id, as_user, **spec) -> None:
    """Ask for rack space, power, ports and addresses for ORG."""
    req = svc.colocation_request(acting(as_user), org_id=org_id, **spec)
    console.print(f"request {req.id}: {req.status.value}", highlight=False)


@colocation.command("reservations")
@click.option("--page", default=1, show_default=True)
@as_option
@command
def reservations(page: int, as_user: str | None) -> None:
    """List reservations (a ministry sees its own)."""
    result = svc.reservation_list(acting(as_user), page=page)
    t = Table("id", "org", "rack", "units", "max W", "label", "status")
    for r in result.items:
        t.add_row(
            str(r.id), str(r.org_id), r.rack.name, f"U{r.u_start}-U{r.u_end}", str(r.max_w), r.label, r.status.value
        )
    print_page(t, result, "reservations")


@colocation.command("reservation")
@click.argument("reservation_id", type=int)
@as_option
@command
def reservation(reservation_id: int, as_user: str | None) -> None:
    """Show one reservation: its units, feeds, ports and addresses."""
    v = svc.reservation_get(acting(as_user), reservation_id)
    r = v.reservation
    console.print(f"reservation {r.id} ({r.status.value}) of {v.org_name}: {r.label}", highlight=False, markup=False)
    console.print(f"  rack   {v.site} / {v.room} / {v.rack}  U{r.u_start}-U{r.u_end}", highlight=False, markup=False)
    console.print(f"  power  typical {r.typical_w} W, max {r.max_w} W, {r.psus} PSU  {v.feeds}", highlight=False)
    console.print(f"  ports  {', '.join(v.ports) or '-'}", highlight=False, markup=False)
    console.print(f"  addrs  {', '.join(v.addresses) or '-'}", highlight=False, markup=False)
    console.print(f"  vlan   {v.reservation.vlan_vid or '-'}", highlight=False, markup=False)
    for c in v.cross_connects:
        console.print(f"  xconn  {c}", highlight=False, markup=False)


_id_command(
    "release",
    "reservation_id",
    svc.reservation_release,
    "reservation {reservation_id} released",
    "DC staff: give a reservation's units, ports and addresses back to the floor.",
)


@colocation.command("decommission")
@click.argument("reservation_id", type=int)
@click.option("--reason", default="")
@as_option
@command
def decommission(reservation_id: int, reason: str, as_user: str | None) -> None:
    """Ask to decommission a reservation: on approval its servers are retired (their hosts leave
    the inventory) and its units, power, ports and addresses are freed."""
    req = srv.decommission_request(acting(as_user), reservation_id=reservation_id, reason=reason)
    console.print(f"request {req.id}: {req.status.value}", highlight=False)


@colocation.command("rack")
@click.argument("rack_id", type=int)
@as_option
@command
def rack(rack_id: int, as_user: str | None) -> None:
    """A rack's elevation, top (highest U) down."""
    e = svc.rack_elevation(acting(as_user), rack_id)
    holder = {}
    for s in e.slots:
        for u in range(s.u_start, s.u_start + s.u_count):
            holder[u] = s.label or "(occupied)"
    console.print(f"{e.site} / {e.room} / {e.rack.name}: {e.free_u} of {e.rack.height_u} U free", highlight=False)
    for u in range(e.rack.height_u, 0, -1):
        console.print(f"U{u:>2} {holder.get(u, '.')}", highlight=False, markup=False)


# ---- visitor access ----------------------------------------------------------------------------------


@colocation.command("signers")
@as_option
@command
def signers(as_user: str | None) -> None:
    """Authorised signers (who may name visitors), per organization."""
    t = Table("id", "org", "username")
    for sg, name in vis.signer_list(acting(as_user)):
        t.add_row(str(sg.id), str(sg.org_id), name)
    console.print(t)


@colocation.command("signer-add")
@click.option("--org", "org_id", type=int, required=True)
@click.argument("username")
@as_option
@command
def signer_add(org_id: int, username: str, as_user: str | None) -> None:
    """Name USERNAME (a member of ORG) an authorised signer."""
    sg = vis.signer_add(acting(as_user), org_id=org_id, username=username)
    console.print(f"signer {sg.id}: {username} may name visitors for organization {org_id}", highlight=False)


_id_command(
    "signer-remove",
    "signer_id",
    vis.signer_remove,
    "signer {signer_id} removed",
    "Take a signer's right to name visitors away.",
)


@colocation.command("visitors")
@click.option("--page", default=1, show_default=True)
@click.option("--status", default=None)
@as_option
@command
def visitors(page: int, status: str | None, as_user: str | None) -> None:
    """Visitor passes (a ministry sees its own), with their status as of now."""
    result = vis.visitor_list(acting(as_user), page=page, status=status)
    now = db_now()
    t = Table("id", "org", "name", "company", "from (UTC)", "until (UTC)", "status")
    for p in result.items:
        t.add_row(
            str(p.id), str(p.org_id), p.full_name, p.company, f"{p.valid_from:%Y-%m-%d %H:%M}",
            f"{p.valid_until:%Y-%m-%d %H:%M}", vis.pass_state(p, now).status.value,
        )  # fmt: skip
    print_page(t, result, "passes")


@colocation.command("visitor-add")
@click.option("--org", "org_id", type=int, required=True)
@click.option("--name", "full_name", required=True)
@click.option("--id-number", required=True, help="ID card or passport number")
@click.option("--company", default="")
@click.option("--from", "valid_from", required=True, help="ISO 8601, UTC without an offset")
@click.option("--until", "valid_until", required=True, help="ISO 8601, UTC without an offset")
@click.option("--temporary", is_flag=True, help="a temporary pass: at most 24 hours")
@as_option
@command
def visitor_add(as_user: str | None, **fields) -> None:
    """An authorised signer names a visitor; DC staff approve the pass."""
    p = vis.visitor_add(acting(as_user), **fields)
    console.print(f"pass {p.id}: {p.status.value}", highlight=False)


def _pass_command(name: str, fn, doc: str) -> None:
    _id_command(name, "pass_id", fn, "pass {pass_id}: " + name + " done", doc)


_pass_command("visitor-approve", vis.visitor_approve, "DC staff approve a pending pass.")
_pass_command("visitor-reject", vis.visitor_reject, "DC staff reject a pending pass.")
_pass_command("visitor-revoke", vis.visitor_revoke, "Withdraw a pass at once.")
_pass_command("check-in", vis.visit_check_in, "DC staff at the door: the visitor on PASS_ID enters.")
_pass_command("check-out", vis.visit_check_out, "DC staff at the door: the visitor on PASS_ID leaves.")


@colocation.command("visits")
@click.argument("pass_id", type=int)
@as_option
@command
def visits(pass_id: int, as_user: str | None) -> None:
    """The visits made on a pass (in, out, logged by)."""
    t = Table("id", "in", "out", "by")
    for v in vis.visit_list(acting(as_user), pass_id=pass_id).items:
        out = f"{v.checked_out_at:%Y-%m-%d %H:%M}" if v.checked_out_at else "inside"
        t.add_row(str(v.id), f"{v.checked_in_at:%Y-%m-%d %H:%M}", out, v.checked_in_by)
    console.print(t)


# ---- arriving servers ----------------------------------------------------------------------------------


def _server_line(x) -> None:
    how = f", {x.management.value}, host {x.host_id}" if x.host_id else ""
    console.print(f"server {x.id} {x.name}: {x.status.value}{how}", highlight=False)


@colocation.command("servers")
@click.option("--page", default=1, show_default=True)
@as_option
@command
def servers(page: int, as_user: str | None) -> None:
    """Arriving and enrolled servers (a ministry sees its own)."""
    p = srv.server_list(acting(as_user), page=page)
    t = Table("id", "org", "reservation", "name", "address", "status", "management", "host", "fingerprint")
    for x in p.items:
        t.add_row(
            str(x.id), str(x.org_id), str(x.reservation_id), x.name, x.address, x.status.value,
            x.management.value if x.management else "-", str(x.host_id or "-"), x.fingerprint or "-",
        )  # fmt: skip
    print_page(t, p, "servers")


@colocation.command("server-receive")
@click.argument("reservation_id", type=int)
@click.option("--name", required=True, help="its host name once handed over")
@click.option("--address", required=True, help="where its sshd answers (one of the reservation's addresses)")
@click.option("--serial", default="")
@click.option("--fingerprint", default="", help="the SSH host key fingerprint the ministry declared (SHA256:...)")
@as_option
@command
def server_receive(
    reservation_id: int, name: str, address: str, serial: str, fingerprint: str, as_user: str | None
) -> None:
    """DC staff: a server arrived for a reservation."""
    _server_line(
        srv.server_receive(
            acting(as_user),
            reservation_id=reservation_id,
            name=name,
            address=address,
            serial=serial,
            fingerprint=fingerprint,
        )
    )


@colocation.command("server-advance")
@click.argument("server_id", type=int)
@click.argument("status", type=click.Choice(["racked", "cabled", "powered"]))
@as_option
@command
def server_advance(server_id: int, status: str, as_user: str | None) -> None:
    """DC staff: racked, then cabled, then powered."""
    _server_line(srv.server_advance(acting(as_user), server_id=server_id, status=status))


@colocation.command("server-hand-over")
@click.argument("server_id", type=int)
@click.option("--management", type=click.Choice(["customer", "hosting"]), required=True)
@click.option("--role", "roles", multiple=True, help="a hosting role it is offered for (repeat)")
@click.option("--fingerprint", default=None, help="the declared fingerprint, if not given at arrival")
@as_option
@command
def server_hand_over(server_id: int, management: str, roles: tuple, fingerprint: str | None, as_user: str | None):
    """DC staff: pin the powered server's SSH host key and make it a govhost host."""
    _server_line(
        srv.server_hand_over(
            acting(as_user), server_id=server_id, management=management, roles=roles, fingerprint=fingerprint
        )
    )


# ---- NetBox import and export ----------------------------------------------------------------------


@colocation.command("netbox-export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--object", "object_type", type=click.Choice(list(nb.COLUMNS)), help="with --format csv")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="a file (default: standard output)")
@as_option
@command
def netbox_export(fmt: str, object_type: str | None, out: str | None, as_user: str | None) -> None:
    """The floor in NetBox's import format (JSON: every object type; CSV: one)."""
    doc = nb.floor_export(acting(as_user))
    if fmt == "csv" and not object_type:
        raise click.UsageError("--format csv needs --object (one NetBox object type per CSV file)")
    text = nb.to_json(doc) if fmt == "json" else nb.to_csv(doc[object_type], object_type)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        console.print(f"written to {out}", highlight=False)
    else:
        click.echo(text, nl=False)


@colocation.command("netbox-import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--object", "object_type", help="a CSV file's NetBox object type, e.g. dcim.rack")
@as_option
@command
def netbox_import(path: str, object_type: str | None, as_user: str | None) -> None:
    """DC admins: add what a NetBox CSV (with --object) or JSON file holds; all or nothing."""
    with open(path, encoding="utf-8-sig") as f:
        text = f.read(nb.MAX_BYTES + 1)
    doc = nb.read_csv(text, object_type or "") if path.endswith(".csv") else nb.read_json(text)
    counts = nb.floor_import(acting(as_user), document=doc, source=f"cli {path.rsplit('/', 1)[-1][:60]}")
    for t, c in counts.items():
        console.print(f"{t}: {c['added']} added, {c['existing']} existing", highlight=False)


# ---- changing and deleting floor objects (DC admins) -----------------------------------------------

KINDS = click.Choice(sorted(ed.KINDS))


@colocation.command("edit")
@click.argument("what", type=KINDS)
@click.argument("floor_id", type=int)
@click.option("--name")
@click.option("--description")
@click.option("--phase", type=click.Choice(["single", "three"]))
@click.option("--voltage", type=int)
@click.option("--amperage", type=int)
@click.option("--max-utilisation", "max_utilisation", type=int)
@click.option("--height-u", "height_u", type=int)
@click.option("--depth-mm", "depth_mm", type=int)
@click.option("--feed-a", "feed_a_id", type=int, help="a feed id; 0 for none")
@click.option("--feed-b", "feed_b_id", type=int, help="a feed id; 0 for none")
@click.option("--vlan", type=int, help="a prefix's VLAN (VID); 0 for none")
@click.option("--vid", type=int, help="a VLAN's VID")
@click.option("--status", type=click.Choice([s.value for s in VlanStatus]), help="a VLAN's status")
@as_option
@command
def edit(what: str, floor_id: int, as_user: str | None, **changes) -> None:
    """DC admins: change a floor object (only the options given)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    ed.floor_update(acting(as_user), what=what, floor_id=floor_id, **changes)
    console.print(f"{what} {floor_id} changed", highlight=False)


@colocation.command("delete")
@click.argument("what", type=KINDS)
@click.argument("floor_id", type=int)
@as_option
@command
def delete(what: str, floor_id: int, as_user: str | None) -> None:
    """DC admins: delete a floor object nothing uses."""
    ed.floor_delete(acting(as_user), what=what, floor_id=floor_id)
    console.print(f"{what} {floor_id} deleted", highlight=False)


@colocation.command("statement")
@click.option("--org", "org_id", type=int, required=True)
@click.option("--month", help="YYYY-MM (default: this month)")
@as_option
@command
def statement(org_id: int, month: str | None, as_user: str | None) -> None:
    """A ministry's monthly statement: reservations held, and visits."""
    x = st.statement_get(acting(as_user), org_id=org_id, month=month)
    console.print(f"{x.organization}: colocation statement for {x.month}", highlight=False)
    t = Table("#", "label", "rack", "units", "kW", "ports", "addresses", "cross-connects", "VLAN", "days")
    for ln in x.lines:
        t.add_row(
            str(ln.reservation_id), ln.label, f"{ln.site}/{ln.room}/{ln.rack}",
            f"{ln.u_count} (U{ln.u_start})", f"{ln.max_w / 1000:.2f}", str(ln.ports), str(ln.addresses),
            str(ln.cross_connects), str(ln.vlan or "-"), f"{ln.days:.2f}" + (" released" if ln.released else ""),
        )  # fmt: skip
    console.print(t)
    console.print(
        f"total: {x.units} U, {x.contracted_w / 1000:.2f} kW contracted, {x.ports} ports, {x.addresses} addresses,"
        f" {x.cross_connects} cross-connects, {x.unit_days:.2f} unit-days; {x.visit_count} visits"
        f" ({x.visitor_hours:.2f} visitor-hours)",
        highlight=False,
    )
    console.print(f"VLANs: {', '.join(map(str, x.vlans)) or '-'}", highlight=False)
