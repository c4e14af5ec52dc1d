"""The Flask application factory: extensions, blueprints, error handlers, security headers."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from inspect import iscoroutinefunction

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import InternalServerError
from werkzeug.routing import IntegerConverter

from panel import api, capabilities, db, logs, security, web
from panel.boot import boot
from panel.config import Settings
from panel.errors import PanelError
from panel.services import outage, request_metrics
from panel.services.pagination import MAX_ID


class IdConverter(IntegerConverter):
    """Integer ids in URLs stop at the database's bigint range: a larger one is a plain 404."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
request_log = logging.getLogger("govhost.web.request")  # one line per request (log.format json; docs/operations)
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
# The API docs page (ReDoc, served from /static/vendor) styles itself inline and uses a blob worker.
_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "worker-src 'self' blob:; frame-ancestors 'none'"
)


class _SessionInterface(SecureCookieSessionInterface):
    """The web's signed-cookie session; API requests get none. A bearer token is their only
    credential (a cookie sent along is never read, so there is no CSRF surface), and verifying a
    cookie's signature was a tenth of an API read's CPU. Flask's null session refuses writes."""

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


class _Flask(Flask):
    session_interface = _SessionInterface()

    def ensure_sync(self, func):
        # Flask asks inspect.iscoroutinefunction of every hook and view on every request; the
        # answer never changes for a function, and asking was a few per cent of a list request.
        try:
            sync = _SYNC.get(func)
        except TypeError:  # an unhashable callable: asked each time
            return super().ensure_sync(func)
        if sync is None:
            sync = _SYNC[func] = not iscoroutinefunction(func)
        return func if sync else self.async_to_sync(func)


_SYNC: dict = {}


def configure(app: Flask, settings: Settings) -> None:
    """The app's configuration from the settings (the factory's first step)."""
    app.config.update(
        SECRET_KEY=settings.secret_key,
        GOVHOST=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        SESSION_COOKIE_NAME="govhost_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.web.secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.web.session_minutes),
        WTF_CSRF_TIME_LIMIT=settings.web.session_minutes * 60,
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        API_TITLE="govhost API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_REDOC_PATH="/docs",
        OPENAPI_REDOC_URL="/static/vendor/redoc.standalone.js",
        BABEL_DEFAULT_LOCALE=settings.web.default_locale,
        BABEL_TRANSLATION_DIRECTORIES="translations",
    )


def create_app(settings: Settings | None = None) -> Flask:
    served = settings is None  # gunicorn's `panel.app:create_app()`: this process logs for itself
    capabilities.load()
    settings = boot(settings)
    if served:
        logs.configure_web(settings.log.format)
    app = _Flask(__name__)
    configure(app, settings)
    security.dummy_hash()  # ready before the first login, so an unknown name's first try is not slower

    @app.before_request
    def _request_id():
        # A caller's id is kept only in a plain form, so no chosen text lands in the audit log.
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.log_token, g.started = logs.request_id.set(g.request_id), time.perf_counter()
        if request.method in _READ_METHODS and request.path.startswith("/api/"):
            db.read_only_session()  # an API read opens no write transaction (none at all on PostgreSQL)

    @app.after_request
    def _headers(resp):
        h = resp.headers
        h["X-Request-ID"] = g.get("request_id", "")
        if "started" in g:
            route = request.url_rule.rule if request.url_rule is not None else "(no route)"
            seconds = time.perf_counter() - g.started
            request_metrics.observe(request.method, route, resp.status_code, seconds)
        if request_log.isEnabledFor(logging.INFO) and "started" in g:
            ms = round(seconds * 1000, 1)
            request_log.info(
                "%s %s %s %.1f ms",
                request.method,
                route,
                resp.status_code,
                ms,
                extra={
                    "fields": {
                        "method": request.method,
                        "route": route,
                        "status": resp.status_code,
                        "ms": ms,
                        "request_id": g.request_id,
                    }
                },
            )
        # What a view set itself is kept. The names are looked up once: Headers.setdefault raises
        # and catches an exception for every header it then adds.
        present = {k.lower() for k, _v in h}
        for name, value in _SECURITY_HEADERS:
            if name.lower() not in present:
                h.add(name, value)
        if "content-security-policy" not in present:
            h.add("Content-Security-Policy", _DOCS_CSP if request.path == "/api/v1/docs" else _CSP)
        return resp

    @app.teardown_appcontext
    def _end_session(_exc):
        db.remove()

    @app.teardown_request
    def _end_request_id(_exc):
        token = g.pop("log_token", None)
        if token is not None:
            logs.request_id.reset(token)

    app.url_map.converters["int"] = IdConverter
    web.init_app(app, capabilities.web_blueprints())
    api.init_app(app, capabilities.api_blueprints())
    app.extensions["govhost.dashboard"] = capabilities.dashboard_cards()

    def _http_error(err):
        # One handler per status for the whole app: the API answers problem+json, pages render HTML.
        if request.path.startswith("/api/"):
            return api.common.http_error(err)
        return web.common.http_error_page(err)

    def _panel_error(err: PanelError):
        if request.path.startswith("/api/"):
            return api.common.panel_error(err)
        return web.common.panel_error_page(err)

    def _outage(err: Exception):
        # The database (or queue) is unreachable: 503 with Retry-After, not a 500; nothing was saved.
        if not outage.services_down(err):
            return _http_error(InternalServerError(original_exception=err))
        app.logger.warning(
            "service unavailable on %s %s: %s", request.method, request.path, outage.describe_outage(err)
        )
        db.remove()
        if request.path.startswith("/api/"):
            resp = api.common.problem(
                503, "service.unavailable", "The panel's database is unreachable; nothing was changed. Retry shortly."
            )
        else:
            resp = web.common.outage_page()
        resp.headers["Retry-After"] = "10"
        return resp

    for status in (400, 401, 403, 404, 405, 413, 422, 429, 500):
        app.register_error_handler(status, _http_error)
    app.register_error_handler(PanelError, _panel_error)
    app.register_error_handler(sa_exc.DBAPIError, _outage)
    app.register_error_handler(sa_exc.DisconnectionError, _outage)
    return app
