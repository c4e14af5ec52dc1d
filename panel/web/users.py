"""User pages for data-center admins and ministry org_admins: list, create, roles, resets."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from wtforms.fields.choices import SelectChoice

from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import users as users_svc
from panel.web.auth import no_store
from panel.web.common import actor, apply_error, handle_form, nav, page_args
from panel.web.forms.users import ConfirmForm, RoleForm, SearchForm, UserCreateForm, role_choices

bp = Blueprint("users", __name__, url_prefix="/users")


def can_read(a) -> bool:
    return a.is_staff or any(Role.ORG_ADMIN in r for r in a.org_roles.values())


def can_manage(a) -> bool:
    return a.can_write and (a.has_staff(Role.ADMIN) or (not a.is_staff and can_read(a)))


nav("users.index", _l("Users"), visible=can_read)


def _fill_choices(form) -> None:
    a = actor()
    form.org_id.choices = [SelectChoice(str(o.id), o.name) for o in users_svc.manageable_orgs(a)]
    form.role.choices = role_choices(a.has_staff(Role.ADMIN))


@bp.get("/")
@login_required
def index():
    search = SearchForm(request.args)
    q = search.q.data if search.validate() else ""
    page, per_page = page_args()
    result = users_svc.user_list(actor(), page, per_page, q=q or "")
    return render_template("users/list.html", page=result, search=search, can_manage=can_manage(actor()))


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    form = UserCreateForm()
    _fill_choices(form)
    done = handle_form(
        form,
        lambda: users_svc.user_create(
            actor(),
            username=form.username.data.strip(),
            email=form.email.data,
            full_name=form.full_name.data or "",
            org_id=form.org_id.data,
            role=form.role.data,
        ),
    )
    if done.ok:
        user, one_time = done.value
        return no_store(render_template("users/secret.html", user=user, one_time=one_time, created=True))
    return render_template("users/create.html", form=form), done.status


def _detail(user_id: int, role_form=None, status=200):
    a = actor()
    user = users_svc.user_get(a, user_id)
    if role_form is None:
        role_form = RoleForm(formdata=None)
        _fill_choices(role_form)
    return render_template(
        "users/detail.html", user=user, role_form=role_form, confirm=ConfirmForm(), can_manage=can_manage(a)
    ), status


@bp.get("/<int:user_id>")
@login_required
def detail(user_id: int):
    return _detail(user_id)


@bp.post("/<int:user_id>/roles")
@login_required
def set_role(user_id: int):
    form = RoleForm()
    _fill_choices(form)
    if not form.validate_on_submit():
        users_svc.user_get(actor(), user_id)  # 404 first for a user the actor cannot see
        return _detail(user_id, form, 422)
    try:
        users_svc.user_set_role(actor(), user_id, org_id=form.org_id.data, role=form.role.data)
    except PanelError as err:
        if err.status == 404 and err.key == "user.not_found":
            raise
        apply_error(form, err)
        return _detail(user_id, form, err.status)
    flash(_("The role was saved."), "success")
    return redirect(url_for("users.detail", user_id=user_id))


def _confirmed() -> None:
    # The CSRF check itself is done by CSRFProtect before the view; this only reads the form.
    ConfirmForm().validate_on_submit()


@bp.post("/<int:user_id>/reset-password")
@login_required
def reset_password(user_id: int):
    _confirmed()
    user, one_time = users_svc.user_reset_password(actor(), user_id)
    return no_store(render_template("users/secret.html", user=user, one_time=one_time, created=False))


@bp.post("/<int:user_id>/reset-2fa")
@login_required
def reset_2fa(user_id: int):
    _confirmed()
    users_svc.user_reset_2fa(actor(), user_id)
    flash(_("Two-factor login was reset; the user sets it up again at the next login."), "success")
    return redirect(url_for("users.detail", user_id=user_id))


@bp.post("/<int:user_id>/end-sessions")
@login_required
def end_sessions(user_id: int):
    _confirmed()
    users_svc.user_sessions_end(actor(), user_id)
    if user_id == actor().user_id:
        return redirect(url_for("auth.login"))
    flash(_("The user was logged out everywhere."), "success")
    return redirect(url_for("users.detail", user_id=user_id))


@bp.post("/<int:user_id>/deactivate")
@login_required
def deactivate(user_id: int):
    _confirmed()
    users_svc.user_deactivate(actor(), user_id)
    flash(_("The account was deactivated."), "success")
    return redirect(url_for("users.detail", user_id=user_id))
