"""Forms of the host pages; the service does the real validation (names, addresses, ports)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from panel.models.hosts import HostOS, HostState
from panel.services import hosts as hosts_svc


def role_choices() -> list[SelectChoice]:
    """The roles the enabled capabilities declare, labelled in the reader's language."""
    return [SelectChoice(r.name, _l(r.label)) for r in hosts_svc.roles()]


STATE_CHOICES = [
    SelectChoice(HostState.ACTIVE.value, _l("Active: takes new objects")),
    SelectChoice(HostState.DRAINING.value, _l("Draining: keeps its objects, takes no new ones")),
    SelectChoice(HostState.MAINTENANCE.value, _l("Maintenance: no new objects; its jobs wait until it is back")),
    SelectChoice(HostState.DOWN.value, _l("Down: no jobs run here")),
]
STATE_FILTER = [SelectChoice(x.value, x.value) for x in HostState]
OS_CHOICES = [SelectChoice(HostOS.LINUX.value, _l("Linux")), SelectChoice(HostOS.WINDOWS.value, _l("Windows"))]
TRANSPORT_CHOICES = [
    SelectChoice("ssh", _l("SSH (Linux; Windows Server 2022 and later)")),
    SelectChoice("winrm", _l("WinRM over HTTPS (Windows Server 2019)")),
]
WINRM_AUTH_CHOICES = [
    SelectChoice("", _l("None (SSH)")),
    SelectChoice("certificate", _l("Client certificate")),
    SelectChoice("kerberos", _l("Kerberos")),
]


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _capacity(label, default=None):
    return IntegerField(
        label, default=default, validators=[InputRequired(), NumberRange(min=0, max=hosts_svc.MAX_CAPACITY)]
    )


class _RolesAndCapacities(FlaskForm):
    """Role checkboxes and one number field per declared capacity (`capacity_<resource>`), both
    from what the enabled capabilities declare; build it with `with_capacities()`."""

    roles = CheckboxesField(_l("Roles"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.roles.choices = role_choices()

    @classmethod
    def with_capacities(cls, *args, defaults: bool = True, **kwargs):
        class form_cls(cls):  # a class per form: the declared capacities can change between loads
            pass

        for c in hosts_svc.capacities():
            setattr(form_cls, f"capacity_{c.resource}", _capacity(_l(c.label), c.default if defaults else None))
        return form_cls(*args, **kwargs)

    def capacity_fields(self) -> list:
        return [self[f"capacity_{c.resource}"] for c in hosts_svc.capacities()]

    def capacities(self) -> dict[str, int]:
        return {c.resource: self[f"capacity_{c.resource}"].data for c in hosts_svc.capacities()}


class HostRegisterForm(_RolesAndCapacities):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=63)],
        render_kw={"autocapitalize": "none", "placeholder": "web1"},
    )
    address = StringField(
        _l("IP address"), validators=[DataRequired(), Length(max=45)], render_kw={"placeholder": "10.77.0.11"}
    )
    port = IntegerField(
        _l("Port (empty: 22 for SSH, 5986 for WinRM)"),
        validators=[Optional(), NumberRange(min=1, max=65535)],
        render_kw={"placeholder": "22"},
    )
    ssh_user = StringField(_l("SSH user"), default="root", validators=[DataRequired(), Length(max=32)])
    os = SelectField(_l("Operating system"), choices=OS_CHOICES, default=HostOS.LINUX.value)
    fingerprint = StringField(
        _l("Expected key fingerprint (optional)"),
        validators=[Optional(), Length(max=60)],
        render_kw={"placeholder": "SHA256:..."},
    )
    # WinRM (Windows Server 2019): the service refuses every bad combination with its own message,
    # so the choices are not checked here (a posted "ntlm" gets the service's reason, not "invalid").
    transport = SelectField(_l("Transport"), choices=TRANSPORT_CHOICES, default="ssh", validate_choice=False)
    winrm_auth = SelectField(_l("WinRM authentication"), choices=WINRM_AUTH_CHOICES, default="", validate_choice=False)
    winrm_cert = TextAreaField(_l("WinRM client certificate (PEM)"), validators=[Optional(), Length(max=20000)])
    winrm_key = TextAreaField(_l("Its private key (PEM)"), validators=[Optional(), Length(max=20000)])
    winrm_user = StringField(_l("Kerberos account (user@REALM)"), validators=[Optional(), Length(max=320)])
    winrm_password = PasswordField(_l("Kerberos password"), validators=[Optional(), Length(max=256)])

    def winrm(self) -> dict | None:
        """The WinRM fields given, for the service (None: none given)."""
        given = {
            "auth": self.winrm_auth.data or "",
            "cert_pem": self.winrm_cert.data or "",
            "key_pem": self.winrm_key.data or "",
            "user": (self.winrm_user.data or "").strip(),
            "password": self.winrm_password.data or "",
        }
        return given if any(given.values()) else None


class HostEditForm(_RolesAndCapacities):
    state = SelectField(_l("State"), choices=STATE_CHOICES)


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class HostFilterForm(FlaskForm):
    class Meta:
        csrf = False

    role = SelectField(_l("Role"), validators=[Optional()])
    state = SelectField(
        _l("State"), validators=[Optional()], choices=[SelectChoice("", _l("Any state")), *STATE_FILTER]
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = [SelectChoice("", _l("Any role")), *role_choices()]
