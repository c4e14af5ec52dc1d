"""The toy's one page: the things of the user's ministries."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required
from markupsafe import escape
from sqlalchemy import select

from panel import db
from panel.web.common import actor
from tests.cross.toy.models import ToyThing

bp = Blueprint("toy", __name__, url_prefix="/toy")


@bp.get("/")
@login_required
def index():
    a = actor()
    with db.unit_of_work() as s:
        things = s.scalars(select(ToyThing).where(ToyThing.org_id.in_(a.org_roles)).order_by(ToyThing.id)).all()
        return "".join(f"<p>{escape(t.name)}: {t.status}</p>" for t in things) or "<p>none</p>"
