"""Mail pages: domains (with live DNS status), mailboxes with usage against quota, aliases, and
the forms that file requests. Every change is a request; passwords go only into its secrets."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.forms import AliasForm, ConfirmForm, DomainForm, MailboxesForm, PasswordForm, QuotaForm
from panel.capabilities.mail.rules import BATCH_COLUMNS, MAX_BATCH, REQUIRED_ROLES
from panel.errors import PanelError
from panel.services import requests as requests_svc
from panel.services.tabular import read_table_lines, write_table
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

bp = Blueprint("mail", __name__, url_prefix="/mail", template_folder="templates")

nav("mail.index", _l("Mail"))


def _filed(req) -> Response:
    flash(_("Request #%(id)s filed (%(status)s).", id=req.id, status=status_text(req.status)), "success")
    return redirect(url_for("requests.detail", request_id=req.id))


def _submit(form, call, template: str, strip=None, on_error=None, **ctx):
    """Validate, call the service, or re-render with the error beside its field (422);
    `strip(form)` removes what must not be sent back (passwords) before re-rendering."""
    done = handle_form(form, call, on_error=on_error)
    if done.ok:
        return _filed(done.value)
    if strip is not None and request.method == "POST":
        strip(form)
    return render_template(template, form=form, **ctx), done.status


@bp.get("/")
@login_required
def index():
    page, per_page = page_args()
    result = mail_svc.mail_domain_list(actor(), page=page, per_page=per_page)
    counts = mail_svc.mailbox_counts(actor(), [d.id for d in result.items])
    return render_template("mail/domains.html", page=result, counts=counts)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def domain_new():
    refused = refuse_unless_may_ask("mail.domain_create")
    if refused:
        return refused
    form = DomainForm()
    form.org_id.choices = [SelectChoice(o.id, o.name) for o in requests_svc.request_orgs(actor())]
    return _submit(
        form,
        lambda: mail_svc.mail_domain_create(
            actor(),
            org_id=form.org_id.data,
            name=form.name.data,
            contact=form.contact.data,
            external_forwarding=form.external_forwarding.data,
            on_suspend=form.on_suspend.data,
            default_quota_mb=form.default_quota_mb.data,
        ),
        "mail/domain_new.html",
    )


@bp.get("/domains/<int:domain_id>")
@login_required
def domain(domain_id: int):
    dom = mail_svc.mail_domain_get(actor(), domain_id)
    page, per_page = page_args()
    boxes = mail_svc.mailbox_list(actor(), domain_id=dom.id, page=page, per_page=per_page)
    aliases = mail_svc.alias_list(actor(), domain_id=dom.id, per_page=200)
    return render_template(
        "mail/domain.html",
        dom=dom,
        boxes=boxes,
        aliases=aliases,
        confirm=ConfirmForm(),
        host=mail_svc.mail_host_name(actor(), dom),
        required_aliases=REQUIRED_ROLES,
    )


@bp.post("/domains/<int:domain_id>/dns-check")
@login_required
def dns_check(domain_id: int):
    if ConfirmForm().validate_on_submit():
        try:
            mail_svc.mail_domain_dns_check(actor(), domain_id=domain_id)
        except PanelError as err:
            flash(error_text(err), "error")
    return redirect(url_for("mail.domain", domain_id=domain_id))


def _parse_entries(text: str) -> tuple[list[dict], list[int]]:
    """The batch's rows and the line of the text box each came from (an error names its line)."""
    return read_table_lines(text, BATCH_COLUMNS, field="entries", max_rows=MAX_BATCH)


@bp.route("/domains/<int:domain_id>/mailboxes/new", methods=["GET", "POST"])
@login_required
def mailboxes_new(domain_id: int):
    dom = mail_svc.mail_domain_get(actor(), domain_id)
    refused = refuse_unless_may_ask("mail.mailbox_create")
    if refused:
        return refused
    form = MailboxesForm()
    lines: list[int] = []

    def create():
        entries, found = _parse_entries(form.entries.data)  # a malformed table names its line itself
        lines[:] = found
        return mail_svc.mailbox_create(actor(), domain_id=dom.id, quota_mb=form.quota_mb.data, mailboxes=entries)

    def on_line(err: PanelError) -> None:
        """An error about one entry is shown on the text box with the line it came from."""
        n = err.params.get("entry")
        if isinstance(n, int) and 1 <= n <= len(lines):
            line = _("Line %(line)s: %(message)s", line=format_decimal(lines[n - 1]), message=error_text(err))
            form.entries.errors = [*list(form.entries.errors or []), line]
        else:
            apply_error(form, err)

    result = _submit(
        form,
        create,
        "mail/mailboxes_new.html",
        strip=_without_passwords,
        on_error=on_line,
        dom=dom,
    )
    if isinstance(result, tuple):  # the form again: without the passwords, and never cached
        return no_store(result[0]), result[1]
    return result


