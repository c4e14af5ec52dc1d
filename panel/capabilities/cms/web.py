"""WordPress pages: the ministry's instances (paginated), one instance, the form that asks for one
on an existing site, and the page that shows the administrator's password once. Every action calls
the same service as the API and the CLI; a service error goes back beside its field (422)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import hardening, updates
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.forms import AppPasswordForm, ConfirmForm, InstanceForm, StagingForm
from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import requests as requests_svc
from panel.services.actor import Actor
from panel.web.auth import no_store
from panel.web.common import (
    actor,
    apply_error,
    error_text,
    handle_form,
    nav,
    page_args,
    refuse_unless_may_ask,
    status_text,
)
from panel.web.dashboard import SHOWN, Card, Contribution

bp = Blueprint("cms", __name__, url_prefix="/cms", template_folder="templates")
CREATE = "cms.instance_create"

nav("cms.index", _l("WordPress"))


@bp.get("/")
@login_required
def index():
    page, per_page = page_args()
    a = actor()
    result = cms_svc.instance_list(a, page=page, per_page=per_page)
    asked = requests_svc.request_list(a, page=1, per_page=SHOWN, status="submitted", kind=CREATE) if page == 1 else None
    return render_template("cms/index.html", page=result, asked=asked)


def _org_id(orgs, raw) -> int | None:
    """The ministry the form is for: the one asked for in the URL or form when the user may file
    for it, else the first one (a user of one ministry never chooses)."""
    ids = [o.id for o in orgs]
    try:
        wanted = int(raw) if raw is not None else None
    except ValueError:
        wanted = None
    return wanted if wanted in ids else (ids[0] if ids else None)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    refused = refuse_unless_may_ask(CREATE)
    if refused:
        return refused
    a = actor()
    orgs = requests_svc.request_orgs(a)
    org_id = _org_id(orgs, request.form.get("org_id") or request.args.get("org_id"))
    form = InstanceForm()
    form.org_id.choices = [SelectChoice(o.id, o.name) for o in orgs]
    form.org_id.data = org_id
    sites = cms_svc.site_choices(a, org_id) if org_id is not None else []
    form.site_id.choices = [SelectChoice(0, _("A new website")), *(SelectChoice(p.id, p.name) for p in sites)]
    form.plan.choices = [SelectChoice(n, n) for n in cms_svc.plan_choices(a)]
    if request.method == "GET" and request.args.get("site_id"):
        form.site_id.data = request.args.get("site_id", type=int)
    done = handle_form(
        form,
        lambda: cms_svc.instance_create(
            a,
            org_id=org_id,
            **_site_of(form),
            title=form.title.data,
            admin_user=form.admin_user.data,
            admin_email=form.admin_email.data,
            language=form.language.data,
        ),
        fields={"fqdn": "new_fqdn"},
    )
    if done.ok:
        issued = done.value
        page = render_template(
            "cms/issued.html",
            req=issued.request,
            password=issued.password,
            admin_user=issued.request.payload["admin_user"],
            fqdn=issued.request.payload["fqdn"],
        )
        return no_store(page), 201
    return render_template("cms/new.html", form=form, orgs=orgs, org_id=org_id), done.status


def _site_of(form: InstanceForm) -> dict:
    """An existing site, or (choice 0) a new one asked in the same request."""
    if form.site_id.data:
        return {"site_id": form.site_id.data}
    return {"new_site": {"fqdn": form.new_fqdn.data or "", "plan": form.plan.data or ""}}


@bp.get("/<int:instance_id>")
@login_required
def detail(instance_id: int):
    return _detail(instance_id)


def _detail(instance_id: int, status: int = 200, confirm: ConfirmForm | None = None, app_form=None, staging_form=None):
    a = actor()
    inst = cms_svc.instance_get(a, instance_id)
    apps = cms_svc.app_password_list(a, inst.id, per_page=50)
    page = render_template(
        "cms/detail.html",
        i=inst,
        is_staff=a.has_staff(Role.OPERATOR, Role.ADMIN),
        confirm=confirm or ConfirmForm(),
        apps=apps,
        app_form=app_form or AppPasswordForm(prefix="app"),
        hardening_items=hardening.ITEMS,
        staging=cms_svc.staging_of(a, inst.id) if inst.staging_of_id is None else None,
        staging_form=staging_form or StagingForm(prefix="staging"),
    )
    return page, status


@bp.post("/<int:instance_id>/staging")
@login_required
def staging_create(instance_id: int):
    """Ask for a staging copy on its own name (one approval); the page that follows shows its own
    administrator's password once (not cached)."""
    form = StagingForm(prefix="staging")
    if not form.validate_on_submit():
        return _detail(instance_id, 422, staging_form=form)
    try:
        issued = cms_svc.staging_create(actor(), instance_id=instance_id, fqdn=form.fqdn.data)
    except PanelError as err:
        apply_error(form, err)
        return _detail(instance_id, err.status, staging_form=form)
    page = render_template(
        "cms/issued.html",
        req=issued.request,
        password=issued.password,
        admin_user=issued.request.payload["admin_user"],
        fqdn=issued.request.payload["fqdn"],
    )
    return no_store(page), 201


