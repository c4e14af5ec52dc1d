"""SOC pages: the feed's destinations with health and backlog, recent events (DC staff)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.capabilities.soc import containment, hostguard
from panel.capabilities.soc import service as svc
from panel.capabilities.soc.forms import ActionForm, BlockForm, ContainForm, DestinationForm, ProtectForm
from panel.capabilities.soc.models import SocPendingAction
from panel.errors import PanelError
from panel.models.tenants import Role
from panel.web.common import actor, apply_error, error_text, nav, page_args

bp = Blueprint("soc", __name__, url_prefix="/soc", template_folder="templates")


def can_read(a) -> bool:
    return a.has_staff(*svc.READERS)


nav("soc.index", _l("Security feed"), visible=can_read)


@bp.route("/", methods=["GET", "POST"])
@login_required
def index():
    a = actor()
    form = DestinationForm()
    status = 200
    if form.validate_on_submit():
        data = svc.DestinationIn(
            form.name.data or "",
            form.transport.data,
            form.target.data or "",
            form.ca_file.data or "",
            form.client_cert.data or "",
            form.client_key.data or "",
            form.server_name.data or "",
            form.auth_header.data or "",
            form.batch_size.data,
            bool(form.enabled.data),
            form.start.data,
        )
        try:
            dest = svc.destination_create(a, data=data)
        except PanelError as err:
            apply_error(form, err)
            status = err.status
        else:
            flash(_("Destination %(name)s added.", name=dest.name), "success")
            return redirect(url_for("soc.index"))
    elif form.is_submitted():
        status = 422
    return _page(a, form, _contain_form(), status)


def _contain_form() -> ContainForm:
    form = ContainForm(prefix="contain")
    form.action.choices = [
        SelectChoice("user_lock", _("Lock a user")),
        SelectChoice("token_revoke", _("Revoke an API token")),
        *(SelectChoice(k, _("Suspend: %(kind)s", kind=k)) for k in containment.suspend_kinds()),
    ]
    return form


def _page(a, form, contain, status: int, block: BlockForm | None = None, protect: ProtectForm | None = None):
    head, items = svc.destination_health(a)
    return render_template(
        "soc/index.html",
        head=head,
        destinations=items,
        form=form,
        action=ActionForm(),
        can_edit=a.has_staff(Role.ADMIN),
        can_contain=a.has_staff(Role.SOC, Role.ADMIN),
        contain=contain,
        pending=containment.pending_list(a) if a.has_staff(Role.SOC, Role.ADMIN) else [],
        four_eyes=sorted(containment.four_eyes()),
        current_user_id=a.user_id,
        block=block or BlockForm(prefix="block", formdata=None),
        protect=protect or ProtectForm(prefix="protect", formdata=None),
        can_protect=a.has_staff(Role.OPERATOR, Role.ADMIN),
        bans=hostguard.bans_current(a),
        events=svc.events_recent(a, limit=page_args()[1]),
    ), status


@bp.post("/destinations/<int:dest_id>/delete")
@login_required
def delete(dest_id: int):
    ActionForm().validate_on_submit()  # CSRFProtect has checked the token before the view
    try:
        dest = svc.destination_delete(actor(), dest_id)
    except PanelError as err:
        if err.status == 403:
            raise
        flash(_("The destination could not be removed."), "error")
    else:
        flash(_("Destination %(name)s removed.", name=dest.name), "success")
    return redirect(url_for("soc.index"))


@bp.post("/contain")
@login_required
def contain():
    """A containment action from the Security feed page (SOC staff, DC admins)."""
    a = actor()
    form = _contain_form()
    status = 422
    if form.validate_on_submit():
        what, oid, reason = form.action.data, form.object_id.data, form.reason.data or ""
        try:
            if what == "user_lock":
                done = containment.contain_user_lock(a, user_id=oid, reason=reason)
            elif what == "token_revoke":
                done = containment.contain_token_revoke(a, token_id=oid, reason=reason)
            else:
                done = containment.contain_suspend_object(
                    a, kind=what, org_id=form.org_id.data, object_id=oid, reason=reason
                )
        except PanelError as err:
            if err.status == 403:
                raise
            apply_error(form, err)
            status = err.status
        else:
            if not _held(done):
                flash(_("Done; the ministry's administrators are told why."), "success")
            return redirect(url_for("soc.index"))
    return _page(a, DestinationForm(), form, status)


@bp.post("/block")
@login_required
def block():
    """Block (or unblock) an address on every host protected by the fail2ban role (SOC staff, DC admins)."""
    a = actor()
    form = BlockForm(prefix="block")
    status = 422
    if form.validate_on_submit():
        try:
            done = containment.contain_address_block(
                a,
                address=form.address.data or "",
                reason=form.reason.data or "",
                minutes=form.minutes.data or 0,
                unblock=bool(form.unblock.data),
            )
        except PanelError as err:
            if err.status == 403:
                raise
            apply_error(form, err)
            status = err.status
        else:
            if not _held(done):
                flash(_("Job %(id)s sent to the protected hosts.", id=done.id), "success")
            return redirect(url_for("soc.index"))
    return _page(a, DestinationForm(formdata=None), _contain_form(), status, block=form)


@bp.post("/protect")
@login_required
def protect():
    """Install the fail2ban jails and the block table on hosts (DC operators and admins)."""
    a = actor()
    form = ProtectForm(prefix="protect")
    status = 422
    if form.validate_on_submit():
        ids = [p.strip() for p in (form.host_ids.data or "").split(",") if p.strip()]
        ignore = [p.strip() for p in (form.ignoreip.data or "").split(",") if p.strip()]
        try:
            host_ids = [int(p) for p in ids]
        except ValueError:
            form.host_ids.errors = [_("Give host ids (whole numbers) separated by commas.")]
        else:
            try:
                job = hostguard.hosts_protect(a, host_ids=host_ids, ignoreip=ignore)
            except PanelError as err:
                if err.status == 403:
                    raise
                apply_error(form, err)
                status = err.status
            else:
                flash(_("Job %(id)s installs fail2ban on the hosts.", id=job.id), "success")
                return redirect(url_for("soc.index"))
    return _page(a, DestinationForm(formdata=None), _contain_form(), status, protect=form)


def _held(done) -> bool:
    """Four-eyes: tell the user the action waits for a second approver (True), else nothing (False)."""
    if not isinstance(done, SocPendingAction):
        return False
    flash(_("Held for a second approver: another SOC user or data-center administrator must approve it."), "info")
    return True


@bp.post("/pending/<int:pending_id>/approve")
@login_required
def pending_approve(pending_id: int):
    """Four-eyes: a second SOC user or DC admin approves a held action; it runs now."""
    ActionForm().validate_on_submit()  # CSRFProtect has checked the token before the view
    try:
        held = containment.contain_approve(actor(), pending_id)
    except PanelError as err:
        if err.status in (401, 403) and err.key != "soc.four_eyes_self":
            raise
        flash(error_text(err), "error")
    else:
        flash(_("Approved: %(outcome)s.", outcome=held.outcome), "success")
    return redirect(url_for("soc.index"))


@bp.post("/pending/<int:pending_id>/reject")
@login_required
def pending_reject(pending_id: int):
    ActionForm().validate_on_submit()
    try:
        containment.contain_reject(actor(), pending_id)
    except PanelError as err:
        if err.status in (401, 403):
            raise
        flash(_("The action could not be rejected."), "error")
    else:
        flash(_("Rejected: nothing was done."), "success")
    return redirect(url_for("soc.index"))
