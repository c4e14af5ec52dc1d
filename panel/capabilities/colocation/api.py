"""Colocation API: requests for rack space, reservations, rack elevations; the floor (DC staff)."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import ID, PageArgs, actor, authenticated, page_body, page_list, text
from panel.capabilities.colocation import edit as ed
from panel.capabilities.colocation import netbox as nb
from panel.capabilities.colocation import rules as R
from panel.capabilities.colocation import servers as srv
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import statement as st
from panel.capabilities.colocation import visitors as vis
from panel.capabilities.colocation import vlans as V
from panel.capabilities.colocation.kinds import ReservationRequestSchema
from panel.capabilities.colocation.models import VlanStatus
from panel.db import utcnow as db_now
from panel.errors import Invalid

blp = Blueprint(
    "api_colocation", __name__, url_prefix="/colocation", description="Colocation: floor, rack space, reservations"
)


def _doc(fn):
    return blp.doc(security=[{"bearer": []}])(authenticated(fn))


class RequestInSchema(ReservationRequestSchema):
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    label = fields.String(load_default="", validate=text(max=100))  # rules.clean_name checks it
    cross_connect_to = fields.String(
        load_default="", validate=text(max=100), metadata={"description": "who is at the B end"}
    )  # rules.clean_name checks it


class ReservationSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    rack_id = fields.Integer()
    rack = fields.Function(lambda r: r.rack.name)
    u_start = fields.Integer()
    u_count = fields.Integer()
    depth_mm = fields.Integer()
    typical_w = fields.Integer()
    max_w = fields.Integer()
    psus = fields.Integer()
    ab_feeds = fields.Boolean()
    cross_connects = fields.Integer()
    vlan_vid = fields.Integer(allow_none=True, metadata={"description": "the VLAN granted (VID), if asked for"})
    label = fields.String()
    status = fields.Function(lambda r: r.status.value)
    request_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    released_at = fields.DateTime(allow_none=True)


class ReservationDetailSchema(Schema):
    reservation = fields.Nested(ReservationSchema)
    organization = fields.String(attribute="org_name")
    site = fields.String()
    room = fields.String()
    rack = fields.String()
    feeds = fields.String()
    ports = fields.List(fields.String())
    addresses = fields.List(fields.String())
    cross_connects = fields.List(
        fields.String(), metadata={"description": "A end <-> B end (site room / panel:front port), medium, B party"}
    )


class SlotSchema(Schema):
    u_start = fields.Integer()
    u_count = fields.Integer()
    reservation_id = fields.Integer(allow_none=True, metadata={"description": "null: another ministry's units"})
    org_id = fields.Integer(allow_none=True)
    label = fields.String()


class ElevationSchema(Schema):
    rack_id = fields.Function(lambda e: e.rack.id)
    rack = fields.Function(lambda e: e.rack.name)
    site = fields.String()
    room = fields.String()
    height_u = fields.Function(lambda e: e.rack.height_u)
    free_u = fields.Integer()
    slots = fields.List(fields.Nested(SlotSchema))


class RackRowSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    site = fields.String()
    room = fields.String()
    height_u = fields.Integer()
    used_u = fields.Integer()
    depth_mm = fields.Integer()
    feeds = fields.String()


class FeedRowSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    panel = fields.String()
    phase = fields.String()
    voltage = fields.Integer()
    amperage = fields.Integer()
    max_utilisation = fields.Integer()
    capacity_w = fields.Integer()
    used_w = fields.Integer()
    available_w = fields.Integer()


class PoolRowSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    site = fields.String()
    total = fields.Integer()
    used = fields.Integer()
    detail = fields.String()


class VlanRowSchema(Schema):
    id = fields.Integer()
    site = fields.String()
    room = fields.String(metadata={"description": "empty for a site's VLAN"})
    vid = fields.Integer()
    name = fields.String()
    status = fields.String()
    holder = fields.String(metadata={"description": "the ministry holding it; empty when free"})
    pools = fields.Integer(metadata={"description": "address pools routed on it (never given to a ministry)"})


class FloorSchema(Schema):
    racks = fields.Function(lambda f: page_body(f.racks, RackRowSchema()))
    feeds = fields.Function(lambda f: page_body(f.feeds, FeedRowSchema()))
    switches = fields.Function(lambda f: page_body(f.switches, PoolRowSchema()))
    prefixes = fields.Function(lambda f: page_body(f.prefixes, PoolRowSchema()))
    patch_panels = fields.Function(lambda f: page_body(f.patch_panels, PoolRowSchema()))
    vlans = fields.Function(lambda f: page_body(f.vlans, VlanRowSchema()))


class FloorArgs(PageArgs):
    feeds_page = fields.Integer(load_default=1, validate=validate.Range(1, 2**31 - 1))
    switches_page = fields.Integer(load_default=1, validate=validate.Range(1, 2**31 - 1))
    prefixes_page = fields.Integer(load_default=1, validate=validate.Range(1, 2**31 - 1))
    patch_panels_page = fields.Integer(load_default=1, validate=validate.Range(1, 2**31 - 1))
    vlans_page = fields.Integer(load_default=1, validate=validate.Range(1, 2**31 - 1))


class CreatedSchema(Schema):
    id = fields.Integer()


_NAME = text(min=1, max=100)


class SiteIn(Schema):
    name = fields.String(required=True, validate=_NAME)
    description = fields.String(load_default="", validate=text(max=100))


class RoomIn(Schema):
    site_id = fields.Integer(required=True, strict=True, validate=ID)
    name = fields.String(required=True, validate=_NAME)


class FeedIn(Schema):
    panel_id = fields.Integer(required=True, strict=True, validate=ID)
    name = fields.String(required=True, validate=_NAME)
    phase = fields.String(load_default="single", validate=validate.OneOf(("single", "three")))
    voltage = fields.Integer(
        load_default=230,
        strict=True,
        validate=[validate.Range(min(R.VOLTAGES), max(R.VOLTAGES)), validate.OneOf(R.VOLTAGES)],
    )
    amperage = fields.Integer(load_default=16, strict=True, validate=validate.Range(1, 400))
    max_utilisation = fields.Integer(load_default=80, strict=True, validate=validate.Range(1, 100))


class RackIn(Schema):
    room_id = fields.Integer(required=True, strict=True, validate=ID)
    name = fields.String(required=True, validate=_NAME)
    height_u = fields.Integer(load_default=42, strict=True, validate=validate.Range(1, R.MAX_RACK_U))
    depth_mm = fields.Integer(load_default=1000, strict=True, validate=validate.Range(100, 2000))
    feed_a_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=ID)
    feed_b_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=ID)


class SwitchIn(Schema):
    room_id = fields.Integer(required=True, strict=True, validate=ID)
    name = fields.String(required=True, validate=_NAME)
    ports = fields.Integer(load_default=24, strict=True, validate=validate.Range(1, 96))
    speed_mbps = fields.Integer(
        load_default=1000,
        strict=True,
        validate=[validate.Range(min(R.SPEEDS), max(R.SPEEDS)), validate.OneOf(R.SPEEDS)],
    )
    medium = fields.String(load_default="copper", validate=validate.OneOf(("copper", "fibre")))


class PatchPanelIn(Schema):
    room_id = fields.Integer(required=True, strict=True, validate=ID)
    name = fields.String(required=True, validate=_NAME)
    ports = fields.Integer(load_default=24, strict=True, validate=validate.Range(1, 144))
    medium = fields.String(load_default="fibre", validate=validate.OneOf(("copper", "fibre")))


class PrefixIn(Schema):
    site_id = fields.Integer(required=True, strict=True, validate=ID)
    cidr = fields.String(required=True, validate=text(min=1, max=50))
    vlan = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 4094))
    description = fields.String(load_default="", validate=text(max=100))


class VlanIn(Schema):
    site_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=ID)
    room_id = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=ID,
        metadata={"description": "a room's VLAN (the VID unique in the room); none: the site's (site_id)"},
    )
    vid = fields.Integer(required=True, strict=True, validate=validate.Range(1, V.MAX_VID))
    name = fields.String(required=True, validate=_NAME)
    status = fields.String(load_default="active", validate=validate.OneOf([s.value for s in VlanStatus]))


# ---- requests and reservations ---------------------------------------------------------------------


@blp.route("/requests", methods=["POST"])
@_doc
@blp.arguments(RequestInSchema)
@blp.response(202)
def colocation_request(data):
    """Ask for rack space, power, ports and addresses; DC staff approve after the capacity check."""
    req = svc.colocation_request(actor(), **data)
    return {"request_id": req.id, "status": req.status.value}


@blp.route("/reservations", methods=["GET"])
@_doc
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def reservation_list(args):
    return page_list(svc.reservation_list, args, ReservationSchema())


@blp.route("/reservations/<int:reservation_id>", methods=["GET"])
@_doc
@blp.response(200, ReservationDetailSchema)
def reservation_get(reservation_id: int):
    return svc.reservation_get(actor(), reservation_id)


@blp.route("/reservations/<int:reservation_id>/release", methods=["POST"])
@_doc
@blp.response(200, ReservationSchema)
def reservation_release(reservation_id: int):
    """DC staff: give the units, ports and addresses back to the floor (the budget is freed)."""
    return svc.reservation_release(actor(), reservation_id=reservation_id)


class DecommissionIn(Schema):
    reason = fields.String(load_default="", validate=text(max=100))


@blp.route("/reservations/<int:reservation_id>/decommission", methods=["POST"])
@_doc
@blp.arguments(DecommissionIn)
@blp.response(202)
def reservation_decommission(data, reservation_id: int):
    """Ask to decommission a reservation (its ministry's admins, DC staff): a request; on approval its
    servers are retired (hosts removed from the inventory) and everything it holds is freed."""
    req = srv.decommission_request(actor(), reservation_id=reservation_id, reason=data["reason"])
    return {"request_id": req.id, "status": req.status.value}


@blp.route("/racks/<int:rack_id>", methods=["GET"])
@_doc
@blp.response(200, ElevationSchema)
def rack_elevation(rack_id: int):
    """The rack's units bottom up: staff see every holder, a ministry its own (others as occupied)."""
    return svc.rack_elevation(actor(), rack_id)


# ---- the floor (DC staff read, DC admins add) ------------------------------------------------------


@blp.route("/floor", methods=["GET"])
@_doc
@blp.arguments(FloorArgs, location="query")
@blp.response(200, FloorSchema)
def floor_get(args):
    """DC staff: racks (page), feeds (feeds_page), switches (switches_page), prefixes (prefixes_page),
    patch panels (patch_panels_page), VLANs (vlans_page)."""
    return svc.floor_get(actor(), **args)


def _adder(path: str, schema, fn, doc: str):
    def view(data):
        return fn(actor(), **data)

    view.__name__ = fn.__name__
    view.__doc__ = doc
    blp.route(path, methods=["POST"])(_doc(blp.arguments(schema)(blp.response(201, CreatedSchema)(view))))


_adder("/sites", SiteIn, svc.site_create, "DC admins: a site (building).")
_adder("/rooms", RoomIn, svc.room_create, "DC admins: a room or cage of a site.")
_adder("/panels", RoomIn, svc.panel_create, "DC admins: a power panel of a site.")
_adder("/feeds", FeedIn, svc.feed_create, "DC admins: a power feed of a panel.")
_adder("/racks", RackIn, svc.rack_create, "DC admins: a rack in a room, on feeds A and B.")
_adder("/switches", SwitchIn, svc.switch_create, "DC admins: a switch in a room with its ports.")
_adder("/prefixes", PrefixIn, svc.prefix_create, "DC admins: an IP prefix (address pool) of a site.")
_adder("/vlans", VlanIn, V.vlan_create, "DC admins: a VLAN of a site, or of one room (room_id).")
_adder(
    "/patch_panels",
    PatchPanelIn,
    svc.patch_panel_create,
    "DC admins: a patch panel in a room, its positions each a front port with its rear port.",
)


# ---- visitor access ----------------------------------------------------------------------------------


class PassSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    full_name = fields.String()
    id_number = fields.String()
    company = fields.String()
    valid_from = fields.DateTime()
    valid_until = fields.DateTime()
    temporary = fields.Boolean()
    status = fields.Function(
        lambda p: vis.pass_state(p, db_now()).status.value,
        metadata={"description": "pending, approved, rejected, revoked or expired (as of now)"},
    )
    expired_reason = fields.Function(lambda p: vis.pass_state(p, db_now()).reason)
    signer_name = fields.String()
    decided_by = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    last_visit_at = fields.DateTime(allow_none=True)


class VisitSchema(Schema):
    id = fields.Integer()
    pass_id = fields.Integer()
    checked_in_at = fields.DateTime()
    checked_in_by = fields.String()
    checked_out_at = fields.DateTime(allow_none=True)
    checked_out_by = fields.String()


class PassIn(Schema):
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    full_name = fields.String(required=True, validate=text(min=1, max=100))
    id_number = fields.String(required=True, validate=text(min=4, max=40))
    company = fields.String(load_default="", validate=text(max=100))
    valid_from = fields.String(required=True, validate=text(min=10, max=40), metadata={"format": "date-time"})
    valid_until = fields.String(required=True, validate=text(min=10, max=40), metadata={"format": "date-time"})
    temporary = fields.Boolean(load_default=False)


class PassArgs(PageArgs):
    status = fields.String(
        load_default=None, validate=validate.OneOf(("pending", "approved", "rejected", "revoked", "expired"))
    )


class SignerIn(Schema):
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    username = fields.String(required=True, validate=text(min=1, max=64))


class SignerSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    user_id = fields.Integer()
    username = fields.String()


@blp.route("/visitors", methods=["GET"])
@_doc
@blp.arguments(PassArgs, location="query")
@blp.response(200)
def visitor_list(args):
    return page_list(vis.visitor_list, args, PassSchema())


@blp.route("/visitors", methods=["POST"])
@_doc
@blp.arguments(PassIn)
@blp.response(201, PassSchema)
def visitor_add(data):
    """An authorised signer names a visitor (times ISO 8601; UTC without an offset); staff approve."""
    return vis.visitor_add(actor(), **data)


@blp.route("/visitors/<int:pass_id>", methods=["GET"])
@_doc
@blp.response(200, PassSchema)
def visitor_get(pass_id: int):
    return vis.visitor_get(actor(), pass_id)


@blp.route("/visitors/<int:pass_id>/visits", methods=["GET"])
@_doc
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def visit_list(args, pass_id: int):
    return page_body(
        vis.visit_list(actor(), pass_id=pass_id, page=args["page"], per_page=args["per_page"]), VisitSchema()
    )


def _pass_action(name: str, fn, schema, doc: str):
    def view(pass_id: int):
        return fn(actor(), pass_id=pass_id)

    view.__name__ = f"visitor_{name}"
    view.__doc__ = doc
    blp.route(f"/visitors/<int:pass_id>/{name}", methods=["POST"])(_doc(blp.response(200, schema)(view)))


_pass_action("approve", vis.visitor_approve, PassSchema, "DC staff approve a pending pass.")
_pass_action("reject", vis.visitor_reject, PassSchema, "DC staff reject a pending pass.")
_pass_action("revoke", vis.visitor_revoke, PassSchema, "The signer, a ministry admin or DC staff withdraw a pass.")
_pass_action("check_in", vis.visit_check_in, VisitSchema, "DC staff at the door: the visitor enters.")
_pass_action("check_out", vis.visit_check_out, VisitSchema, "DC staff at the door: the visitor leaves.")


@blp.route("/signers", methods=["GET"])
@_doc
@blp.response(200, SignerSchema(many=True))
def signer_list():
    return [
        {"id": sg.id, "org_id": sg.org_id, "user_id": sg.user_id, "username": name}
        for sg, name in vis.signer_list(actor())
    ]


@blp.route("/signers", methods=["POST"])
@_doc
@blp.arguments(SignerIn)
@blp.response(201, CreatedSchema)
def signer_add(data):
    """A ministry admin names one of the ministry's users as an authorised signer."""
    return vis.signer_add(actor(), **data)


@blp.route("/signers/<int:signer_id>", methods=["DELETE"])
@_doc
@blp.response(204)
def signer_remove(signer_id: int):
    vis.signer_remove(actor(), signer_id=signer_id)


# ---- arriving servers ----------------------------------------------------------------------------------


class ServerSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    reservation_id = fields.Integer()
    name = fields.String()
    serial = fields.String()
    address = fields.String()
    fingerprint = fields.String(metadata={"description": "the SSH host key fingerprint declared (pinned at hand-over)"})
    status = fields.Function(
        lambda x: x.status.value,
        metadata={"description": "received, racked, cabled, powered, handed_over or retired (decommissioned)"},
    )
    management = fields.Function(
        lambda x: x.management.value if x.management else None,
        metadata={"description": "customer (inventory only) or hosting; set at hand-over"},
    )
    host_id = fields.Integer(allow_none=True)
    received_by = fields.String()
    received_at = fields.DateTime()
    handed_over_by = fields.String()
    handed_over_at = fields.DateTime(allow_none=True)
    retired_host = fields.String(metadata={"description": "the host removed from the inventory at retirement"})
    retired_at = fields.DateTime(allow_none=True)


class ServerIn(Schema):
    reservation_id = fields.Integer(required=True, strict=True, validate=ID)
    name = fields.String(required=True, validate=text(min=1, max=63))
    address = fields.String(required=True, validate=text(min=2, max=45))
    serial = fields.String(load_default="", validate=text(max=100))
    fingerprint = fields.String(load_default="", validate=text(max=60))


class AdvanceIn(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("racked", "cabled", "powered")))


