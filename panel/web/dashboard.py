"""The landing page after login: what the user can do, by role."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import login_required

from panel.web.common import actor

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@login_required
def index():
    return render_template("dashboard.html", actor=actor())
