"""Request pages: my requests and the approvals queue, a new request per kind, the detail page with
the approver's preview and the decision buttons, and the approval policies."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.errors import PanelError
from panel.models.requests import RequestStatus
from panel.models.tenants import Role
from panel.services import hosts as hosts_svc
from panel.services import policies as policies_svc
from panel.services import request_kinds
from panel.services import requests as requests_svc
from panel.web.common import actor, apply_error, error_text, handle_form, nav, page_args
from panel.web.forms.requests import (
    FORMS,
    MODE_LABELS,
    ActionForm,
    CommentForm,
    DecisionForm,
    PolicyForm,
    resource_label,
)

bp = Blueprint("requests", __name__, url_prefix="/requests")
S = RequestStatus


def is_approver(a) -> bool:
    return a.can_write and a.has_staff(Role.OPERATOR, Role.ADMIN)


nav("requests.index", _l("Requests"))
nav("requests.policies", _l("Approval policies"), visible=lambda a: a.is_staff)


@bp.get("/")
@login_required
def index():
    a = actor()
    view = request.args.get("view", "queue" if is_approver(a) else "all")
    status = "submitted" if view == "queue" else (request.args.get("status") or None)
    kind = request.args.get("kind") or None
    page, per_page = page_args()
    result = requests_svc.request_list(a, page=page, per_page=per_page, status=status, kind=kind, mine=view == "mine")
    return render_template(
        "requests/list.html",
        page=result,
        view=view,
        status=status or "",
        kind=kind or "",
        statuses=list(S),
        kinds=request_kinds.all(),
        is_approver=is_approver(a),
        can_create=bool(requests_svc.request_kinds_for(a)),
    )


@bp.get("/new")
@login_required
def choose():
    kinds = [k for k in requests_svc.request_kinds_for(actor()) if k.name in FORMS]
    return render_template("requests/choose.html", kinds=kinds)


def _choices(a, form) -> dict:
    choices = {"orgs": [SelectChoice(str(o.id), o.name) for o in requests_svc.request_orgs(a)]}
    if form.staff_only:
        choices["orgs"] = [SelectChoice("0", _("The data center"))]
        choices["hosts"] = [SelectChoice(str(h.id), h.name) for h in hosts_svc.host_list(a, per_page=200).items]
    return choices


@bp.route("/new/<kind>", methods=["GET", "POST"])
@login_required
def create(kind: str):
    a = actor()
    form_cls = FORMS.get(kind)
    if form_cls is None or kind not in {k.name for k in requests_svc.request_kinds_for(a)}:
        abort(404)
    form = form_cls()
    form.fill(_choices(a, form))
    done = handle_form(
        form, lambda: requests_svc.request_create(a, kind=kind, org_id=form.org_id.data or None, payload=form.payload())
    )
    if done.ok:
        flash(_("Request #%(id)s was submitted.", id=done.value.id), "success")
        return redirect(url_for("requests.detail", request_id=done.value.id))
    return render_template("requests/create.html", form=form, kind=request_kinds.get(kind)), done.status


def _detail(request_id: int, status: int = 200, comment_form=None, decision_form=None):
    a = actor()
    preview = requests_svc.request_preview(a, request_id)
    req = preview.request
    own = req.requester_id is not None and req.requester_id == a.user_id
    return render_template(
        "requests/detail.html",
        p=preview,
        req=req,
        kind_label=_kind_label(req.kind),
        resource_label=resource_label,
        mode_label=MODE_LABELS[preview.mode],
        may_decide=is_approver(a) and not own and req.status == S.SUBMITTED and a.user_id not in req.approvers,
        may_cancel=a.can_write and req.can_move_to(S.CANCELLED),
        may_retry=a.can_write and req.status == S.FAILED,
        may_submit=a.can_write and req.status == S.DRAFT,
        may_comment=a.can_write,
        comment_form=comment_form or CommentForm(formdata=None),
        decision=decision_form or DecisionForm(formdata=None),
        action=ActionForm(formdata=None),
    ), status


def _kind_label(name: str) -> str:
    try:
        return _(request_kinds.get(name).label)
    except PanelError:
        return name


@bp.get("/<int:request_id>")
@login_required
def detail(request_id: int):
    return _detail(request_id)


def _act(request_id: int, call, done_message: str, form=None):
    """Run one decision/action; a refused one re-renders the page with the reason and its status."""
    try:
        call()
    except PanelError as err:
        if err.status == 404:
            raise
        if form is not None and err.field and getattr(form, err.field, None) is not None:
            apply_error(form, err)
        else:
            flash(error_text(err), "error")
        return _detail(
            request_id,
            err.status,
            comment_form=form if isinstance(form, CommentForm) else None,
            decision_form=form if isinstance(form, DecisionForm) else None,
        )
    flash(done_message, "success")
    return redirect(url_for("requests.detail", request_id=request_id))


@bp.post("/<int:request_id>/approve")
@login_required
def approve(request_id: int):
    form = DecisionForm()
    form.validate_on_submit()
    return _act(
        request_id,
        lambda: requests_svc.request_approve(actor(), request_id, comment=form.comment.data or ""),
        _("Your approval was recorded."),
        form,
    )


@bp.post("/<int:request_id>/reject")
@login_required
def reject(request_id: int):
    form = DecisionForm()
    form.validate_on_submit()
    return _act(
        request_id,
        lambda: requests_svc.request_reject(actor(), request_id, comment=form.comment.data or ""),
        _("The request was rejected."),
        form,
    )


@bp.post("/<int:request_id>/cancel")
@login_required
def cancel(request_id: int):
    ActionForm().validate_on_submit()
    return _act(request_id, lambda: requests_svc.request_cancel(actor(), request_id), _("The request was cancelled."))


@bp.post("/<int:request_id>/retry")
@login_required
def retry(request_id: int):
    ActionForm().validate_on_submit()
    return _act(request_id, lambda: requests_svc.request_retry(actor(), request_id), _("The request is retried."))


@bp.post("/<int:request_id>/submit")
@login_required
def submit(request_id: int):
    ActionForm().validate_on_submit()
    return _act(request_id, lambda: requests_svc.request_submit(actor(), request_id), _("The request was submitted."))


@bp.post("/<int:request_id>/comments")
@login_required
def comment(request_id: int):
    form = CommentForm()
    if not form.validate_on_submit():
        requests_svc.request_get(actor(), request_id)  # 404 first for a request the actor cannot see
        return _detail(request_id, 422, comment_form=form)
    return _act(
        request_id,
        lambda: requests_svc.request_comment(actor(), request_id, body=form.body.data),
        _("Your comment was added."),
        form,
    )


@bp.route("/policies", methods=["GET", "POST"])
@login_required
def policies():
    a = actor()
    if not a.is_staff:
        abort(404)
    status = 200
    if request.method == "POST":
        form = PolicyForm()
        if form.validate_on_submit():
            try:
                policies_svc.policy_set(a, kind=request.form.get("kind", ""), mode=form.mode.data)
            except PanelError as err:
                flash(error_text(err), "error")
                status = err.status
            else:
                flash(_("The policy was saved."), "success")
                return redirect(url_for("requests.policies"))
        else:
            status = 422
    rows = policies_svc.policy_list(a)
    forms = {r.kind: PolicyForm(formdata=None, mode=r.mode.value) for r in rows}
    return render_template(
        "requests/policies.html",
        rows=rows,
        forms=forms,
        modes=MODE_LABELS,
        can_edit=a.has_staff(Role.ADMIN) and a.can_write,
    ), status
