"""Login, second factor, TOTP enrolment, logout, language switch and the user's own profile.

A password login starts a Flask-Login session with session["mfa_ok"] False when a second factor is
due; `common.mfa_gate` then keeps the user on the second-factor or enrolment page until it is done.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from panel.errors import PanelError
from panel.services import auth as auth_svc
from panel.services import users as users_svc
from panel.web.common import SessionUser, actor, apply_error, client_addr, handle_form
from panel.web.forms.auth import CodeForm, EnrolForm, LanguageForm, LoginForm, PasswordChangeForm, TotpDisableForm

bp = Blueprint("auth", __name__)

# Reachable while a password change is due (the MFA gate adds its own rule on top).
PASSWORD_GATE_OPEN = {"auth.password", "auth.logout", "auth.set_language", "auth.twofa", "auth.enrol", "static"}


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (open redirect) or a scheme-relative URL."""
    target = (target or "").strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target or any(ord(c) < 32 for c in target):
        return ""
    return target.rstrip("?") or ""


def no_store(page):
    """Pages that show a secret once must not be kept by the browser or a proxy."""
    resp = make_response(page)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.before_app_request
def password_gate():
    if request.path.startswith("/api/") or request.endpoint in PASSWORD_GATE_OPEN or request.endpoint is None:
        return None
    if current_user.is_authenticated and current_user.user.must_change_password:
        return redirect(url_for("auth.password"))
    return None


def _start_session(user, mfa_ok: bool) -> None:
    keep = {k: session[k] for k in ("locale",) if k in session}
    session.clear()  # nothing from before the login survives in the new session
    session.update(keep)
    login_user(SessionUser(user))
    session.permanent = True  # expires after web.session_minutes (PERMANENT_SESSION_LIFETIME)
    session["mfa_ok"] = mfa_ok


def _after_login():
    if current_user.user.must_change_password:
        return redirect(url_for("auth.password"))
    return redirect(session.pop("next", "") or url_for("dashboard.index"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and session.get("mfa_ok"):
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    done = handle_form(
        form,
        lambda: auth_svc.login_password(
            form.username.data, form.password.data, client_addr=client_addr(), request_id=g.get("request_id", "")
        ),
    )
    if done.ok:
        user = done.value
        needs = auth_svc.needs_second_factor(user)
        target = safe_next(form.next.data)
        _start_session(user, mfa_ok=not needs)
        session["next"] = target
        if user.totp_enabled:
            return redirect(url_for("auth.twofa"))
        if needs:
            return redirect(url_for("auth.enrol"))
        return _after_login()
    if request.method != "POST":
        form.next.data = safe_next(request.args.get("next"))
    form.password.data = ""
    return no_store(render_template("auth/login.html", form=form)), done.status


@bp.route("/twofa", methods=["GET", "POST"])
def twofa():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if session.get("mfa_ok"):
        return redirect(url_for("dashboard.index"))
    if not current_user.user.totp_enabled:
        return redirect(url_for("auth.enrol"))
    form = CodeForm()
    done = handle_form(
        form,
        lambda: auth_svc.login_second_factor(
            current_user.id, form.code.data, client_addr=client_addr(), request_id=g.get("request_id", "")
        ),
    )
    if done.ok:
        session["mfa_ok"] = True
        return _after_login()
    form.code.data = ""
    return render_template("auth/twofa.html", form=form), done.status


@bp.route("/enrol", methods=["GET", "POST"])
def enrol():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    if current_user.user.totp_enabled:
        return redirect(url_for("auth.profile" if session.get("mfa_ok") else "auth.twofa"))
    form = EnrolForm()
    status = 200
    pending = auth_svc.pending_unseal(session.get("totp_pending", ""))
    if form.validate_on_submit() and pending:
        try:
            _user, codes = auth_svc.totp_confirm_enrolment(actor(), secret=pending, code=form.code.data)
        except PanelError as err:
            apply_error(form, err)
            status = err.status
        else:
            session.pop("totp_pending", None)
            session["mfa_ok"] = True
            after = (
                url_for("auth.password")
                if current_user.user.must_change_password
                else (session.pop("next", "") or url_for("dashboard.index"))
            )
            return no_store(render_template("auth/recovery_codes.html", codes=codes, after=after))
    elif request.method == "POST":
        status = 422
    secret, uri, svg = auth_svc.totp_begin_enrolment(actor(), pending)
    session["totp_pending"] = auth_svc.pending_seal(secret)
    form.code.data = ""
    page = render_template("auth/enrol.html", form=form, secret=secret, uri=uri, qr_svg=svg)
    return no_store(page), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated and session.get("mfa_ok"):
        # Server-side end: the user's session version moves on, so a copy of this cookie kept
        # anywhere no longer opens the panel. (Only after a full login: the password alone must not
        # let someone end the real user's sessions.)
        users_svc.user_sessions_end(actor())
    logout_user()
    keep = session.get("locale")
    session.clear()
    if keep:
        session["locale"] = keep
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        return redirect(url_for("dashboard.index"))
    session["locale"] = form.locale.data
    if current_user.is_authenticated:
        users_svc.user_set_locale(actor(), locale=form.locale.data)
    return redirect(safe_next(form.next.data) or url_for("dashboard.index"))


def _profile_page(password_form=None, disable_form=None, status=200):
    a = actor()
    page = render_template(
        "auth/profile.html",
        user=current_user.user,
        password_form=password_form or PasswordChangeForm(formdata=None),
        disable_form=disable_form or TotpDisableForm(formdata=None),
        recovery_left=auth_svc.recovery_codes_left(a) if current_user.user.totp_enabled else 0,
        must_keep_2fa=current_user.is_staff,
        language_form=LanguageForm(formdata=None, locale=str(get_locale()), next=url_for("auth.profile")),
    )
    return no_store(page), status


@bp.route("/profile")
def profile():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))
    return _profile_page()


@bp.route("/password", methods=["GET", "POST"])
def password():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))
    form = PasswordChangeForm()
    forced = current_user.user.must_change_password
    if form.validate_on_submit():
        try:
            user = users_svc.password_change(
                actor(), old_password=form.old_password.data, new_password=form.new_password.data
            )
        except PanelError as err:
            apply_error(form, err)
            return _password_page(form, err.status)
        # The change ended every session of the user (new session_version); keep this one.
        _start_session(user, mfa_ok=bool(session.get("mfa_ok")))
        flash(_("Your password was changed."), "success")
        # A forced change (first login, after a reset) goes on to where the login was headed.
        return (
            redirect(session.pop("next", "") or url_for("dashboard.index"))
            if forced
            else redirect(url_for("auth.profile"))
        )
    return _password_page(form, 422 if request.method == "POST" else 200)


def _password_page(form, status):
    return no_store(
        render_template("auth/password.html", form=form, forced=current_user.user.must_change_password)
    ), status


@bp.post("/profile/2fa/disable")
def totp_disable():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    form = TotpDisableForm()
    if form.validate_on_submit():
        try:
            auth_svc.totp_disable(actor(), password=form.password.data)
        except PanelError as err:
            apply_error(form, err)
            return _profile_page(disable_form=form, status=err.status)
        flash(_("Two-factor login is off."), "success")
        return redirect(url_for("auth.profile"))
    return _profile_page(disable_form=form, status=422)


__all__ = ["bp", "no_store", "safe_next"]
