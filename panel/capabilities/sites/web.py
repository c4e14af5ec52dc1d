"""Website pages: list, request a site, detail with plan/alias/suspend/delete requests, SFTP keys,
certificate upload, and operators' custom directives. Every action calls the same service as the
API and the CLI; a service error goes back to the form (422) or to a flash message."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.capabilities.sites import WEB_ROLE, certs, moves
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.forms import (
    AliasForm,
    CertUploadForm,
    ConfirmForm,
    CustomNginxForm,
    PlanCreateForm,
    PlanForm,
    SftpKeyForm,
    SiteCreateForm,
)
from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import hosts as hosts_svc
from panel.services import quotas as quotas_svc
from panel.services import requests as requests_svc
from panel.services.actor import Actor
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
from panel.web.forms.moves import MoveForm
from panel.web.moves import may_move, move_form

bp = Blueprint("sites", __name__, url_prefix="/sites", template_folder="templates")
ASKED_SHOWN = 5  # requested sites listed above the sites on page 1 (tests/perf allows the page this many more)

nav("sites.index", _l("Websites"))


def _plans(form) -> None:
    form.plan.choices = [
        SelectChoice(p.name, f"{p.name} ({p.disk_mb} MB, PHP {p.memory_mb} MB)") for p in svc.plan_list(actor())
    ]


@bp.get("/")
@login_required
def index():
    page, per_page = page_args()
    a = actor()
    result = svc.site_list(a, page=page, per_page=per_page)
    # Asked for but not approved yet: no site row exists until approval, yet the site is on its way.
    # A bounded section on page 1 (one page query and its count), the rest one link away in requests.
    asked, asked_more = [], 0
    if page == 1:
        waiting = requests_svc.request_list(
            a, page=1, per_page=ASKED_SHOWN, status="submitted", kind="sites.site_create"
        )
        names = [(r, s.get("fqdn", "")) for r in waiting.items for s in r.payload.get("sites", [r.payload])]
        asked = names[:ASKED_SHOWN]
        asked_more = len(names) - len(asked) + waiting.total - len(waiting.items)
    return render_template(
        "sites/list.html", page=result, asked=asked, asked_more=asked_more, ca_offered=svc.site_ca_offered()
    )


@bp.route("/plans", methods=["GET", "POST"])
@login_required
def plans():
    """Hosting plans: everyone may read them; data-center admins create them (svc.plan_create)."""
    a = actor()
    form = PlanCreateForm()
    done = handle_form(
        form,
        lambda: svc.plan_create(
            a,
            name=form.name.data,
            disk_mb=form.disk_mb.data,
            memory_mb=form.memory_mb.data,
            max_children=form.max_children.data,
            upload_mb=form.upload_mb.data,
            max_execution_s=form.max_execution_s.data,
            os=form.os.data,
            managed_runtime=form.managed_runtime.data,
        ),
    )
    if done.ok:
        flash(_("The plan %(name)s was created.", name=done.value.name), "success")
        return redirect(url_for("sites.plans"))
    return render_template(
        "sites/plans.html", plans=svc.plan_list(a, active_only=False), form=form, can_create=svc.plan_admin(a)
    ), done.status


@bp.get("/ca.pem")
def ca_pem():
    """No login: browsers and curl fetch it before anything else (it is a public certificate)."""
    return Response(
        svc.site_ca_pem(),
        mimetype="application/x-pem-file",
        headers={"Content-Disposition": "attachment; filename=govhost-sites-ca.pem"},
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    refused = refuse_unless_may_ask("sites.site_create")
    if refused:
        return refused
    a = actor()
    form = SiteCreateForm()
    _plans(form)
    form.org_id.choices = [SelectChoice(0, "-")] + [SelectChoice(o, str(o)) for o in sorted(a.org_roles)]
    done = handle_form(
        form, lambda: svc.site_request(a, action="create", org_id=form.org_id.data or None, payload=_payload(form))
    )
    if done.ok:
        flash(_("Request #%(id)s is %(status)s.", id=done.value.id, status=status_text(done.value.status)), "success")
        return redirect(url_for("sites.index"))
    return render_template("sites/new.html", form=form), done.status


def _payload(form: SiteCreateForm) -> dict:
    payload = {
        "fqdn": form.fqdn.data,
        "aliases": svc.split_names(form.aliases.data),
        "plan": form.plan.data,
        "php_version": form.php_version.data,
        "tls": form.tls.data,
    }
    if form.host_id.data:
        payload["host_id"] = form.host_id.data
        payload["exceed_capacity"] = bool(form.exceed_capacity.data)
    return payload


def _forms() -> dict:
    plan = PlanForm(prefix="plan")
    _plans(plan)
    return {
        "plan_form": plan,
        "alias_form": AliasForm(prefix="alias"),
        "key_form": SftpKeyForm(prefix="key"),
        "cert_form": CertUploadForm(prefix="cert"),
        "nginx_form": CustomNginxForm(prefix="nginx"),
        "confirm": ConfirmForm(),
    }


def _move_form(a: Actor, form: MoveForm | None = None) -> MoveForm:
    """The active web hosts to choose from (the service checks room, OS and PHP again)."""
    return move_form(a, WEB_ROLE, _("The web host with the most room"), form)


def _detail(site_id: int, status: int = 200, **forms):
    a = actor()
    site = svc.site_get(a, site_id)
    ctx = {**_forms(), **forms, "budget": disk_budget(a, site.org_id)}
    if may_move(a):
        ctx["move_form"] = _move_form(a, forms.get("move_form"))
        ctx["moves"] = moves.site_moves(a, site.id)[:5]
        ctx["site_host"] = hosts_svc.host_get(a, site.host_id) if site.host_id else None
    staff = a.has_staff(Role.OPERATOR, Role.ADMIN)
    return render_template("sites/detail.html", site=site, is_staff=staff, **ctx), status


def disk_budget(a, org_id: int):
    """The ministry's disk_mb budget (allocated / limit) that the site's plan draws on."""
    return next(r for r in quotas_svc.quota_usage(a, org_id) if r.resource == "disk_mb")


@bp.get("/<int:site_id>")
@login_required
def detail(site_id: int):
    return _detail(site_id)


def _submit(site_id: int, form_name: str, form, call):
    """Validate the form, call the service; errors re-render the page with the form's messages."""
    if not form.validate_on_submit():
        return _detail(site_id, 422, **{form_name: form})
    try:
        message = call()
    except PanelError as err:
        apply_error(form, err)
        return _detail(site_id, err.status, **{form_name: form})
    flash(message, "success")
    return redirect(url_for("sites.detail", site_id=site_id))


