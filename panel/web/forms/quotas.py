"""Forms of the quota pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from panel.web.forms.requests import resource_choices


class QuotaSetForm(FlaskForm):
    resource = SelectField(
        _l("Resource"),
        validators=[DataRequired()],
        choices=resource_choices,
    )
    limit = IntegerField(_l("New limit"), validators=[InputRequired(), NumberRange(min=0, max=10**12)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
