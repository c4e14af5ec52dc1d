"""Shared pieces of the HTML surface: the session user, the actor, errors, pagination arguments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import (
    Flask,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_date, format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user
from markupsafe import escape
from wtforms.validators import Length, ValidationError

from panel.config import Settings
from panel.errors import PanelError
from panel.models.tenants import STAFF_ROLES
from panel.services import jobs as jobs_svc
from panel.services import request_kinds
from panel.services import requests as requests_svc
from panel.services import users as users_svc
from panel.services.actor import Actor, actor_for_user
from panel.web.forms.users import ROLE_LABELS

# Endpoints reachable while logged in but before the second factor is done.
PRE_MFA_ENDPOINTS = {"auth.logout", "auth.twofa", "auth.enrol", "auth.set_language", "static"}


class SessionUser(UserMixin):
    """What Flask-Login keeps: the id and the session version (bumped to end every session)."""

    def __init__(self, user):
        self.user = user
        self.id = user.id
        self.username = user.username
        self.locale = user.locale
        self.is_staff = any(m.role in STAFF_ROLES for m in user.memberships)

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_version}"


def load_user(raw: str):
    try:
        uid, version = (int(x) for x in raw.split(":", 1))
    except ValueError:
        return None
    user = users_svc.user_for_session(uid, version)
    return SessionUser(user) if user else None


def settings() -> Settings:
    return current_app.config["GOVHOST"]


def actor() -> Actor:
    """The acting user of this request, built once per request."""
    if "actor" not in g:
        if not current_user.is_authenticated:
            abort(401)
        g.actor = actor_for_user(
            current_user.user, surface="web", client_addr=client_addr(), request_id=g.get("request_id")
        )
    return g.actor


def client_addr() -> str:
    # Behind the data center's reverse proxy, ProxyFix (configured in deployment) sets remote_addr.
    return (request.remote_addr or "")[:64]


def page_args() -> tuple[int, int]:
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    return page, settings().web.page_size


def when(value, fmt: str = "medium") -> str:
    """A moment in the reader's locale and time zone (a datetime, or the ISO text the job data
    carries); "-" for none. Never a bare d/m/y: "12/6/31" reads differently in every country."""
    if value in (None, ""):
        return "-"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)  # Flask-Babel reads naive as UTC
    return format_datetime(value, fmt)


def day(value) -> str:
    """A date in the reader's locale, month spelled out ("6 Dec 2031", "៦ ធ្នូ ២០៣១")."""
    if value in (None, ""):
        return "-"
    return format_date(value, "medium")


