"""Database pages: the ministry's databases and users, the forms that file requests, the page that
shows a new password once, and the DB servers page for data-center staff."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases.forms import (
    ConfirmForm,
    DatabaseForm,
    GrantForm,
    LinkForm,
    PasswordForm,
    RemoteForm,
    ServerForm,
    UserForm,
)
from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import requests as requests_svc
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

bp = Blueprint("databases", __name__, url_prefix="/databases", template_folder="templates")

nav("databases.index", _l("Databases"))


def _filed(req):
    flash(_("Request #%(id)s filed (%(status)s).", id=req.id, status=status_text(req.status)), "success")
    return redirect(url_for("requests.detail", request_id=req.id))


def _issued(issued, user_name: str):
    """The request filed and, when govhost made the password, the one page that ever shows it."""
    if issued.password is None:
        return _filed(issued.request)
    page = render_template("databases/issued.html", req=issued.request, password=issued.password, user=user_name)
    return no_store(page), 201


@bp.get("/")
@login_required
def index():
    page, per_page = page_args()
    result = db_svc.database_list(actor(), page=page, per_page=per_page)
    counts = db_svc.user_counts(actor(), [d.id for d in result.items])
    return render_template("databases/index.html", page=result, counts=counts)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    refused = refuse_unless_may_ask("databases.database_create")
    if refused:
        return refused
    form = DatabaseForm()
    orgs = requests_svc.request_orgs(actor())
    form.org_id.choices = [SelectChoice(o.id, o.name) for o in orgs]
    prefixes = {o.id: db_svc.name_prefix(actor(), o.id) for o in orgs}
    done = handle_form(
        form,
        lambda: db_svc.database_create(
            actor(),
            org_id=form.org_id.data,
            engine=form.engine.data,
            name=form.name.data,
            size_mb=form.size_mb.data,
            conn_limit=form.conn_limit.data,
        ),
    )
    if done.ok:
        return _filed(done.value)
    return render_template("databases/new.html", form=form, prefixes=prefixes), done.status


def _detail(dbrow, user_form=None, status=200, link_form=None, remote_form=None):
    page, per_page = page_args()
    users = db_svc.db_user_list(actor(), database_id=dbrow.id, page=page, per_page=per_page)
    links = db_svc.database_links(actor(), dbrow.id)
    link_form = link_form or LinkForm()
    linked = {ln.workload_id for ln in links if ln.kind == "site"}
    link_form.workload_id.choices = [
        SelectChoice(w.id, w.name) for w in db_svc.workload_choices(actor(), dbrow.id) if w.id not in linked
    ]
    return (
        render_template(
            "databases/database.html",
            d=dbrow,
            users=users,
            conn=db_svc.database_connection(actor(), dbrow),
            user_form=user_form or UserForm(),
            confirm=ConfirmForm(),
            links=links,
            link_form=link_form,
            remote=db_svc.db_remote_list(actor(), dbrow.id),
            storage=db_svc.ministry_storage(actor(), dbrow.org_id),
            remote_form=remote_form or RemoteForm(),
        ),
        status,
    )


@bp.get("/<int:database_id>")
@login_required
def detail(database_id: int):
    return _detail(db_svc.database_get(actor(), database_id))


@bp.post("/<int:database_id>/users")
@login_required
def user_new(database_id: int):
    dbrow = db_svc.database_get(actor(), database_id)
    form = UserForm()
    if form.validate_on_submit():
        try:
            issued = db_svc.db_user_create(
                actor(),
                database_id=dbrow.id,
                name=form.name.data,
                profile=form.profile.data,
                password=form.password.data or None,
            )
            return _issued(issued, issued.request.payload.get("name", ""))
        except PanelError as err:
            apply_error(form, err)
            status = err.status
    else:
        status = 422
    form.password.data = ""  # never sent back
    page, code = _detail(dbrow, form, status)
    return no_store(page), code


@bp.post("/<int:database_id>/links")
@login_required
def link_new(database_id: int):
    dbrow = db_svc.database_get(actor(), database_id)
    form = LinkForm()
    form.workload_id.choices = [SelectChoice(w.id, w.name) for w in db_svc.workload_choices(actor(), dbrow.id)]
    if form.validate_on_submit():
        try:
            return _filed(db_svc.database_link_set(actor(), database_id=dbrow.id, workload_id=form.workload_id.data))
        except PanelError as err:
            apply_error(form, err)
            status = err.status
    else:
        status = 422
    return _detail(dbrow, status=status, link_form=form)


@bp.post("/<int:database_id>/links/<int:site_id>/remove")
@login_required
def link_remove(database_id: int, site_id: int):
    dbrow = db_svc.database_get(actor(), database_id)
    if ConfirmForm().validate_on_submit():
        try:
            return _filed(db_svc.database_link_set(actor(), database_id=dbrow.id, workload_id=site_id, linked=False))
        except PanelError as err:
            flash(error_text(err), "error")
    return redirect(url_for("databases.detail", database_id=dbrow.id))


@bp.post("/<int:database_id>/remote")
@login_required
def remote_new(database_id: int):
    dbrow = db_svc.database_get(actor(), database_id)
    form = RemoteForm()
    if form.validate_on_submit():
        try:
            return _filed(
                db_svc.db_remote_request(
                    actor(),
                    database_id=dbrow.id,
                    cidr=form.cidr.data,
                    reason=form.reason.data,
                    expires_at=form.expires_at.data,
                )
            )
        except PanelError as err:
            apply_error(form, err)
            status = err.status
    else:
        status = 422
    return _detail(dbrow, status=status, remote_form=form)


@bp.post("/<int:database_id>/remote/<int:access_id>/revoke")
@login_required
def remote_revoke(database_id: int, access_id: int):
    dbrow = db_svc.database_get(actor(), database_id)
    if ConfirmForm().validate_on_submit():
        try:
            return _filed(db_svc.db_remote_revoke(actor(), database_id=dbrow.id, access_id=access_id))
        except PanelError as err:
            if err.status == 404:
                raise
            flash(error_text(err), "error")
    return redirect(url_for("databases.detail", database_id=dbrow.id))


@bp.post("/<int:database_id>/delete")
@login_required
def delete(database_id: int):
    dbrow = db_svc.database_get(actor(), database_id)
    if ConfirmForm().validate_on_submit():
        try:
            return _filed(db_svc.database_delete(actor(), database_id=dbrow.id))
        except PanelError as err:
            flash(error_text(err), "error")
    return redirect(url_for("databases.detail", database_id=dbrow.id))


def _user_page(user, password=None, grant=None, status=200):
    dbs = db_svc.database_list(actor(), per_page=200).items
    grant = grant or GrantForm()
    grant.database_id.choices = [
        SelectChoice(d.id, d.name) for d in dbs if d.host_id == user.host_id and d.engine == user.engine
    ]
    page = render_template(
        "databases/user.html", u=user, password=password or PasswordForm(), grant=grant, confirm=ConfirmForm()
    )
    return no_store(page), status


@bp.get("/users/<int:db_user_id>")
@login_required
def user(db_user_id: int):
    return _user_page(db_svc.db_user_get(actor(), db_user_id))


@bp.post("/users/<int:db_user_id>/password")
@login_required
def user_password(db_user_id: int):
    u = db_svc.db_user_get(actor(), db_user_id)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            return _issued(
                db_svc.db_user_password_reset(actor(), user_id=u.id, password=form.password.data or None), u.name
            )
        except PanelError as err:
            apply_error(form, err)
            status = err.status
    else:
        status = 422
    form.password.data = form.confirm.data = ""
    return _user_page(u, password=form, status=status)


@bp.post("/users/<int:db_user_id>/grant")
@login_required
def user_grant(db_user_id: int):
    u = db_svc.db_user_get(actor(), db_user_id)
    form = GrantForm()
    form.database_id.choices = [SelectChoice(d.id, d.name) for d in db_svc.database_list(actor(), per_page=200).items]
    if form.validate_on_submit():
        try:
            return _filed(
                db_svc.db_grant_set(actor(), user_id=u.id, database_id=form.database_id.data, profile=form.profile.data)
            )
        except PanelError as err:
            apply_error(form, err)
            return _user_page(u, grant=form, status=err.status)
    return _user_page(u, grant=form, status=422)


@bp.post("/users/<int:db_user_id>/delete")
@login_required
def user_delete(db_user_id: int):
    u = db_svc.db_user_get(actor(), db_user_id)
    if ConfirmForm().validate_on_submit():
        try:
            return _filed(db_svc.db_user_delete(actor(), user_id=u.id))
        except PanelError as err:
            flash(error_text(err), "error")
    return redirect(url_for("databases.user", db_user_id=u.id))


# ---- the web console: a click files a console session; its page signs on once the login is made --

CONSOLE_TICKETS = "db_console_tickets"  # session key: console id -> its ticket, until the sign-on form
CONSOLE_KEPT = 5  # tickets a browser holds at once (older ones are dropped; they expire anyway)


@bp.post("/users/<int:db_user_id>/console")
@login_required
def user_console(db_user_id: int):
    u = db_svc.db_user_get(actor(), db_user_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("databases.user", db_user_id=u.id))
    try:
        opened = db_svc.db_console_open(actor(), user_id=u.id)
    except PanelError as err:
        flash(error_text(err), "error")
        return redirect(url_for("databases.user", db_user_id=u.id))
    # The ticket waits in this browser's signed session (never in a URL or the panel's database)
    # until the console page hands it to the sign-on form.
    kept = dict(list((session.get(CONSOLE_TICKETS) or {}).items())[-(CONSOLE_KEPT - 1) :])
    kept[str(opened.id)] = opened.ticket
    session[CONSOLE_TICKETS] = kept
    return redirect(url_for("databases.console", console_id=opened.id))


@bp.get("/consoles/<int:console_id>")
@login_required
def console(console_id: int):
    """Waits for the console's job (the page reloads itself), then offers the sign-on form once:
    the ticket leaves the session with it."""
    c = db_svc.db_console_get(actor(), console_id)
    ticket, url = None, None
    if c.status.value == "open":
        kept = dict(session.get(CONSOLE_TICKETS) or {})
        ticket = kept.pop(str(c.id), None)
        session[CONSOLE_TICKETS] = kept
        url = db_svc.db_console_url(actor(), c)
    page = render_template("databases/console.html", c=c, ticket=ticket, url=url)
    return no_store(page)


# ---- data-center staff: the DB servers -------------------------------------------------------------


@bp.get("/servers")
@login_required
def servers():
    page, per_page = page_args()
    return render_template(
        "databases/servers.html", page=db_svc.db_hosts(actor(), page=page, per_page=per_page), form=ServerForm()
    )


@bp.post("/servers/<int:host_id>/setup")
@login_required
def server_setup(host_id: int):
    form = ServerForm()
    if not form.validate_on_submit():
        return redirect(url_for("databases.servers"))
    try:
        job = db_svc.db_server_setup(actor(), host_id=host_id, engines=[form.engine.data])
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("databases.servers"))
    flash(_("Job #%(id)s sets up the DB server.", id=job.id), "success")
    return redirect(url_for("jobs.detail", job_id=job.id))


# ---- data-center staff: drift between the DB servers and the catalog ------------------------------


@bp.get("/drift")
@login_required
def drift():
    a = actor()
    return render_template(
        "databases/drift.html",
        drifts=db_svc.db_drift_list(a),
        form=ConfirmForm(),
        may_change=a.has_staff(Role.ADMIN, Role.OPERATOR),
    )


@bp.post("/drift/check")
@login_required
def drift_check():
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("databases.drift"))
    try:
        jobs = db_svc.db_drift_check(actor())
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("databases.drift"))
    flash(_("%(num)s check job(s) submitted; the page shows what they find.", num=len(jobs)), "success")
    return redirect(url_for("databases.drift"))


@bp.post("/drift/<int:host_id>/repair")
@login_required
def drift_repair(host_id: int):
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("databases.drift"))
    try:
        job = db_svc.db_drift_repair(actor(), host_id=host_id)
    except PanelError as err:
        if err.status == 404:
            raise
        flash(error_text(err), "error")
        return redirect(url_for("databases.drift"))
    flash(_("Job #%(id)s repairs the DB server.", id=job.id), "success")
    return redirect(url_for("jobs.detail", job_id=job.id))
