"""SOC feed forms: a destination (DC admins)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from panel.capabilities.soc.containment import MAX_BLOCK_MINUTES
from panel.capabilities.soc.service import BATCH_MAX


class DestinationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=63)])
    transport = SelectField(
        _l("Transport"),
        choices=[
            SelectChoice("syslog_tls", _l("Syslog over TLS (RFC 5425)")),
            SelectChoice("https_json", _l("JSON over HTTPS")),
            SelectChoice("file", _l("JSON lines file")),
            SelectChoice("syslog_tcp", _l("Syslog over TCP to a local relay")),
        ],
    )
    target = StringField(
        _l("Receiver (host:port, https:// URL or file path)"), validators=[DataRequired(), Length(max=500)]
    )
    ca_file = StringField(_l("CA bundle file (empty: the system's CAs)"), validators=[Length(max=500)])
    client_cert = StringField(_l("Client certificate file"), validators=[Length(max=500)])
    client_key = StringField(_l("Client key file"), validators=[Length(max=500)])
    server_name = StringField(_l("TLS server name (if not the receiver's host)"), validators=[Length(max=253)])
    auth_header = PasswordField(_l("HTTP Authorization value (stored sealed)"), validators=[Length(max=500)])
    batch_size = IntegerField(_l("Events per batch"), default=200, validators=[NumberRange(min=1, max=BATCH_MAX)])
    start = SelectField(
        _l("Send"),
        choices=[SelectChoice("now", _l("Events from now on")), SelectChoice("all", _l("The whole audit chain"))],
    )
    enabled = BooleanField(_l("Enabled"), default=True)


class ActionForm(FlaskForm):
    """A button that only carries the CSRF token."""


class ContainForm(FlaskForm):
    """One containment action (SOC staff): what, on which object, and why."""

    action = SelectField(_l("Action"))  # choices: lock a user, revoke a token, each enabled *_suspend kind
    object_id = IntegerField(
        _l("Id of the user, token, website or mailbox"), validators=[NumberRange(min=1, max=2**63 - 1)]
    )
    org_id = IntegerField(
        _l("Ministry id (for a suspension)"), validators=[Optional(), NumberRange(min=1, max=2**63 - 1)]
    )
    reason = TextAreaField(
        _l("Reason (the ministry is told)"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 3}
    )


class BlockForm(FlaskForm):
    """Block (or unblock) an address on managed hosts with nftables (SOC staff)."""

    address = StringField(_l("Address or network (IPv4 up to /16, IPv6 up to /48)"),
                          validators=[DataRequired(), Length(max=64)])  # fmt: skip
    minutes = IntegerField(
        _l("For how many minutes (0: until unblocked)"),
        default=0,
        validators=[Optional(), NumberRange(min=0, max=MAX_BLOCK_MINUTES)],
    )
    unblock = BooleanField(_l("Unblock instead"))
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 2})


class ProtectForm(FlaskForm):
    """Install govhost's fail2ban jails and block table on hosts (DC operators and admins)."""

    host_ids = StringField(_l("Host ids, separated by commas"), validators=[DataRequired(), Length(max=500)])
    ignoreip = StringField(_l("Never ban (addresses or networks, separated by commas)"), validators=[Length(max=2000)])
