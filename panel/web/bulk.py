"""Bulk provisioning pages: upload files, the plan preview (every row error, budget impact,
placement), submit, progress, the per-row report, templates, the one-time passwords download."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import bulk as bulk_svc
from panel.services import requests as requests_svc
from panel.web.common import actor, apply_error, error_text, nav, page_args
from panel.web.forms.bulk import BulkPlanForm
from panel.web.forms.requests import resource_label

bp = Blueprint("bulk", __name__, url_prefix="/bulk")


def _may_plan(a) -> bool:
    return a.can_write and any(k.name == "bulk.apply" for k in requests_svc.request_kinds_for(a))


# The words of actions and row states, translated where the pages show them with _(word).
WORDS = (
    _l("create"),
    _l("update"),
    _l("delete"),
    _l("noop"),
    _l("conflict"),
    _l("invalid"),
    _l("planned"),
    _l("running"),
    _l("done"),
    _l("failed"),
    _l("skipped"),
)

nav("bulk.index", _l("Bulk provisioning"), visible=_may_plan)


def _form(a, form=None) -> BulkPlanForm:
    form = form or BulkPlanForm(formdata=None)
    form.org_id.choices = [SelectChoice(str(o.id), o.name) for o in requests_svc.request_orgs(a)]
    return form


def _index(form=None, status: int = 200):
    a = actor()
    page, per_page = page_args()
    plans = bulk_svc.bulk_list(a, page=page, per_page=per_page)
    return render_template(
        "bulk/index.html", form=_form(a, form), plans=plans, kinds=bulk_svc.row_kinds(), may_plan=_may_plan(a)
    ), status


@bp.get("/")
@login_required
def index():
    return _index()


@bp.post("/")
@login_required
def plan():
    a = actor()
    form = _form(a, BulkPlanForm())
    uploads = [f for f in (form.files.data or []) if getattr(f, "filename", "")]
    if not form.validate_on_submit():
        return _index(form, 422)
    if not uploads:
        form.files.errors = [_("Give at least one file.")]
        return _index(form, 422)
    try:
        result = bulk_svc.bulk_plan(
            a, org_id=int(form.org_id.data), files=[(f.filename, f.read(bulk_svc.MAX_UPLOAD + 1)) for f in uploads]
        )
    except PanelError as err:
        if err.field and err.field not in ("org_id",):
            form.files.errors = [error_text(err)]
        else:
            apply_error(form, err)
        return _index(form, err.status)
    return redirect(url_for("bulk.detail", plan_id=result.plan.id))


@bp.get("/<int:plan_id>")
@login_required
def detail(plan_id: int):
    a = actor()
    view = bulk_svc.bulk_show(a, plan_id)
    return render_template(
        "bulk/detail.html",
        view=view,
        label=resource_label,
        mine=view.plan.created_by_id == a.user_id,
        is_approver=a.can_write and a.has_staff(Role.OPERATOR, Role.ADMIN),
        can_write=a.can_write,
    )


@bp.post("/<int:plan_id>/submit")
@login_required
def submit(plan_id: int):
    try:
        req = bulk_svc.bulk_submit(actor(), plan_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("bulk.detail", plan_id=plan_id))
    flash(_("Submitted as request #%(id)s.", id=req.id), "success")
    return redirect(url_for("bulk.detail", plan_id=plan_id))


@bp.post("/<int:plan_id>/resume")
@login_required
def resume(plan_id: int):
    try:
        bulk_svc.bulk_resume(actor(), plan_id=plan_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("bulk.detail", plan_id=plan_id))
    flash(_("The failed batches run again."), "success")
    return redirect(url_for("bulk.detail", plan_id=plan_id))


@bp.get("/<int:plan_id>/report.<any(csv, json):fmt>")
@login_required
def report(plan_id: int, fmt: str):
    rows = bulk_svc.bulk_report(actor(), plan_id)
    if fmt == "json":
        body, mimetype = json.dumps(rows, ensure_ascii=False, indent=1), "application/json"
    else:
        body, mimetype = bulk_svc.report_csv(rows), "text/csv"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="bulk-{plan_id}-report.{fmt}"'},
    )


@bp.post("/<int:plan_id>/passwords")
@login_required
def passwords(plan_id: int):
    """The generated passwords as a CSV download, once; never shown on a page."""
    try:
        _plan, taken = bulk_svc.bulk_passwords_take(actor(), plan_id=plan_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("bulk.detail", plan_id=plan_id))
    body = "address,password\n" + "".join(f"{k},{v}\n" for k, v in sorted(taken.items()))
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="bulk-{plan_id}-passwords.csv"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/templates/<kind>.csv")
@login_required
def template(kind: str):
    body = bulk_svc.bulk_template(kind[:32])
    return Response(
        body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{kind[:32]}.csv"'}
    )


@bp.get("/schema.json")
@login_required
def schema():
    return Response(json.dumps(bulk_svc.bulk_json_schema(), indent=1), mimetype="application/schema+json")
