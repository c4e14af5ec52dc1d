"""The HTML surface: Flask blueprints, Flask-Login sessions, CSRF, Babel (km/en)."""

from __future__ import annotations

from flask import Flask, g, redirect, request, session, url_for

from panel.extensions import babel, csrf, login_manager
from panel.web import audit, auth, common, dashboard, orgs, users
from panel.web import bulk as bulk_web
from panel.web import health as health_web
from panel.web import hosts as hosts_web
from panel.web import jobs as jobs_web
from panel.web import notifications as notifications_web
from panel.web import quotas as quotas_web
from panel.web import requests as requests_web
from panel.web import tokens as tokens_web

BLUEPRINTS = (
    auth.bp,
    dashboard.bp,
    orgs.bp,
    users.bp,
    audit.bp,
    tokens_web.bp,
    hosts_web.bp,
    requests_web.bp,
    quotas_web.bp,
    notifications_web.bp,
    jobs_web.bp,
    bulk_web.bp,
    health_web.bp,
)
LOCALES = ("km", "en")


def select_locale() -> str:
    """The user's choice, else the session's, else Accept-Language, else the configured default."""
    user = g.get("_login_user")
    if user is not None and getattr(user, "locale", ""):
        return user.locale
    if session.get("locale") in LOCALES:
        return session["locale"]
    return request.accept_languages.best_match(LOCALES) or common.settings().web.default_locale


def init_app(app: Flask, blueprints=()) -> None:
    """Register the core's pages and `blueprints` (the capabilities', handed in by the app factory)."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.user_loader(common.load_user)
    login_manager.unauthorized_handler(lambda: redirect(url_for("auth.login", next=request.full_path)))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    for bp in (*BLUEPRINTS, *blueprints):
        app.register_blueprint(bp)
    common.init_app(app)