# Status words of every model (sites, jobs, requests, zones, hosts, mail, job events, DNS checks),
# translated; pages show them through status_text() (macros.status_label), never the raw value.
STATUS_LABELS = {
    "requested": _l("requested"),
    "provisioning": _l("provisioning"),
    "active": _l("active"),
    "suspended": _l("suspended"),
    "deleting": _l("deleting"),
    "deleted": _l("deleted"),
    "failed": _l("failed"),
    "pending": _l("pending"),
    "running": _l("running"),
    "successful": _l("successful"),
    "error": _l("error"),
    "canceled": _l("canceled"),
    "cancelled": _l("cancelled"),
    "ok": _l("ok"),
    "changed": _l("changed"),
    "skipped": _l("skipped"),
    "unreachable": _l("unreachable"),
    "draft": _l("draft"),
    "submitted": _l("submitted"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
    "done": _l("done"),
    "retried": _l("retried"),
    "draining": _l("draining"),
    "down": _l("down"),
    "defer": _l("defer (the sender retries later)"),
    "reject": _l("reject (the sender is told at once)"),
    "missing": _l("missing"),
    "wrong": _l("wrong"),
    "present": _l("present"),
    "absent": _l("being removed"),
    "open": _l("open"),
    "closed": _l("closed"),
}


def may_ask(kind: str) -> bool:
    """Forms are offered only to those who may file them: the kinds this user may request."""
    if "may_ask" not in g:
        g.may_ask = (
            {k.name for k in requests_svc.request_kinds_for(actor())} if current_user.is_authenticated else set()
        )
    return kind in g.may_ask


def kind_label(name: str) -> str:
    """A request kind as people call it, translated ("New website"); an unknown kind as it is."""
    try:
        return _(request_kinds.get(name).label)
    except PanelError:
        return name


def request_summary(req) -> str:
    """What a request asks for, in the reader's language when its kind describes it as a message
    (the stored summary is English, for the API, the CLI and the audit log)."""
    try:
        described = request_kinds.get(req.kind).describe(req.payload)
    except (PanelError, KeyError, TypeError, ValueError):
        return req.summary
    if not isinstance(described, tuple):
        return req.summary
    message, params = described
    params = {k: (_(v) if k == "what" and isinstance(v, str) else v) for k, v in params.items()}
    try:
        return _(message).format(**params)
    except (KeyError, IndexError, ValueError):
        return req.summary


def refuse_unless_may_ask(kind: str):
    """The page of a form this user may not file: a 403 page that says what, in words, else None."""
    if may_ask(kind):
        return None
    label = kind_label(kind)
    message = _("You may not ask for this: %(label)s. A ministry admin or the data center can.", label=label)
    return render_template("error.html", status=403, message=message), 403


def idn(name) -> str:
    """A host name as people write it: Unicode, with the ASCII (punycode) form beside when they differ
    ("ក្រសួង.gov.kh (xn--...gov.kh)"). A name that does not decode is shown as stored."""
    name = str(name or "")
    if "xn--" not in name.lower():
        return name
    try:  # display only: each xn-- label's punycode decoded (validation is the services' job)
        labels = [
            label[4:].encode("ascii").decode("punycode") if label.lower().startswith("xn--") else label
            for label in name.split(".")
        ]
    except (UnicodeError, ValueError):
        return name
    if not all(labels):
        return name
    text = ".".join(labels)
    return f"{text} ({name})" if text != name else name


# The fields of request payloads, as people call them (the request page lists a request's fields).
FIELD_LABELS = {
    "fqdn": _l("Website address"),
    "aliases": _l("Other addresses"),
    "plan": _l("Plan"),
    "php_version": _l("PHP version"),
    "tls": _l("HTTPS certificate"),
    "host_id": _l("Host"),
    "site_id": _l("Website"),
    "sites": _l("Websites"),
    "alias": _l("Address"),
    "name": _l("Name"),
    "contact": _l("Contact address"),
    "external_forwarding": _l("Forwarding outside the ministry"),
    "on_suspend": _l("Mail for a suspended mailbox"),
    "default_quota_mb": _l("Default mailbox size (MB)"),
    "domain_id": _l("Mail domain"),
    "local_parts": _l("Mailboxes"),
    "display_names": _l("Display names"),
    "quota_mb": _l("Size (MB)"),
    "mailbox_id": _l("Mailbox"),
    "address": _l("Address"),
    "source": _l("Alias"),
    "destinations": _l("Delivers to"),
    "alias_id": _l("Alias"),
    "zone_id": _l("Zone"),
    "resource": _l("Resource"),
    "new_limit": _l("New limit"),
    "reason": _l("Reason"),
    "old_quota_mb": _l("Previous size (MB)"),
}


def field_label(name: str) -> str:
    label = FIELD_LABELS.get(name)
    return str(label) if label is not None else name


def field_value(value) -> str:
    """A payload value as text: lists joined, yes/no for flags, mappings as "key: value"."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value is None:
        return "-"  # not given (e.g. no host chosen): not Python's "None"
    if isinstance(value, (list, tuple)):
        return ", ".join(field_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {field_value(v)}" for k, v in value.items())
    return status_text(value) if isinstance(value, str) and value in ("defer", "reject") else str(value)


def role_text(role) -> str:
    label = ROLE_LABELS.get(role)
    return str(label) if label is not None else str(getattr(role, "value", role))


def status_text(value) -> str:
    """A status (enum or its value) in the reader's language; an unknown one as it is."""
    v = str(getattr(value, "value", value))
    label = STATUS_LABELS.get(v)
    return str(label) if label is not None else v


def error_text(err: PanelError) -> str:
    """The translated message of a service error; messages use {param} placeholders."""
    # A `label` parameter is itself a message (a request kind's name): shown translated too.
    params = {k: (_(v) if k == "label" and isinstance(v, str) else v) for k, v in err.params.items()}
    try:
        return _(err.message).format(**params)
    except (KeyError, IndexError, ValueError):
        return err.text()


def apply_error(form, err: PanelError, fields: dict[str, str] | None = None) -> None:
    """Show a service error beside the field it names, else at the top of the form. `fields` maps
    a service field name to the form's where they differ (a new site's `fqdn` is `new_fqdn`)."""
    name = (fields or {}).get(err.field, err.field) if err.field else None
    field = getattr(form, name, None) if name else None
    if field is not None:
        field.errors = [*list(field.errors or []), error_text(err)]
    else:
        flash(error_text(err), "error")


@dataclass(frozen=True)
class FormResult:
    """What `handle_form` did: `ok` with the service's answer (`value`), else the form's `status`."""

    ok: bool
    value: Any = None
    status: int = 200


def handle_form(form, call: Callable[[], Any], fields: dict[str, str] | None = None, on_error=None) -> FormResult:
    """A form page's round, the same on every page: once the posted form validates, call() (the
    service); its refusal goes beside its field (apply_error with `fields`, or `on_error(err)`) and
    the page answers with the refusal's status; a post that fails validation is 422; a GET, 200."""
    if form.validate_on_submit():
        try:
            return FormResult(True, call())
        except PanelError as err:
            (on_error or (lambda e: apply_error(form, e, fields)))(err)
            return FormResult(False, status=err.status)
    return FormResult(False, status=422 if request.method == "POST" else 200)


def mfa_gate():
    """Staff (and users who enrolled) must pass the second factor before anything else."""
    if request.path.startswith("/api/"):
        # The API never reads the session cookie. Loading its user here began a transaction on the
        # request's session, and on SQLite the token's last-use write then waited on it (locked).
        return None
    if not current_user.is_authenticated or session.get("mfa_ok"):
        return None
    if request.endpoint in PRE_MFA_ENDPOINTS or request.endpoint is None:
        return None
    user = current_user.user
    if user.totp_enabled:
        return redirect(url_for("auth.twofa"))
    if current_user.is_staff and settings().auth.staff_require_2fa:
        return redirect(url_for("auth.enrol"))
    return None


def job_explanation(text: str | None, kind: str = "") -> str:
    """A job's explanation for people: the runner's wait texts and the outcomes job kind `kind`
    declares in the page's language, the rest as written (a failure's own words: the playbook's or
    the host's)."""
    wait = jobs_svc.explanation_waiting(text or "")
    if wait is None:
        outcome = jobs_svc.explanation_outcome(kind, text or "")
        return _(outcome[0], **outcome[1]) if outcome else text or ""
    name, p = wait
    if name == "host_busy":
        return _("Waiting for job %(job)s to finish on host %(host)s: one job changes a host at a time.", **p)
    return _("Waiting for host %(host)s to come out of maintenance; the job starts then.", **p)


def explanation_class(text: str | None, kind: str = "") -> str:
    """A wait is a notice, a declared outcome plain text, anything else an error."""
    if not text:
        return ""
    if jobs_svc.explanation_waiting(text):
        return "flash warning"
    return "" if jobs_svc.explanation_outcome(kind, text) else "flash error"


def init_app(app: Flask) -> None:
    app.before_request(mfa_gate)

    app.jinja_env.globals.update(
        format_datetime=format_datetime,
        format_decimal=format_decimal,
        get_locale=get_locale,
        nav_items=nav_items,
        when=when,
        day=day,
        status_text=status_text,
        may_ask=may_ask,
        kind_label=kind_label,
        request_summary=request_summary,
        field_label=field_label,
        field_value=field_value,
        role_text=role_text,
        idn=idn,
        job_explanation=job_explanation,
        explanation_class=explanation_class,
    )


# (endpoint, label, who sees it); blueprints append their entries at import time.
NAV: list[tuple[str, object, object]] = []


def nav(endpoint: str, label, visible=lambda a: True) -> None:
    """Register a menu entry; `label` is a lazy string, `visible(actor)` filters by role."""
    NAV.append((endpoint, label, visible))


def nav_items() -> list[tuple[str, str]]:
    if not current_user.is_authenticated:
        return []
    a = actor()
    return [(endpoint, str(label)) for endpoint, label, visible in NAV if visible(a)]


def panel_error_page(err: PanelError):
    return render_template("error.html", status=err.status, message=error_text(err)), err.status


def outage_page():
    """503 while the database is down: a page that needs no database (no layout, no current user)."""
    title = escape(_("The panel is briefly unavailable"))
    text = escape(_("Its database cannot be reached. Nothing was changed; try again in a minute."))
    html = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1><p>{text}</p></body></html>"
    )
    return make_response(html, 503)


