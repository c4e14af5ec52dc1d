"""The audit log for auditors, admins and ministry admins: filters, pages, and chain verification."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import audit as audit_svc
from panel.web.common import actor, apply_error, nav, page_args
from panel.web.forms.audit import AuditFilterForm, VerifyForm

bp = Blueprint("audit", __name__, url_prefix="/audit")


def can_read(a) -> bool:
    return a.has_staff(Role.AUDITOR, Role.ADMIN) or any(Role.ORG_ADMIN in r for r in a.org_roles.values())


def can_verify(a) -> bool:
    return a.has_staff(Role.AUDITOR, Role.ADMIN)


nav("audit.index", _l("Audit log"), visible=can_read)


def _page(result=None, status: int = 200):
    a = actor()
    form = AuditFilterForm(request.args)
    flt = audit_svc.AuditFilter()
    if form.validate():
        flt = audit_svc.AuditFilter(
            action=form.action.data or "",
            actor=form.actor.data or "",
            object_type=form.object_type.data or "",
            org_id=form.org_id.data,
            since=form.since_dt(),
            until=form.until_dt(),
        )
    page, per_page = page_args()
    try:
        entries = audit_svc.audit_list(a, flt, page=page, per_page=per_page)
    except PanelError as err:
        if err.status == 403:
            raise
        apply_error(form, err)
        entries = audit_svc.audit_list(a, page=page, per_page=per_page)
        status = err.status
    return render_template(
        "audit/list.html", page=entries, form=form, verify_form=VerifyForm(), can_verify=can_verify(a), result=result
    ), status


@bp.get("/")
@login_required
def index():
    return _page()


@bp.post("/verify")
@login_required
def verify():
    VerifyForm().validate_on_submit()  # CSRFProtect has checked the token before the view
    result = audit_svc.audit_verify(actor())
    return _page(result)
