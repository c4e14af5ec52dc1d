"""Forms of the organization pages; the parent choices are filled per request from the service."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from panel.models.tenants import OrgKind

KIND_LABELS = {
    OrgKind.DATACENTER: _l("Data center"),
    OrgKind.MINISTRY: _l("Ministry"),
    OrgKind.DEPARTMENT: _l("Department"),
}


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "", "0") else None
    except (TypeError, ValueError):
        return None


class OrgCreateForm(FlaskForm):
    slug = StringField(
        _l("Short name"),
        validators=[DataRequired(), Length(min=2, max=63)],
        render_kw={"autocapitalize": "none", "pattern": "[a-z][a-z0-9-]{1,62}"},
    )
    name = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=200)])
    name_km = StringField(_l("Name (Khmer)"), validators=[Optional(), Length(max=200)])
    kind = SelectField(
        _l("Kind"),
        choices=[SelectChoice(k.value, label) for k, label in KIND_LABELS.items()],
        validators=[DataRequired()],
    )
    parent_id = SelectField(_l("Ministry (for a department)"), coerce=_int_or_none, validate_choice=False)


class OrgEditForm(FlaskForm):
    name = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=200)])
    name_km = StringField(_l("Name (Khmer)"), validators=[Optional(), Length(max=200)])


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class OrgSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=100)])
