"""The API token form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange


class TokenCreateForm(FlaskForm):
    name = StringField(_l("Name (what the token is for)"), validators=[DataRequired(), Length(max=100)])
    scope = SelectField(
        _l("Scope"), choices=[SelectChoice("read", _l("Read only")), SelectChoice("write", _l("Read and write"))]
    )
    days = IntegerField(_l("Valid for (days)"), default=90, validators=[DataRequired(), NumberRange(min=1)])
