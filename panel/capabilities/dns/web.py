"""DNS pages: zones, a zone's records with plan/apply, domain claims. Thin: form -> service -> page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.capabilities.dns import claims
from panel.capabilities.dns import service as svc
from panel.capabilities.dns.forms import (
    ActionForm,
    ApplyForm,
    ClaimForm,
    RecordForm,
    ServerSetupForm,
    SuffixForm,
    ZoneRequestForm,
)
from panel.capabilities.dns.models import ZoneStatus
from panel.errors import PanelError
from panel.services.actor import has_org_role
from panel.services.requests import request_orgs
from panel.web.common import actor, apply_error, error_text, nav, page_args

bp = Blueprint("dns", __name__, url_prefix="/dns", template_folder="templates")

nav("dns.zones", _l("DNS"))


def _orgs(form) -> None:
    form.org_id.choices = [SelectChoice(o.id, o.name) for o in request_orgs(actor())]


@bp.get("/")
@login_required
def zones():
    page, per_page = page_args()
    form = ZoneRequestForm()
    _orgs(form)
    return render_template("dns/zones.html", page=svc.zone_list(actor(), page=page, per_page=per_page), form=form)


@bp.post("/")
@login_required
def zone_request():
    form = ZoneRequestForm()
    _orgs(form)
    if form.validate_on_submit():
        try:
            req = svc.zone_request(actor(), org_id=form.org_id.data, name=form.name.data)
        except PanelError as err:
            apply_error(form, err)
        else:
            flash(_("Request #%(id)s for the zone was sent.", id=req.id), "success")
            return redirect(url_for("dns.zones"))
    page, per_page = page_args()
    return render_template("dns/zones.html", page=svc.zone_list(actor(), page=page, per_page=per_page), form=form), 422


def _zone_page(zone_id: int, form=None, outcome=None, status: int = 200):
    zone = svc.zone_get(actor(), zone_id)
    page, per_page = page_args()
    records = svc.record_list(actor(), zone_id=zone.id, page=page, per_page=per_page)
    return render_template(
        "dns/zone.html",
        zone=zone,
        page=records,
        form=form or RecordForm(),
        apply_form=ApplyForm(),
        action=ActionForm(),
        outcome=outcome,
        # forms only for those the service would let change the zone (not auditors, not read-only)
        may_edit=zone.status != ZoneStatus.DELETING and has_org_role(actor(), zone.org_id),
    ), status


@bp.get("/zones/<int:zone_id>")
@login_required
def zone(zone_id: int):
    return _zone_page(zone_id)


@bp.post("/zones/<int:zone_id>/records")
@login_required
def record_create(zone_id: int):
    form = RecordForm()
    if form.validate_on_submit():
        try:
            svc.record_create(
                actor(),
                zone_id=zone_id,
                name=form.name.data,
                rtype=form.rtype.data,
                data=form.data.data,
                ttl=form.ttl.data,
            )
        except PanelError as err:
            apply_error(form, err)
            return _zone_page(zone_id, form, status=err.status)
        flash(_("The record was added; apply to publish it."), "success")
        return redirect(url_for("dns.zone", zone_id=zone_id))
    return _zone_page(zone_id, form, status=422)


@bp.post("/records/<int:record_id>/delete")
@login_required
def record_delete(record_id: int):
    if ActionForm().validate_on_submit():
        rec = svc.record_delete(actor(), record_id=record_id)
        flash(_("The record will be removed at the next apply."), "success")
        return redirect(url_for("dns.zone", zone_id=rec.zone_id))
    return redirect(url_for("dns.zones"))


@bp.get("/zones/<int:zone_id>/plan")
@login_required
def plan(zone_id: int):
    try:
        outcome = svc.dns_plan(actor(), zone_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return _zone_page(zone_id, status=err.status)
    return _zone_page(zone_id, outcome=outcome)


@bp.post("/zones/<int:zone_id>/apply")
@login_required
def apply(zone_id: int):
    form = ApplyForm()
    if not form.validate_on_submit():
        return _zone_page(zone_id, status=422)
    try:
        job = svc.dns_apply(actor(), zone_id, force=form.force.data)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return _zone_page(zone_id, status=err.status)
    flash(_("Job #%(id)s sends the zone's changes to the DNS server.", id=job.id), "success")
    return redirect(url_for("jobs.detail", job_id=job.id))


@bp.route("/claims", methods=["GET", "POST"])
@login_required
def claim_list():
    form = ClaimForm()
    _orgs(form)
    status = 200
    if form.validate_on_submit():
        try:
            claims.claim_create(actor(), org_id=form.org_id.data, domain=form.domain.data)
        except PanelError as err:
            apply_error(form, err)
            status = err.status
        else:
            return redirect(url_for("dns.claim_list"))
    page, per_page = page_args()
    result = claims.claim_list(actor(), page=page, per_page=per_page)
    return render_template(
        "dns/claims.html",
        page=result,
        form=form,
        action=ActionForm(),
        challenge=claims.challenge_name,
        zones_here=claims.claim_zones_here([c.domain for c in result.items if not c.verified_at]),
        parent=lambda d: d.split(".", 1)[1] if "." in d else d,
    ), status


@bp.post("/claims/<int:claim_id>/verify")
@login_required
def claim_verify(claim_id: int):
    if ActionForm().validate_on_submit():
        try:
            c = claims.claim_verify(actor(), claim_id)
            flash(_("%(domain)s is verified.", domain=c.domain), "success")
        except PanelError as err:
            if err.status == 404:
                raise
            flash(error_text(err), "error")
    return redirect(url_for("dns.claim_list"))


# ---- data-center admin: claimable suffixes and the DNS server ------------------------------------


@bp.route("/suffixes", methods=["GET", "POST"])
@login_required
def suffixes():
    """Who may claim names under which suffix: everyone sees their own; admins change them."""
    a = actor()
    form = SuffixForm()
    orgs = request_orgs(a)
    form.org_id.choices = [SelectChoice(o.id, o.name) for o in orgs]
    status = 200
    if form.validate_on_submit():
        wanted = (form.suffixes.data or "").split()
        try:
            rows = claims.suffix_set(a, org_id=form.org_id.data, suffixes=wanted)
        except PanelError as err:
            apply_error(form, err)
            status = err.status
        else:
            flash(
                _("The suffixes are saved: %(suffixes)s.", suffixes=", ".join(r.suffix for r in rows) or "-"), "success"
            )
            return redirect(url_for("dns.suffixes"))
    elif form.is_submitted():
        status = 422
    page, per_page = page_args()
    return render_template(
        "dns/suffixes.html",
        page=claims.suffix_page(a, page=page, per_page=per_page),
        form=form,
        can_edit=claims.suffix_admin(a),
    ), status


@bp.route("/server", methods=["GET", "POST"])
@login_required
def server():
    """The primary BIND server: what the settings name, and its set-up job (data-center admins)."""
    a = actor()
    form = ServerSetupForm()
    hosts = svc.dns_hosts(a)
    form.host_id.choices = [SelectChoice(h.id, f"{h.name} ({h.address})") for h in hosts]
    primary = svc.dns_server_info(a)
    if request.method == "GET" and primary.host_id:
        form.host_id.data = primary.host_id
    status = 200
    if form.validate_on_submit():
        try:
            job = svc.dns_server_setup(
                a, host_id=form.host_id.data, secondaries=tuple((form.secondaries.data or "").split())
            )
        except PanelError as err:
            apply_error(form, err)
            status = err.status
        else:
            flash(_("Job #%(id)s sets up the DNS server.", id=job.id), "success")
            return redirect(url_for("jobs.detail", job_id=job.id))
    elif form.is_submitted():
        status = 422
    return render_template("dns/server.html", form=form, hosts=hosts, info=primary), status
