"""The form of every capability's "Move to another host" card (panel.services.moves)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import Optional


class MoveForm(FlaskForm):
    """Operators: move the object to another host (choices: the active hosts of its role; empty: the
    one with the most room, chosen by the service)."""

    host_id = SelectField(_l("New host"), validators=[Optional()])