def _without_passwords(form) -> None:
    try:
        rows, _lines = _parse_entries(form.entries.data)
    except PanelError:  # unreadable: nothing of it can be shown back safely
        form.entries.data = ""
        return
    form.entries.data = write_table([{**r, "password": ""} for r in rows], BATCH_COLUMNS)


@bp.route("/domains/<int:domain_id>/aliases/new", methods=["GET", "POST"])
@login_required
def alias_new(domain_id: int):
    dom = mail_svc.mail_domain_get(actor(), domain_id)
    refused = refuse_unless_may_ask("mail.alias_create")
    if refused:
        return refused
    form = AliasForm()
    return _submit(
        form,
        lambda: mail_svc.alias_create(
            actor(), domain_id=dom.id, source=form.source.data, destinations=form.destinations.data
        ),
        "mail/alias_new.html",
        dom=dom,
    )


@bp.post("/aliases/<int:alias_id>/delete")
@login_required
def alias_delete(alias_id: int):
    alias = mail_svc.alias_get(actor(), alias_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("mail.domain", domain_id=alias.domain_id))
    try:
        return _filed(mail_svc.alias_delete(actor(), alias_id=alias.id))
    except PanelError as err:
        flash(error_text(err), "error")
        return redirect(url_for("mail.domain", domain_id=alias.domain_id))


@bp.route("/mailboxes/<int:mailbox_id>", methods=["GET"])
@login_required
def mailbox(mailbox_id: int):
    box = mail_svc.mailbox_get(actor(), mailbox_id)
    return render_template(
        "mail/mailbox.html",
        box=box,
        quota=QuotaForm(quota_mb=box.quota_mb),
        password=PasswordForm(),
        confirm=ConfirmForm(),
    )


@bp.post("/mailboxes/<int:mailbox_id>/quota")
@login_required
def mailbox_quota(mailbox_id: int):
    box = mail_svc.mailbox_get(actor(), mailbox_id)
    form = QuotaForm()
    return _submit(
        form,
        lambda: mail_svc.mailbox_quota_set(actor(), mailbox_id=box.id, quota_mb=form.quota_mb.data),
        "mail/mailbox.html",
        box=box,
        quota=form,
        password=PasswordForm(),
        confirm=ConfirmForm(),
    )


@bp.post("/mailboxes/<int:mailbox_id>/password")
@login_required
def mailbox_password(mailbox_id: int):
    box = mail_svc.mailbox_get(actor(), mailbox_id)
    form = PasswordForm(prefix="")
    return _submit(
        form,
        lambda: mail_svc.mailbox_password_set(actor(), mailbox_id=box.id, password=form.password.data),
        "mail/mailbox.html",
        box=box,
        quota=QuotaForm(quota_mb=box.quota_mb),
        password=form,
        confirm=ConfirmForm(),
    )


ACTIONS = {
    "suspend": mail_svc.mailbox_suspend,
    "unsuspend": mail_svc.mailbox_unsuspend,
    "delete": mail_svc.mailbox_delete,
}


@bp.post("/mailboxes/<int:mailbox_id>/<any(suspend, unsuspend, delete):action>")
@login_required
def mailbox_action(mailbox_id: int, action: str):
    box = mail_svc.mailbox_get(actor(), mailbox_id)
    if ConfirmForm().validate_on_submit():
        try:
            return _filed(ACTIONS[action](actor(), mailbox_id=box.id))
        except PanelError as err:
            flash(error_text(err), "error")
    return redirect(url_for("mail.mailbox", mailbox_id=box.id))


@bp.get("/ca.pem")
@login_required
def ca_pem():
    return Response(
        mail_svc.mail_ca_pem(actor()),
        mimetype="application/x-pem-file",
        headers={"Content-Disposition": "attachment; filename=govhost-mail-ca.pem"},
    )


# ---- data-center staff: the mail servers ----------------------------------------------------------


@bp.get("/servers")
@login_required
def servers():
    page, per_page = page_args()
    return render_template(
        "mail/servers.html", page=mail_svc.mail_hosts(actor(), page=page, per_page=per_page), form=ConfirmForm()
    )


@bp.post("/servers/<int:host_id>/setup")
@login_required
def server_setup(host_id: int):
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("mail.servers"))
    try:
        job = mail_svc.mail_server_setup(actor(), host_id=host_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("mail.servers"))
    flash(_("Job #%(id)s sets up the mail server.", id=job.id), "success")
    return redirect(url_for("jobs.detail", job_id=job.id))
