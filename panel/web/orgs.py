"""Organization pages: list and search, detail with members, create, rename, deactivate."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.errors import Forbidden, PanelError
from panel.models.tenants import OrgKind, Role
from panel.services import tenants
from panel.web.common import actor, apply_error, handle_form, nav, page_args
from panel.web.forms.orgs import KIND_LABELS, ConfirmForm, OrgCreateForm, OrgEditForm, OrgSearchForm

bp = Blueprint("orgs", __name__, url_prefix="/orgs")

nav("orgs.index", _l("Organizations"))


def can_create(a) -> bool:
    return a.can_write and a.has_staff(Role.ADMIN)


def can_edit(a, org) -> bool:
    if not a.can_write:
        return False
    return a.has_staff(Role.ADMIN) or bool({Role.ORG_ADMIN} & (a.roles_in(org.id) | a.roles_in(org.parent_id or 0)))


@bp.get("/")
@login_required
def index():
    search = OrgSearchForm(request.args)
    q = search.q.data if search.validate() else ""
    page, per_page = page_args()
    try:
        result = tenants.org_list(actor(), page, per_page, q=q or "")
    except PanelError as err:
        apply_error(search, err)
        result = tenants.org_list(actor(), page, per_page)
    return render_template(
        "orgs/list.html", page=result, search=search, kinds=KIND_LABELS, can_create=can_create(actor())
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    a = actor()
    if not can_create(a):
        raise Forbidden("auth.forbidden", "This needs one of the roles: {roles}.", roles="admin")
    form = OrgCreateForm()
    form.parent_id.choices = [SelectChoice("", "-")] + [SelectChoice(str(o.id), o.name) for o in tenants.ministries(a)]
    done = handle_form(
        form,
        lambda: tenants.org_create(
            a,
            slug=form.slug.data,
            name=form.name.data,
            name_km=form.name_km.data or "",
            kind=form.kind.data,
            parent_id=form.parent_id.data,
        ),
    )
    if done.ok:
        flash(_("The organization was created."), "success")
        return redirect(url_for("orgs.detail", org_id=done.value.id))
    return render_template("orgs/create.html", form=form), done.status


def _detail(org_id: int, form=None, status: int = 200):
    a = actor()
    org = tenants.org_get(a, org_id)
    page, per_page = page_args()
    members = tenants.org_members(a, org.id, page, per_page)
    if form is None:
        form = OrgEditForm(formdata=None, obj=org)
    return render_template(
        "orgs/detail.html",
        org=org,
        members=members,
        form=form,
        confirm=ConfirmForm(),
        kinds=KIND_LABELS,
        roles_in=tenants.roles_in,
        can_edit=can_edit(a, org),
        can_deactivate=can_create(a) and org.is_active and org.kind != OrgKind.DATACENTER,
    ), status


@bp.get("/<int:org_id>")
@login_required
def detail(org_id: int):
    return _detail(org_id)


@bp.post("/<int:org_id>")
@login_required
def update(org_id: int):
    tenants.org_get(actor(), org_id)  # another ministry's organization is a 404 before any form check
    form = OrgEditForm()
    if not form.validate_on_submit():
        return _detail(org_id, form, 422)
    try:
        tenants.org_update(actor(), id=org_id, name=form.name.data, name_km=form.name_km.data or "")
    except PanelError as err:
        if err.status == 404:
            raise
        apply_error(form, err)
        return _detail(org_id, form, err.status)
    flash(_("The organization was saved."), "success")
    return redirect(url_for("orgs.detail", org_id=org_id))


@bp.post("/<int:org_id>/deactivate")
@login_required
def deactivate(org_id: int):
    ConfirmForm().validate_on_submit()  # CSRFProtect has checked the token before the view
    tenants.org_deactivate(actor(), id=org_id)
    flash(_("The organization was deactivated."), "success")
    return redirect(url_for("orgs.detail", org_id=org_id))
