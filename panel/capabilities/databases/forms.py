"""Forms of the database pages; the services do the real validation (names, policy, budgets)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from panel.capabilities.databases import rules


def engine_choices() -> list[SelectChoice]:
    return [SelectChoice("mariadb", "MariaDB"), SelectChoice("postgresql", "PostgreSQL")]


def profile_choices() -> list[SelectChoice]:
    return [
        SelectChoice("owner", _l("Owner (tables and data)")),
        SelectChoice("readwrite", _l("Read and write data")),
        SelectChoice("readonly", _l("Read only")),
    ]


class DatabaseForm(FlaskForm):
    org_id = SelectField(_l("Ministry or department"), coerce=int, validators=[InputRequired()])
    engine = SelectField(_l("Engine"), choices=engine_choices())
    name = StringField(
        _l("Name (your ministry's prefix is added)"), validators=[DataRequired(), Length(max=rules.MAX_DB_SUFFIX)]
    )
    size_mb = IntegerField(
        _l("Size budget (MB)"),
        default=rules.DEFAULT_SIZE_MB,
        validators=[InputRequired(), NumberRange(min=rules.MIN_SIZE_MB, max=rules.MAX_SIZE_MB)],
    )
    conn_limit = IntegerField(
        _l("Connections at most"),
        default=rules.DEFAULT_CONN,
        validators=[InputRequired(), NumberRange(min=rules.MIN_CONN, max=rules.MAX_CONN)],
    )


class UserForm(FlaskForm):
    name = StringField(
        _l("User name (your ministry's prefix is added)"),
        validators=[DataRequired(), Length(max=rules.MAX_USER_SUFFIX)],
    )
    profile = SelectField(_l("Privileges"), choices=profile_choices())
    password = PasswordField(
        _l("Password (empty: govhost makes one and shows it once)"),
        validators=[Optional(), Length(max=rules.PASSWORD_MAX)],
    )


class PasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password (empty: govhost makes one and shows it once)"),
        validators=[Optional(), Length(max=rules.PASSWORD_MAX)],
    )
    confirm = PasswordField(
        _l("Repeat the password"), validators=[EqualTo("password", message=_l("The passwords differ."))]
    )


class GrantForm(FlaskForm):
    database_id = SelectField(_l("Database"), coerce=int, validators=[InputRequired()])
    profile = SelectField(_l("Privileges"), choices=[*profile_choices(), SelectChoice("none", _l("None (revoke)"))])


class LinkForm(FlaskForm):
    workload_id = SelectField(_l("Website"), coerce=int, validators=[InputRequired()])


class RemoteForm(FlaskForm):
    cidr = StringField(_l("Network (CIDR)"), validators=[DataRequired(), Length(max=43)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=rules.REASON_MAX)])
    expires_at = StringField(_l("Until (date)"), validators=[DataRequired(), Length(max=40)])


class ServerForm(FlaskForm):
    engine = SelectField(_l("Engine"), choices=engine_choices())


class ConfirmForm(FlaskForm):
    """Buttons that change something: CSRF only."""