def _asked(req) -> str:
    return _("Request #%(id)s is %(status)s.", id=req.id, status=status_text(req.status))


def _ask(site_id: int, form_name: str, form, action: str, payload: dict | None = None, secrets: dict | None = None):
    """A form that asks for `action` on the site (a request); see _submit."""
    return _submit(
        site_id,
        form_name,
        form,
        lambda: _asked(svc.site_request(actor(), action=action, site_id=site_id, payload=payload, secrets=secrets)),
    )


@bp.post("/<int:site_id>/plan")
@login_required
def change_plan(site_id: int):
    form = PlanForm(prefix="plan")
    _plans(form)
    return _ask(site_id, "plan_form", form, "change_plan", {"plan": form.plan.data})


@bp.post("/<int:site_id>/aliases")
@login_required
def alias_add(site_id: int):
    form = AliasForm(prefix="alias")
    return _ask(site_id, "alias_form", form, "alias_add", {"alias": form.alias.data})


@bp.post("/<int:site_id>/aliases/<path:alias>/remove")
@login_required
def alias_remove(site_id: int, alias: str):
    form = ConfirmForm()
    return _ask(site_id, "confirm", form, "alias_remove", {"alias": alias})


@bp.post("/<int:site_id>/<any(suspend, unsuspend, delete):action>")
@login_required
def lifecycle(site_id: int, action: str):
    form = ConfirmForm()
    return _ask(site_id, "confirm", form, action)


@bp.post("/<int:site_id>/certificate")
@login_required
def cert_upload(site_id: int):
    form = CertUploadForm(prefix="cert")
    payload = {"certificate": form.certificate.data or "", "chain": form.chain.data or ""}
    secrets = {"private_key": form.private_key.data or ""}
    if form.pfx.data:  # a PFX file instead of the PEM fields (the service says if both are given)
        secrets |= {"pfx": form.pfx.data.read(certs.MAX_PFX + 1), "pfx_password": form.pfx_password.data or ""}
    return _ask(site_id, "cert_form", form, "cert_upload", payload, secrets)


@bp.post("/<int:site_id>/move")
@login_required
def move(site_id: int):
    a = actor()
    if not may_move(a):
        moves.site_move(a, site_id=site_id)  # refuses: not found (another ministry's) or forbidden
    form = _move_form(a, MoveForm(prefix="move"))
    return _submit(
        site_id,
        "move_form",
        form,
        lambda: _(
            "Move %(id)s started: job #%(job)s copies the site to its new host.",
            id=(m := moves.site_move(a, site_id=site_id, host_id=form.host_id.data or None)).id,
            job=m.job_id,
        ),
    )


@bp.post("/<int:site_id>/sftp-keys")
@login_required
def sftp_key_add(site_id: int):
    form = SftpKeyForm(prefix="key")
    return _submit(
        site_id,
        "key_form",
        form,
        lambda: _(
            "Key %(fp)s added.",
            fp=svc.sftp_key_add(actor(), site_id=site_id, public_key=form.public_key.data).fingerprint,
        ),
    )


@bp.post("/<int:site_id>/sftp-keys/<int:key_id>/remove")
@login_required
def sftp_key_remove(site_id: int, key_id: int):
    form = ConfirmForm()
    svc.site_get(actor(), site_id)
    return _submit(
        site_id,
        "confirm",
        form,
        lambda: _("Key %(fp)s removed.", fp=svc.sftp_key_remove(actor(), key_id=key_id).fingerprint),
    )


@bp.post("/<int:site_id>/custom-nginx")
@login_required
def custom_nginx(site_id: int):
    form = CustomNginxForm(prefix="nginx")
    return _submit(
        site_id,
        "nginx_form",
        form,
        lambda: _(
            "Job #%(id)s applies the directives.",
            id=svc.site_custom_nginx_set(actor(), site_id=site_id, custom_nginx=form.custom_nginx.data or "")[1].id,
        ),
    )


__all__ = ["bp", "error_text"]


def dashboard(a: Actor) -> Contribution:
    """A ministry's websites card and the shortcut to ask for one (staff see neither)."""
    if a.is_staff:
        return Contribution()
    sites = svc.site_list(a, per_page=SHOWN)
    card = Card(
        _("Websites"),
        sites.total,
        url_for("sites.index"),
        [(s.fqdn, url_for("sites.detail", site_id=s.id), s.status.value) for s in sites.items],
        _("No websites yet."),
    )
    shortcuts = (
        [(_("Request a website"), url_for("sites.create"))] if a.can_write and not a.has_staff(Role.AUDITOR) else []
    )
    return Contribution([card], shortcuts)