class HandOverIn(Schema):
    management = fields.String(required=True, validate=validate.OneOf(("customer", "hosting")))
    roles = fields.List(
        fields.String(validate=text(min=1, max=30)), load_default=list, validate=validate.Length(max=20)
    )
    fingerprint = fields.String(load_default=None, allow_none=True, validate=text(max=60))


@blp.route("/servers", methods=["GET"])
@_doc
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def server_list(args):
    """A ministry's own servers (DC staff: all), newest first."""
    return page_list(srv.server_list, args, ServerSchema())


@blp.route("/servers", methods=["POST"])
@_doc
@blp.arguments(ServerIn)
@blp.response(201, ServerSchema)
def server_receive(data):
    """DC staff: a server arrived for a reservation (status received)."""
    return srv.server_receive(actor(), **data)


@blp.route("/servers/<int:server_id>", methods=["GET"])
@_doc
@blp.response(200, ServerSchema)
def server_get(server_id: int):
    return srv.server_get(actor(), server_id)


@blp.route("/servers/<int:server_id>/advance", methods=["POST"])
@_doc
@blp.arguments(AdvanceIn)
@blp.response(200, ServerSchema)
def server_advance(data, server_id: int):
    """DC staff: racked, then cabled, then powered."""
    return srv.server_advance(actor(), server_id=server_id, **data)


