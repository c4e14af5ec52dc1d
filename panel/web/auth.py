"""Placeholder blueprint (being written)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)


@bp.post("/language")
def set_language():
    return ""


@bp.route("/login", methods=["GET", "POST"])
def login():
    return ""


@bp.post("/logout")
def logout():
    return ""


@bp.route("/profile")
def profile():
    return ""


@bp.route("/twofa")
def twofa():
    return ""


@bp.route("/enrol")
def enrol():
    return ""
