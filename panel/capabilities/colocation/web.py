"""Colocation pages: a ministry's reservations and its request for rack space; the floor, rack
elevations (SVG) and reservation release for DC staff. Thin: form -> service -> page."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.capabilities.colocation import edit as ed
from panel.capabilities.colocation import forms as F
from panel.capabilities.colocation import netbox as nb
from panel.capabilities.colocation import servers as srv
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation import statement as st
from panel.capabilities.colocation import visitors as vis
from panel.capabilities.colocation import vlans as V
from panel.db import utcnow as db_now
from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import hosts
from panel.services.requests import request_orgs
from panel.web.common import actor, apply_error, error_text, may_ask, nav, page_args

bp = Blueprint("colocation", __name__, url_prefix="/colocation", template_folder="templates")

nav("colocation.index", _l("Colocation"))

# kind in the URL -> (form class, service function, the form's fields the service takes)
FLOOR = {
    "site": (F.SiteForm, svc.site_create, ("name", "description")),
    "room": (F.RoomForm, svc.room_create, ("site_id", "name")),
    "panel": (F.PanelForm, svc.panel_create, ("site_id", "name")),
    "feed": (F.FeedForm, svc.feed_create, ("panel_id", "name", "phase", "voltage", "amperage", "max_utilisation")),
    "rack": (F.RackForm, svc.rack_create, ("room_id", "name", "height_u", "depth_mm", "feed_a_id", "feed_b_id")),
    "switch": (F.SwitchForm, svc.switch_create, ("room_id", "name", "ports", "speed_mbps", "medium")),
    "prefix": (F.PrefixForm, svc.prefix_create, ("site_id", "cidr", "vlan", "description")),
    "patch_panel": (F.PatchPanelForm, svc.patch_panel_create, ("room_id", "name", "ports", "medium")),
    "vlan": (F.VlanForm, V.vlan_create, ("site_id", "room_id", "vid", "name", "status")),
}


def _request_form(form=None) -> F.RequestForm:
    form = form or F.RequestForm()
    form.org_id.choices = [SelectChoice(o.id, o.name) for o in request_orgs(actor())]
    form.site_id.choices = [SelectChoice(0, _("Any site"))] + [
        SelectChoice(s.id, s.name) for s in svc.site_choices(actor())
    ]
    form.cross_connect_room_id.choices = [SelectChoice(0, _("The rack's own room"))] + [
        SelectChoice(room_id, name) for room_id, name in svc.room_choices(actor())
    ]
    return form


def _index_page(form=None, status: int = 200):
    page, per_page = page_args()
    reservations = svc.reservation_list(actor(), page=page, per_page=per_page)
    return render_template(
        "colocation/index.html",
        page=reservations,
        form=_request_form(form),
        orgs=svc.org_names(actor(), {r.org_id for r in reservations.items}),
    ), status


@bp.get("/")
@login_required
def index():
    return _index_page()


@bp.post("/request")
@login_required
def request_create():
    form = _request_form()
    if form.validate_on_submit():
        spec = {name: getattr(form, name).data for name in svc.Spec.__dataclass_fields__ if hasattr(form, name)}
        spec = {k: (v if v is not None else 0) for k, v in spec.items()}
        spec["site_id"] = form.site_id.data or None
        spec["label"] = form.label.data or ""
        spec["cross_connect_room_id"] = form.cross_connect_room_id.data or None
        spec["cross_connect_to"] = form.cross_connect_to.data or ""
        try:
            req = svc.colocation_request(actor(), org_id=form.org_id.data, **spec)
        except PanelError as err:
            if err.status == 404 and err.field not in ("site_id", "org_id", "cross_connect_room_id"):
                raise
            apply_error(form, err)
            return _index_page(form, err.status)
        flash(_("Request #%(id)s for rack space was sent.", id=req.id), "success")
        return redirect(url_for("requests.detail", request_id=req.id))
    return _index_page(form, 422)


def _choices(kind: str, form, choices: dict) -> None:
    for name, options in choices.items():
        if hasattr(form, name):
            getattr(form, name).choices = [SelectChoice(k, v) for k, v in options]
    if kind == "vlan":  # a VLAN is a room's or, with no room, the whole site's
        form.room_id.choices.insert(0, SelectChoice(0, _("The whole site")))


def _floor_forms(bound: str | None = None, form=None) -> dict:
    choices = svc.floor_choices(actor())
    forms = {}
    for kind, (cls, _fn, _fields) in FLOOR.items():
        f = form if kind == bound else cls(prefix=kind, formdata=None)
        _choices(kind, f, choices)
        forms[kind] = f
    return forms


def _int_arg(name: str) -> int:
    value = request.args.get(name, "1")
    return int(value) if value.isdigit() and len(value) < 10 else 1


def _netbox_form(form=None) -> F.NetboxImportForm:
    form = form or F.NetboxImportForm(formdata=None)
    form.object.choices = [SelectChoice("", "JSON")] + [
        SelectChoice(t, t) for t in nb.COLUMNS if t not in nb.EXPORT_ONLY
    ]
    return form


def _floor_page(bound: str | None = None, form=None, status: int = 200, netbox_form=None):
    page, per_page = page_args()
    more = {k: _int_arg(k) for k in ("feeds_page", "switches_page", "prefixes_page", "patch_panels_page", "vlans_page")}
    floor = svc.floor_get(actor(), page=page, per_page=per_page, **more)
    return render_template(
        "colocation/floor.html",
        floor=floor,
        forms=_floor_forms(bound, form),
        may_edit=actor().has_staff(Role.ADMIN),
        netbox_types=list(nb.COLUMNS),
        netbox_form=_netbox_form(netbox_form),
    ), status


@bp.get("/floor/netbox")
@login_required
def netbox_export():
    """The floor as a NetBox import file: ?object=<type> gives that type's CSV, else the JSON document."""
    doc = nb.floor_export(actor())
    object_type = request.args.get("object", "")
    if object_type in nb.COLUMNS:
        text, mimetype, name = nb.to_csv(doc[object_type], object_type), "text/csv", f"{object_type}.csv"
    else:
        text, mimetype, name = nb.to_json(doc), "application/json", "floor-netbox.json"
    return Response(text, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/floor/netbox")
@login_required
def netbox_import():
    form = _netbox_form(F.NetboxImportForm())
    upload = form.file.data
    if not form.validate_on_submit() or not getattr(upload, "filename", ""):
        form.file.errors = [_("Choose a NetBox CSV or JSON file.")]
        return _floor_page(netbox_form=form, status=422)
    try:
        text = upload.read(nb.MAX_BYTES + 1).decode("utf-8-sig")
    except UnicodeDecodeError:
        form.file.errors = [_("The file is not UTF-8 text.")]
        return _floor_page(netbox_form=form, status=422)
    try:
        doc = nb.read_csv(text, form.object.data) if form.object.data else nb.read_json(text)
        counts = nb.floor_import(actor(), document=doc, source=f"web {upload.filename[:60]}")
    except PanelError as err:
        if err.status == 403:
            raise
        form.file.errors = [error_text(err)]
        return _floor_page(netbox_form=form, status=err.status)
    added = sum(c["added"] for c in counts.values())
    existing = sum(c["existing"] for c in counts.values())
    flash(_("Imported: %(added)s added, %(existing)s already on the floor.", added=added, existing=existing), "success")
    return redirect(url_for("colocation.floor"))


@bp.get("/floor")
@login_required
def floor():
    return _floor_page()


@bp.post("/floor/<any(site, room, panel, feed, rack, switch, prefix, patch_panel, vlan):kind>")
@login_required
def floor_add(kind: str):
    cls, fn, fields = FLOOR[kind]
    form = cls(prefix=kind)
    _choices(kind, form, svc.floor_choices(actor()))
    if not form.validate_on_submit():
        return _floor_page(kind, form, 422)
    try:
        fn(actor(), **{name: getattr(form, name).data for name in fields})
    except PanelError as err:
        if err.status == 403:
            raise
        apply_error(form, err)
        return _floor_page(kind, form, err.status)
    flash(_("Added to the floor."), "success")
    return redirect(url_for("colocation.floor") + f"#{kind}")


# ---- changing and deleting floor objects (DC admins) -----------------------------------------------

FLOOR_KINDS = "any(site, room, panel, feed, rack, switch, prefix, patch_panel, vlan)"


def _edit_form(what: str, obj, formdata=None):
    cls = FLOOR[what][0]
    form = cls(prefix="edit", formdata=formdata, obj=obj if formdata is None else None)
    for name in list(form._fields):
        if name != "csrf_token" and name not in ed.KINDS[what][1]:
            delattr(form, name)
    choices = svc.floor_choices(actor())
    for name in ("feed_a_id", "feed_b_id"):
        if hasattr(form, name):
            getattr(form, name).choices = [SelectChoice(k, v) for k, v in choices[name]]
            if formdata is None:
                getattr(form, name).data = getattr(obj, name) or 0
    return form


def _edit_page(what: str, floor_id: int, form=None, status: int = 200):
    obj = ed.floor_get(actor(), what=what, floor_id=floor_id)
    return render_template(
        "colocation/floor_edit.html",
        what=what,
        obj=obj,
        form=form or _edit_form(what, obj),
        action=F.ActionForm(),
    ), status


@bp.get(f"/floor/<{FLOOR_KINDS}:what>/<int:floor_id>")
@login_required
def floor_edit(what: str, floor_id: int):
    return _edit_page(what, floor_id)


@bp.post(f"/floor/<{FLOOR_KINDS}:what>/<int:floor_id>")
@login_required
def floor_update(what: str, floor_id: int):
    obj = ed.floor_get(actor(), what=what, floor_id=floor_id)
    form = _edit_form(what, obj, request.form)
    if not form.validate_on_submit():
        return _edit_page(what, floor_id, form, 422)
    changes = {name: getattr(form, name).data for name in ed.KINDS[what][1] if hasattr(form, name)}
    try:
        ed.floor_update(actor(), what=what, floor_id=floor_id, **changes)
    except PanelError as err:
        if err.status in (403, 404) and err.field is None:
            raise
        apply_error(form, err)
        return _edit_page(what, floor_id, form, err.status)
    flash(_("Saved."), "success")
    return redirect(url_for("colocation.floor_edit", what=what, floor_id=floor_id))


@bp.post(f"/floor/<{FLOOR_KINDS}:what>/<int:floor_id>/delete")
@login_required
def floor_delete(what: str, floor_id: int):
    if not F.ActionForm().validate_on_submit():
        abort(400)
    try:
        ed.floor_delete(actor(), what=what, floor_id=floor_id)
    except PanelError as err:
        if err.status in (403, 404):
            raise
        flash(error_text(err), "error")
        return redirect(url_for("colocation.floor_edit", what=what, floor_id=floor_id))
    flash(_("Deleted."), "success")
    return redirect(url_for("colocation.floor"))


@bp.get("/racks/<int:rack_id>")
@login_required
def rack(rack_id: int):
    return render_template("colocation/rack.html", e=svc.rack_elevation(actor(), rack_id))


def _reservation_page(reservation_id: int, server_form=None, status: int = 200, decommission_form=None):
    a = actor()
    return render_template(
        "colocation/reservation.html",
        v=svc.reservation_get(a, reservation_id),
        action=F.ActionForm(),
        may_release=a.has_staff(Role.ADMIN, Role.OPERATOR) and a.can_write,
        may_decommission=may_ask(svc.DECOMMISSION),
        decommission_form=decommission_form or F.DecommissionForm(formdata=None),
        servers=srv.reservation_servers(a, reservation_id),
        server_form=server_form or F.ServerForm(formdata=None),
    ), status


@bp.post("/reservations/<int:reservation_id>/decommission")
@login_required
def decommission(reservation_id: int):
    """Ask to decommission the reservation: a request DC staff approve."""
    form = F.DecommissionForm()
    if not form.validate_on_submit():
        return _reservation_page(reservation_id, status=422, decommission_form=form)
    try:
        req = srv.decommission_request(actor(), reservation_id=reservation_id, reason=form.reason.data or "")
    except PanelError as err:
        if err.status == 404:
            raise
        if err.field == "reason":
            apply_error(form, err)
        else:
            flash(error_text(err), "error")
        return _reservation_page(reservation_id, status=err.status, decommission_form=form)
    flash(_("Request #%(id)s to decommission the reservation was sent.", id=req.id), "success")
    return redirect(url_for("requests.detail", request_id=req.id))


@bp.get("/reservations/<int:reservation_id>")
@login_required
def reservation(reservation_id: int):
    return _reservation_page(reservation_id)


@bp.post("/reservations/<int:reservation_id>/servers")
@login_required
def server_receive(reservation_id: int):
    form = F.ServerForm()
    if not form.validate_on_submit():
        return _reservation_page(reservation_id, form, 422)
    try:
        server = srv.server_receive(
            actor(),
            reservation_id=reservation_id,
            name=form.name.data,
            address=form.address.data,
            serial=form.serial.data or "",
            fingerprint=form.fingerprint.data or "",
        )
    except PanelError as err:
        if err.status in (403, 404):
            raise
        apply_error(form, err)
        return _reservation_page(reservation_id, form, err.status)
    flash(_("%(name)s was received.", name=server.name), "success")
    return redirect(url_for("colocation.server", server_id=server.id))


@bp.post("/reservations/<int:reservation_id>/release")
@login_required
def release(reservation_id: int):
    if not F.ActionForm().validate_on_submit():
        abort(400)
    try:
        svc.reservation_release(actor(), reservation_id=reservation_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
    else:
        flash(_("The reservation was released."), "success")
    return redirect(url_for("colocation.reservation", reservation_id=reservation_id))


@bp.app_template_global()
def colo_colour(org_id) -> str:
    """A stable colour per ministry in elevations (others' units are grey)."""
    if org_id is None:
        return "#b8bec6"
    palette = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
    return palette[int(org_id) % len(palette)]


# ---- visitor access ----------------------------------------------------------------------------------


def _org_choices(form) -> None:
    form.org_id.choices = [SelectChoice(o.id, o.name) for o in request_orgs(actor())]


def _visitors_page(form=None, signer_form=None, status: int = 200):
    page, per_page = page_args()
    a = actor()
    passes = vis.visitor_list(a, page=page, per_page=per_page, status=request.args.get("status") or None)
    form = form or F.VisitorForm(formdata=None)
    signer_form = signer_form or F.SignerForm(formdata=None)
    _org_choices(form)
    _org_choices(signer_form)
    signers = vis.signer_list(a)
    return render_template(
        "colocation/visitors.html",
        page=passes,
        now=db_now(),
        state=vis.pass_state,
        form=form,
        signer_form=signer_form,
        signers=signers,
        may_sign=any(sg.user_id == a.user_id for sg, _ in signers),
        may_name_signers=a.has_staff(Role.ADMIN, Role.OPERATOR)
        or any(Role.ORG_ADMIN in r for r in a.org_roles.values()),
        action=F.ActionForm(),
        orgs=svc.org_names(a, {p.org_id for p in passes.items} | {sg.org_id for sg, _ in signers}),
    ), status


@bp.get("/visitors")
@login_required
def visitors():
    return _visitors_page()


@bp.post("/visitors")
@login_required
def visitor_add():
    form = F.VisitorForm()
    _org_choices(form)
    if form.validate_on_submit():
        try:
            p = vis.visitor_add(
                actor(),
                org_id=form.org_id.data,
                full_name=form.full_name.data,
                id_number=form.id_number.data,
                company=form.company.data or "",
                valid_from=form.valid_from.data,
                valid_until=form.valid_until.data,
                temporary=form.temporary.data,
            )
        except PanelError as err:
            if err.status == 404 and err.field != "org_id":
                raise
            apply_error(form, err)
            return _visitors_page(form=form, status=err.status)
        flash(_("The pass for %(name)s waits for the data center's approval.", name=p.full_name), "success")
        return redirect(url_for("colocation.visitor", pass_id=p.id))
    return _visitors_page(form=form, status=422)


@bp.post("/signers")
@login_required
def signer_add():
    form = F.SignerForm()
    _org_choices(form)
    if form.validate_on_submit():
        try:
            vis.signer_add(actor(), org_id=form.org_id.data, username=form.username.data)
        except PanelError as err:
            if err.status == 404 and err.field != "org_id":
                raise
            apply_error(form, err)
            return _visitors_page(signer_form=form, status=err.status)
        flash(_("%(name)s may now name visitors.", name=form.username.data), "success")
        return redirect(url_for("colocation.visitors"))
    return _visitors_page(signer_form=form, status=422)


@bp.post("/signers/<int:signer_id>/remove")
@login_required
def signer_remove(signer_id: int):
    if not F.ActionForm().validate_on_submit():
        abort(400)
    vis.signer_remove(actor(), signer_id=signer_id)
    flash(_("The signer was removed."), "success")
    return redirect(url_for("colocation.visitors"))


@bp.get("/visitors/<int:pass_id>")
@login_required
def visitor(pass_id: int):
    a = actor()
    p = vis.visitor_get(a, pass_id)
    page, per_page = page_args()
    return render_template(
        "colocation/visitor.html",
        p=p,
        st=vis.pass_state(p, db_now()),
        visits=vis.visit_list(a, pass_id=p.id, page=page, per_page=per_page),
        action=F.ActionForm(),
        staff=a.has_staff(Role.ADMIN, Role.OPERATOR) and a.can_write,
        org_name=svc.org_names(a, {p.org_id}).get(p.org_id, ""),
    )


VISITOR_ACTIONS = {
    "approve": (vis.visitor_approve, _l("The pass was approved.")),
    "reject": (vis.visitor_reject, _l("The pass was rejected.")),
    "revoke": (vis.visitor_revoke, _l("The pass was revoked.")),
    "check_in": (vis.visit_check_in, _l("Checked in.")),
    "check_out": (vis.visit_check_out, _l("Checked out.")),
}


@bp.post("/visitors/<int:pass_id>/<any(approve, reject, revoke, check_in, check_out):action>")
@login_required
def visitor_action(pass_id: int, action: str):
    if not F.ActionForm().validate_on_submit():
        abort(400)
    fn, done = VISITOR_ACTIONS[action]
    try:
        fn(actor(), pass_id=pass_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
    else:
        flash(str(done), "success")
    return redirect(url_for("colocation.visitor", pass_id=pass_id))


# ---- arriving servers ----------------------------------------------------------------------------------


@bp.get("/servers")
@login_required
def servers():
    page, per_page = page_args()
    p = srv.server_list(actor(), page=page, per_page=per_page)
    return render_template("colocation/servers.html", page=p, orgs=svc.org_names(actor(), {x.org_id for x in p.items}))


def _hand_over_form(form=None) -> F.HandOverForm:
    form = form or F.HandOverForm(formdata=None)
    form.roles.choices = [SelectChoice(r.name, _(r.label)) for r in hosts.roles()]
    return form


def _server_page(server_id: int, form=None, status: int = 200):
    a = actor()
    x = srv.server_get(a, server_id)
    return render_template(
        "colocation/server.html",
        x=x,
        org_name=svc.org_names(a, {x.org_id}).get(x.org_id, ""),
        staff=a.has_staff(Role.ADMIN, Role.OPERATOR) and a.can_write,
        next_step=srv.next_step(x),
        action=F.ActionForm(),
        form=_hand_over_form(form),
    ), status


@bp.get("/servers/<int:server_id>")
@login_required
def server(server_id: int):
    return _server_page(server_id)


@bp.post("/servers/<int:server_id>/advance/<any(racked, cabled, powered):step>")
@login_required
def server_advance(server_id: int, step: str):
    if not F.ActionForm().validate_on_submit():
        abort(400)
    try:
        srv.server_advance(actor(), server_id=server_id, status=step)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
    return redirect(url_for("colocation.server", server_id=server_id))


@bp.post("/servers/<int:server_id>/hand_over")
@login_required
def server_hand_over(server_id: int):
    form = _hand_over_form(F.HandOverForm())
    if not form.validate_on_submit():
        return _server_page(server_id, form, 422)
    try:
        x = srv.server_hand_over(
            actor(),
            server_id=server_id,
            management=form.management.data,
            roles=form.roles.data or [],
            fingerprint=form.fingerprint.data or None,
        )
    except PanelError as err:
        if err.status == 404 and err.field is None:
            raise
        if err.field and hasattr(form, err.field):
            apply_error(form, err)  # beside its field (the fingerprint, the roles)
        else:
            flash(error_text(err), "error")  # about the server itself (not powered, unreachable)
        return _server_page(server_id, form, err.status)
    flash(_("%(name)s is handed over: its host key is pinned.", name=x.name), "success")
    return redirect(url_for("colocation.server", server_id=server_id))


# ---- the monthly statement ----------------------------------------------------------------------------


@bp.get("/statement")
@login_required
def statement_choose():
    """The statement of the organization chosen (?org_id=), or of the user's only one."""
    orgs = request_orgs(actor())
    org_id = _int_arg("org_id") if request.args.get("org_id") else (orgs[0].id if len(orgs) == 1 else None)
    if org_id:
        month = request.args.get("month", "")[:7]
        return redirect(url_for("colocation.statement", org_id=org_id, **({"month": month} if month else {})))
    return _statement_page(None, None, orgs)


@bp.get("/statement/<int:org_id>")
@login_required
def statement(org_id: int):
    """A ministry's month (?month=YYYY-MM): its own; DC staff any."""
    return _statement_page(org_id, request.args.get("month", "")[:7] or None, request_orgs(actor()))


def _statement_page(org_id, month, orgs):
    x, error = None, ""
    if org_id:
        try:
            x = st.statement_get(actor(), org_id=org_id, month=month)
        except PanelError as err:
            if err.status == 404:
                raise
            error = error_text(err)
    return render_template(
        "colocation/statement.html",
        x=x,
        orgs=orgs,
        org_id=org_id,
        month=month or db_now().strftime("%Y-%m"),
        error=error,
    ), (422 if error else 200)