def http_error_page(err):
    code = getattr(err, "code", 500) or 500
    messages = {
        400: _("The request was not understood."),
        403: _("You are not allowed to see this page."),
        404: _("This page does not exist."),
        405: _("This method is not allowed here."),
        413: _("The upload is too large."),
        429: _("Too many requests; wait a moment."),
        500: _("Something went wrong on our side. The error was recorded."),
    }
    return render_template("error.html", status=code, message=messages.get(code, "")), code


# ---- form fields with the limits of a request kind's schema ----------------------------------------


class SchemaLength(Length):
    """The length of a request kind's schema field (`maxlength` on the input), refused with the
    message of the rule behind the field when it has one, as the API and the CLI refuse it."""

    def __init__(self, schema, name: str) -> None:
        high = request_kinds.field_limits(schema, name)[1]
        f = schema._declared_fields[name.removesuffix("[]")]
        self.rule = (getattr(f, "inner", f) if name.endswith("[]") else f).metadata.get("rule_error")
        super().__init__(max=-1 if high is None else high)  # the least is the field's own (DataRequired)

    def __call__(self, form, field) -> None:
        try:
            super().__call__(form, field)
        except ValidationError:
            if not self.rule:
                raise
            raise ValidationError(_(self.rule[1]).format(min="", max=self.max, value="")) from None
