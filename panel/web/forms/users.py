"""Forms of the user pages; organization choices are filled per request from the service."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from panel.models.tenants import Role

ROLE_LABELS = {
    Role.WEBMASTER: _l("Webmaster (ministry)"),
    Role.ORG_ADMIN: _l("Ministry administrator"),
    Role.OPERATOR: _l("Operator (data center)"),
    Role.ADMIN: _l("Administrator (data center)"),
    Role.AUDITOR: _l("Auditor (data center)"),
    Role.SOC: _l("Security operation center (data center)"),
}


def role_choices(staff: bool) -> list[SelectChoice]:
    roles = list(Role) if staff else [Role.WEBMASTER, Role.ORG_ADMIN]
    return [SelectChoice(r.value, ROLE_LABELS[r]) for r in roles]


class UserCreateForm(FlaskForm):
    username = StringField(
        _l("Username"), validators=[DataRequired(), Length(min=3, max=64)], render_kw={"autocapitalize": "none"}
    )
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    org_id = SelectField(_l("Organization"), coerce=int, validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])


class RoleForm(FlaskForm):
    org_id = SelectField(_l("Organization"), coerce=int, validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class SearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), Length(max=100)])
