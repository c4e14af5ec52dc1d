"""Quota pages: each ministry's budget (used / limit bars) and the history of its limit changes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from panel.errors import PanelError
from panel.models.tenants import OrgKind, Role
from panel.services import quotas as quotas_svc
from panel.services import requests as requests_svc
from panel.web.common import actor, nav, page_args
from panel.web.forms.quotas import QuotaSetForm
from panel.web.forms.requests import resource_label
from panel.web.requests import apply_error

bp = Blueprint("quotas", __name__, url_prefix="/quotas")

nav("quotas.index", _l("Quotas"))


@bp.get("/")
@login_required
def index():
    a = actor()
    orgs = [o for o in requests_svc.request_orgs(a) if o.kind == OrgKind.MINISTRY]
    if not a.is_staff and len(orgs) == 1:
        return redirect(url_for("quotas.detail", org_id=orgs[0].id))
    return render_template("quotas/index.html", orgs=orgs)


def _page(org_id: int, form=None, status: int = 200):
    a = actor()
    rows = quotas_svc.quota_usage(a, org_id)
    page, per_page = page_args()
    history = quotas_svc.quota_history(a, org_id, page=page, per_page=per_page)
    org = next((o for o in requests_svc.request_orgs(a) if o.id == org_id), None)
    if org is None:
        abort(404)
    return render_template(
        "quotas/detail.html",
        org=org,
        rows=rows,
        history=history,
        label=resource_label,
        form=form or QuotaSetForm(formdata=None),
        can_set=a.has_staff(Role.ADMIN) and a.can_write,
        can_ask=any(k.name == "quota.change" for k in requests_svc.request_kinds_for(a)),
    ), status


@bp.get("/<int:org_id>")
@login_required
def detail(org_id: int):
    return _page(org_id)


@bp.post("/<int:org_id>")
@login_required
def set_limit(org_id: int):
    form = QuotaSetForm()
    if not form.validate_on_submit():
        return _page(org_id, form, 422)
    try:
        quotas_svc.quota_set(
            actor(), org_id=org_id, resource=form.resource.data, limit=form.limit.data, reason=form.reason.data or ""
        )
    except PanelError as err:
        if err.status == 404:
            raise
        apply_error(form, err)
        return _page(org_id, form, err.status)
    flash(_("The limit was changed."), "success")
    return redirect(url_for("quotas.detail", org_id=org_id))