@blp.route("/servers/<int:server_id>/hand_over", methods=["POST"])
@_doc
@blp.arguments(HandOverIn)
@blp.response(200, ServerSchema)
def server_hand_over(data, server_id: int):
    """DC staff: pin the powered server's SSH host key (refused unless it is the declared fingerprint)
    and make it a govhost host, customer-managed (no roles) or offered for hosting roles."""
    return srv.server_hand_over(actor(), server_id=server_id, **data)


# ---- NetBox import and export ----------------------------------------------------------------------


IMPORTABLE = [t for t in nb.COLUMNS if t not in nb.EXPORT_ONLY]


class ExportArgs(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
    object = fields.String(
        load_default=None,
        validate=validate.OneOf(list(nb.COLUMNS)),
        metadata={"description": "with format=csv: the one NetBox object type of the file"},
    )


class ImportIn(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
    object = fields.String(
        load_default=None, validate=validate.OneOf(IMPORTABLE), metadata={"description": "with format=csv"}
    )
    data = fields.String(required=True, validate=text(min=1, max=nb.MAX_BYTES, multiline=True))


@blp.route("/netbox/export", methods=["GET"])
@_doc
@blp.arguments(ExportArgs, location="query")
@blp.response(200)
def netbox_export(args):
    """DC staff: the floor in NetBox's import format: JSON {object type: [rows]}, or one object type
    as CSV with NetBox's column names."""
    doc = nb.floor_export(actor())
    if args["format"] == "json":
        return doc
    if not args["object"]:
        raise Invalid("colocation.netbox_object_invalid", "Name the object type of the CSV.", field="object")
    return Response(
        nb.to_csv(doc[args["object"]], args["object"]),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{args["object"]}.csv"'},
    )


@blp.route("/netbox/import", methods=["POST"])
@_doc
@blp.arguments(ImportIn)
@blp.response(200)
def netbox_import(data):
    """DC admins: create what a NetBox CSV (one object type) or JSON document holds and the floor
    does not; all or nothing. Answers {object type: {added, existing}}."""
    csv = data["format"] == "csv"
    doc = nb.read_csv(data["data"], data["object"] or "") if csv else nb.read_json(data["data"])
    return nb.floor_import(actor(), document=doc, source=f"api {data['format']}")


# ---- changing and deleting floor objects (DC admins) -----------------------------------------------

FLOOR_KINDS = "any(site, room, panel, feed, rack, switch, prefix, patch_panel, vlan)"


class FloorEditIn(Schema):
    """The fields to change (others stay). Sites: name, description; rooms, panels, switches, patch panels: name;
    feeds: name, phase, voltage, amperage, max_utilisation; racks: name, height_u, depth_mm,
    feed_a_id, feed_b_id (null: none); prefixes: vlan (the site VLAN's VID, made if missing; null: none),
    description; VLANs: name, vid, status (not the VID or status of one a ministry holds)."""

    name = fields.String(validate=_NAME)
    description = fields.String(validate=text(max=100))
    phase = fields.String(validate=validate.OneOf(("single", "three")))
    voltage = fields.Integer(
        strict=True, validate=[validate.Range(min(R.VOLTAGES), max(R.VOLTAGES)), validate.OneOf(R.VOLTAGES)]
    )
    amperage = fields.Integer(strict=True, validate=validate.Range(1, 400))
    max_utilisation = fields.Integer(strict=True, validate=validate.Range(1, 100))
    height_u = fields.Integer(strict=True, validate=validate.Range(1, R.MAX_RACK_U))
    depth_mm = fields.Integer(strict=True, validate=validate.Range(100, 2000))
    feed_a_id = fields.Integer(allow_none=True, strict=True, validate=ID)
    feed_b_id = fields.Integer(allow_none=True, strict=True, validate=ID)
    vlan = fields.Integer(allow_none=True, strict=True, validate=validate.Range(1, 4094))
    vid = fields.Integer(strict=True, validate=validate.Range(1, V.MAX_VID))
    status = fields.String(validate=validate.OneOf([s.value for s in VlanStatus]))


@blp.route(f"/floor/<{FLOOR_KINDS}:what>/<int:floor_id>", methods=["PATCH"])
@_doc
@blp.arguments(FloorEditIn)
@blp.response(200, CreatedSchema)
def floor_update(data, what: str, floor_id: int):
    """DC admins: change a floor object; a change under what is reserved is refused (409) with the reason."""
    return ed.floor_update(actor(), what=what, floor_id=floor_id, **data)


@blp.route(f"/floor/<{FLOOR_KINDS}:what>/<int:floor_id>", methods=["DELETE"])
@_doc
@blp.response(204)
def floor_delete(what: str, floor_id: int):
    """DC admins: delete a floor object nothing uses (409 naming what still uses it)."""
    ed.floor_delete(actor(), what=what, floor_id=floor_id)


# ---- the monthly statement ----------------------------------------------------------------------------


class StatementArgs(Schema):
    month = fields.String(
        load_default=None, validate=text(min=7, max=7), metadata={"description": "YYYY-MM (default: this month)"}
    )


class LineSchema(Schema):
    reservation_id = fields.Integer()
    label = fields.String()
    site = fields.String()
    room = fields.String()
    rack = fields.String()
    u_start = fields.Integer()
    u_count = fields.Integer()
    max_w = fields.Integer(metadata={"description": "contracted power (the maximum draw reserved)"})
    ports = fields.Integer()
    addresses = fields.Integer()
    cross_connects = fields.Integer()
    vlan = fields.Integer(allow_none=True, metadata={"description": "the VLAN (VID) granted, if asked for"})
    held_from = fields.DateTime()
    held_until = fields.DateTime()
    days = fields.Float(metadata={"description": "days held in the month"})
    released = fields.Boolean()


class VisitLineSchema(Schema):
    pass_id = fields.Integer()
    full_name = fields.String()
    company = fields.String()
    checked_in_at = fields.DateTime()
    checked_out_at = fields.DateTime(allow_none=True)
    hours = fields.Float(allow_none=True)


class StatementSchema(Schema):
    org_id = fields.Integer()
    organization = fields.String()
    month = fields.String()
    units = fields.Integer()
    contracted_w = fields.Integer()
    ports = fields.Integer()
    addresses = fields.Integer()
    cross_connects = fields.Integer()
    vlans = fields.List(fields.Integer(), metadata={"description": "the VIDs of the VLANs held in the month"})
    unit_days = fields.Float()
    visit_count = fields.Integer()
    visitor_hours = fields.Float()
    lines = fields.List(fields.Nested(LineSchema))
    visits = fields.List(fields.Nested(VisitLineSchema), metadata={"description": "the first 1,000 of the month"})


@blp.route("/statement/<int:org_id>", methods=["GET"])
@_doc
@blp.arguments(StatementArgs, location="query")
@blp.response(200, StatementSchema)
def statement_get(args, org_id: int):
    """A ministry's monthly statement: reservations held (units, contracted W, ports, addresses,
    cross-connects, days) and visits. A ministry reads its own, DC staff any."""
    return st.statement_get(actor(), org_id=org_id, **args)
