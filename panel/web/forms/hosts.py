"""Forms of the host pages; the service does the real validation (names, addresses, ports)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from panel.models.hosts import HostOS, HostRole, HostState

ROLE_CHOICES = [
    SelectChoice(HostRole.WEB.value, _l("Web (nginx, PHP)")),
    SelectChoice(HostRole.MAIL.value, _l("Mail (postfix, dovecot)")),
    SelectChoice(HostRole.DNS.value, _l("DNS (BIND)")),
    SelectChoice(HostRole.DB.value, _l("Databases (MariaDB)")),
]
STATE_CHOICES = [
    SelectChoice(HostState.ACTIVE.value, _l("Active: takes new objects")),
    SelectChoice(HostState.DRAINING.value, _l("Draining: keeps its objects, takes no new ones")),
    SelectChoice(HostState.DOWN.value, _l("Down: no jobs run here")),
]
STATE_FILTER = [SelectChoice(x.value, x.value) for x in HostState]
OS_CHOICES = [SelectChoice(HostOS.LINUX.value, _l("Linux")), SelectChoice(HostOS.WINDOWS.value, _l("Windows"))]


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _capacity(label, default=None):
    return IntegerField(label, default=default, validators=[InputRequired(), NumberRange(min=0, max=1_000_000)])


class HostRegisterForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=63)],
        render_kw={"autocapitalize": "none", "placeholder": "web1"},
    )
    address = StringField(
        _l("IP address"), validators=[DataRequired(), Length(max=45)], render_kw={"placeholder": "10.77.0.11"}
    )
    port = IntegerField(_l("SSH port"), default=22, validators=[InputRequired(), NumberRange(min=1, max=65535)])
    ssh_user = StringField(_l("SSH user"), default="root", validators=[DataRequired(), Length(max=32)])
    os = SelectField(_l("Operating system"), choices=OS_CHOICES, default=HostOS.LINUX.value)
    roles = CheckboxesField(_l("Roles"), choices=ROLE_CHOICES)
    max_sites = _capacity(_l("Most sites"), 100)
    max_mailboxes = _capacity(_l("Most mailboxes"), 1000)
    max_databases = _capacity(_l("Most databases"), 100)
    fingerprint = StringField(
        _l("Expected key fingerprint (optional)"),
        validators=[Optional(), Length(max=60)],
        render_kw={"placeholder": "SHA256:..."},
    )


class HostEditForm(FlaskForm):
    state = SelectField(_l("State"), choices=STATE_CHOICES)
    roles = CheckboxesField(_l("Roles"), choices=ROLE_CHOICES)
    max_sites = _capacity(_l("Most sites"))
    max_mailboxes = _capacity(_l("Most mailboxes"))
    max_databases = _capacity(_l("Most databases"))


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class HostFilterForm(FlaskForm):
    class Meta:
        csrf = False

    role = SelectField(_l("Role"), choices=[SelectChoice("", _l("Any role")), *ROLE_CHOICES], validators=[Optional()])
    state = SelectField(
        _l("State"), validators=[Optional()], choices=[SelectChoice("", _l("Any state")), *STATE_FILTER]
    )
