"""Host inventory pages for data-center staff: list, register (shows the pinned key), detail with
probe, state/roles/capacity, rekey and delete. Ministries get 403/404 from the service."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import drain as drain_svc
from panel.services import hosts as hosts_svc
from panel.web.common import actor, apply_error, error_text, handle_form, nav, page_args
from panel.web.forms.hosts import ConfirmForm, HostEditForm, HostFilterForm, HostRegisterForm

bp = Blueprint("hosts", __name__, url_prefix="/hosts")

nav("hosts.index", _l("Hosts"), visible=lambda a: a.is_staff)


def _can_operate(a) -> bool:
    return a.can_write and a.has_staff(Role.OPERATOR, Role.ADMIN)


@bp.get("/")
@login_required
def index():
    flt = HostFilterForm(request.args)
    ok = flt.validate()
    page, per_page = page_args()
    result = hosts_svc.host_list(
        actor(),
        page=page,
        per_page=per_page,
        role=(flt.role.data or None) if ok else None,
        state=(flt.state.data or None) if ok else None,
    )
    return render_template("hosts/list.html", page=result, flt=flt, can_operate=_can_operate(actor()))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def register():
    form = HostRegisterForm.with_capacities()
    done = handle_form(
        form,
        lambda: hosts_svc.host_register(
            actor(),
            name=form.name.data.strip(),
            address=form.address.data.strip(),
            port=form.port.data,
            os=form.os.data,
            roles=form.roles.data,
            ssh_user=form.ssh_user.data.strip(),
            capacities=form.capacities(),
            fingerprint=form.fingerprint.data or None,
            transport=form.transport.data,
            winrm=form.winrm(),
        ),
    )
    if done.ok:
        host = done.value
        if host.transport.value == "winrm":
            flash(_("%(name)s is registered; it is reached over WinRM/HTTPS.", name=host.name), "success")
        else:
            flash(
                _("%(name)s is registered; its SSH host key %(fp)s is pinned.", name=host.name, fp=host.fingerprint),
                "success",
            )
        return redirect(url_for("hosts.detail", host_id=host.id))
    return render_template("hosts/register.html", form=form), done.status


def _detail(host_id: int, edit=None, status=200, drain_report=None):
    a = actor()
    host = hosts_svc.host_get(a, host_id)
    if edit is None:
        edit = HostEditForm.with_capacities(
            formdata=None,
            obj=host,
            roles=sorted(host.roles),
            **{f"capacity_{c.resource}": hosts_svc.capacity(host, c.resource) for c in hosts_svc.capacities()},
        )
        edit.state.data = host.state.value
    return render_template(
        "hosts/detail.html",
        host=host,
        capacities=[(_(c.label), hosts_svc.capacity(host, c.resource)) for c in hosts_svc.capacities()],
        edit=edit,
        confirm=ConfirmForm(),
        can_operate=_can_operate(a),
        is_admin=a.has_staff(Role.ADMIN) and a.can_write,
        drain_report=drain_report,
    ), status


@bp.get("/<int:host_id>")
@login_required
def detail(host_id: int):
    return _detail(host_id)


@bp.post("/<int:host_id>/edit")
@login_required
def edit(host_id: int):
    form = HostEditForm.with_capacities(defaults=False)
    if not form.validate_on_submit():
        return _detail(host_id, form, 422)
    try:
        hosts_svc.host_update(
            actor(),
            host_id,
            state=form.state.data,
            roles=form.roles.data,
            capacities=form.capacities(),
        )
    except PanelError as err:
        if err.status in (403, 404):
            raise
        apply_error(form, err)
        return _detail(host_id, form, err.status)
    flash(_("The host was saved."), "success")
    return redirect(url_for("hosts.detail", host_id=host_id))


@bp.post("/<int:host_id>/probe")
@login_required
def probe(host_id: int):
    ConfirmForm().validate_on_submit()  # CSRF itself is checked by CSRFProtect before the view
    result = hosts_svc.host_probe(actor(), host_id)
    if result.ok:
        flash(_("The host answered with its pinned key; facts updated."), "success")
    elif result.reachable and result.key_matches is False:
        flash(
            _(
                "REFUSED: the host presented a different SSH key (%(fp)s). It is marked down and the event is "
                "recorded; an admin must verify the host and rekey it.",
                fp=result.presented_fingerprint,
            ),
            "error",
        )
    else:
        flash(_("The probe failed: %(reason)s", reason=result.error), "error")
    return redirect(url_for("hosts.detail", host_id=host_id))


@bp.post("/<int:host_id>/rekey")
@login_required
def rekey(host_id: int):
    ConfirmForm().validate_on_submit()
    try:
        expected = (request.form.get("fingerprint") or "").strip() or None
        host = hosts_svc.host_rekey(actor(), host_id, fingerprint=expected)
    except PanelError as err:
        if err.status in (403, 404):
            raise
        flash(error_text(err), "error")
    else:
        flash(_("The new key %(fp)s is pinned.", fp=host.fingerprint), "success")
    return redirect(url_for("hosts.detail", host_id=host_id))


@bp.post("/<int:host_id>/delete")
@login_required
def delete(host_id: int):
    ConfirmForm().validate_on_submit()
    try:
        host = hosts_svc.host_delete(actor(), host_id)
    except PanelError as err:
        if err.status in (403, 404):
            raise
        flash(error_text(err), "error")
        return redirect(url_for("hosts.detail", host_id=host_id))
    flash(_("%(name)s was removed from the inventory.", name=host.name), "success")
    return redirect(url_for("hosts.index"))


@bp.post("/<int:host_id>/drain")
@login_required
def drain(host_id: int):
    """Plan (dry run) or drain: the report shows on the host's page, each object with its new host
    or why it stays (the same service as `govhost hosts drain` and the API)."""
    ConfirmForm().validate_on_submit()
    dry_run = request.form.get("dry_run") == "1"
    try:
        report = drain_svc.host_drain(actor(), host_id, dry_run=dry_run)
    except PanelError as err:
        if err.status in (403, 404):
            raise
        flash(error_text(err), "error")
        return redirect(url_for("hosts.detail", host_id=host_id))
    if not dry_run:
        flash(_("%(host)s is draining: %(count)s moves started.", host=report.host, count=report.moving), "success")
    return _detail(host_id, drain_report=report)