def _ask(instance_id: int, call):
    """An instance action that files a request (confirm form, then `call`); the page says what
    became of it, or shows the instance again with the refusal."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _detail(instance_id, 422, form)
    try:
        req = call()
    except PanelError as err:
        apply_error(form, err)
        return _detail(instance_id, err.status, form)
    flash(_("Request #%(id)s is %(status)s.", id=req.id, status=status_text(req.status)), "success")
    return redirect(url_for("cms.detail", instance_id=instance_id))


@bp.post("/<int:instance_id>/push")
@login_required
def staging_push(instance_id: int):
    """Ask to push this staging copy to its live site (one approval)."""
    return _ask(instance_id, lambda: cms_svc.staging_push(actor(), instance_id=instance_id))


@bp.post("/<int:instance_id>/app-passwords")
@login_required
def app_password_issue(instance_id: int):
    """Ask for an app password; the page that follows shows it once (not cached)."""
    form = AppPasswordForm(prefix="app")
    if not form.validate_on_submit():
        return _detail(instance_id, 422, app_form=form)
    try:
        issued = cms_svc.app_password_issue(actor(), instance_id=instance_id, name=form.name.data, role=form.role.data)
    except PanelError as err:
        apply_error(form, err)
        return _detail(instance_id, err.status, app_form=form)
    page = render_template("cms/app_issued.html", req=issued.request, password=issued.password, instance_id=instance_id)
    return no_store(page), 201


@bp.post("/app-passwords/<int:app_password_id>/revoke")
@login_required
def app_password_revoke(app_password_id: int):
    form = ConfirmForm()
    back = request.form.get("instance_id", type=int)
    if not form.validate_on_submit():
        return _detail(back, 422, form) if back else ("", 422)
    try:
        req = cms_svc.app_password_revoke(actor(), app_password_id)
    except PanelError as err:
        flash(error_text(err), "error")
        return redirect(url_for("cms.detail", instance_id=back)) if back else ("", err.status)
    flash(_("Request #%(id)s is %(status)s.", id=req.id, status=status_text(req.status)), "success")
    return redirect(url_for("cms.detail", instance_id=req.payload["instance_id"]))


@bp.post("/<int:instance_id>/<any(suspend, unsuspend, delete):action>")
@login_required
def lifecycle(instance_id: int, action: str):
    """Suspend, unsuspend or delete: a request, as for websites (the page says what became of it)."""
    return _ask(instance_id, lambda: cms_svc.instance_request(actor(), action=action, instance_id=instance_id))


@bp.post("/<int:instance_id>/hardening-check")
@login_required
def hardening_check(instance_id: int):
    """Staff: check this instance's hardening now (a job; the page shows the result once it ran)."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _detail(instance_id, 422, form)
    try:
        jobs = hardening.hardening_check(actor(), instance_id)
    except PanelError as err:
        apply_error(form, err)
        return _detail(instance_id, err.status, form)
    flash(_("Hardening check: job #%(id)s.", id=jobs[0].id), "success")
    return redirect(url_for("cms.detail", instance_id=instance_id))


@bp.post("/<int:instance_id>/hardening-repair")
@login_required
def hardening_repair(instance_id: int):
    """Ask to put this instance's hardening back (approved at once by default), then check it again."""
    return _ask(instance_id, lambda: cms_svc.hardening_repair(actor(), instance_id=instance_id))


@bp.get("/catalogue")
@login_required
def catalogue():
    """The catalogue: staff see every item, a ministry the approved ones."""
    page, per_page = page_args()
    return render_template("cms/catalogue.html", page=cat.catalogue_list(actor(), page=page, per_page=per_page))


@bp.get("/catalogue/<int:item_id>")
@login_required
def catalogue_item(item_id: int):
    a = actor()
    return render_template("cms/catalogue_item.html", item=cat.catalogue_get(a, item_id), is_staff=a.is_staff)


@bp.get("/plans")
@login_required
def plans():
    page, per_page = page_args()
    return render_template("cms/plans.html", page=updates.plan_list(actor(), page=page, per_page=per_page))


@bp.get("/plans/<int:update_plan_id>")
@login_required
def plan(update_plan_id: int):
    page, per_page = page_args()
    req, rows = updates.plan_page(actor(), update_plan_id, page=page, per_page=per_page)
    return render_template("cms/plan.html", req=req, rows=rows)


def dashboard(a: Actor) -> Contribution:
    """A ministry's WordPress card and the shortcut to ask for one (staff see neither)."""
    if a.is_staff:
        return Contribution()
    page = cms_svc.instance_list(a, per_page=SHOWN)
    card = Card(
        _("WordPress"),
        page.total,
        url_for("cms.index"),
        [(i.fqdn, url_for("cms.detail", instance_id=i.id), i.status.value) for i in page.items],
        _("No WordPress sites yet."),
    )
    may = CREATE in {k.name for k in requests_svc.request_kinds_for(a)}
    return Contribution([card], [(_("Ask for WordPress"), url_for("cms.new"))] if may else [])
