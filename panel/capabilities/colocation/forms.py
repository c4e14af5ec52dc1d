"""Forms of the colocation pages: a request for rack space, and the floor's objects (DC admins).
Limits are the request schema's and the service's; the service gives the precise message."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FileField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from panel.capabilities.colocation import rules as R

SPEEDS = [SelectChoice(s, f"{s} Mb/s") for s in R.SPEEDS]
MEDIA = [SelectChoice("copper", _l("Copper")), SelectChoice("fibre", _l("Fibre"))]
PHASES = [SelectChoice("single", _l("Single-phase")), SelectChoice("three", _l("Three-phase"))]


def _n(label, low: int, high: int, default=None, required: bool = True):
    checks = [DataRequired() if required and low > 0 else Optional(), NumberRange(min=low, max=high)]
    return IntegerField(label, validators=checks, default=default)


class RequestForm(FlaskForm):
    org_id = SelectField(_l("Organization"), coerce=int)
    site_id = SelectField(_l("Site"), coerce=int)
    label = StringField(_l("Label (server name)"), validators=[Length(max=100)])
    u_count = _n(_l("Rack units (U)"), 1, R.MAX_RACK_U, 1)
    depth_mm = _n(_l("Device depth (mm)"), 0, 2000, 0, required=False)
    typical_w = _n(_l("Typical power (W)"), 0, 50000, 0, required=False)
    max_w = _n(_l("Maximum power (W)"), 1, 50000, 300)
    psus = _n(_l("Power supplies"), 1, 8, 2)
    ab_feeds = BooleanField(_l("On both A and B feeds"), default=True)
    ports = _n(_l("Network ports"), 0, 48, 2, required=False)
    port_speed_mbps = SelectField(_l("Port speed"), coerce=int, choices=SPEEDS, default=1000)
    port_medium = SelectField(_l("Port medium"), choices=MEDIA)
    ipv4 = _n(_l("IPv4 addresses"), 0, R.MAX_ADDRESSES_PER_REQUEST, 1, required=False)
    ipv6 = _n(_l("IPv6 addresses"), 0, R.MAX_ADDRESSES_PER_REQUEST, 0, required=False)
    cross_connects = _n(_l("Cross-connects"), 0, 48, 0, required=False)
    cross_connect_medium = SelectField(_l("Cross-connect medium"), choices=MEDIA, default="fibre")
    # 0: the rack's own room; an unknown id is the service's precise refusal (a form without it: 0)
    cross_connect_room_id = SelectField(_l("Room of the B ends"), coerce=int, default=0, validate_choice=False)
    cross_connect_to = StringField(_l("Who is at the B end"), validators=[Length(max=100)])
    vlan = BooleanField(_l("A VLAN of our own"))


class SiteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    description = StringField(_l("Description"), validators=[Length(max=100)])


class RoomForm(FlaskForm):
    site_id = SelectField(_l("Site"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])


class PanelForm(RoomForm):
    pass


class FeedForm(FlaskForm):
    panel_id = SelectField(_l("Power panel"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    phase = SelectField(_l("Phase"), choices=PHASES)
    voltage = SelectField(
        _l("Voltage (V)"), coerce=int, choices=[SelectChoice(v, str(v)) for v in R.VOLTAGES], default=230
    )
    amperage = _n(_l("Amperage (A)"), 1, 400, 16)
    max_utilisation = _n(_l("Maximum utilisation (per cent)"), 1, 100, 80)


class RackForm(FlaskForm):
    room_id = SelectField(_l("Room"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    height_u = _n(_l("Height (U)"), 1, R.MAX_RACK_U, 42)
    depth_mm = _n(_l("Depth (mm)"), 100, 2000, 1000)
    feed_a_id = SelectField(_l("Feed A"), coerce=int)
    feed_b_id = SelectField(_l("Feed B"), coerce=int)


class SwitchForm(FlaskForm):
    room_id = SelectField(_l("Room"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    ports = _n(_l("Ports"), 1, 96, 24)
    speed_mbps = SelectField(_l("Port speed"), coerce=int, choices=SPEEDS, default=1000)
    medium = SelectField(_l("Port medium"), choices=MEDIA)


class PatchPanelForm(FlaskForm):
    room_id = SelectField(_l("Room"), coerce=int)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    ports = _n(_l("Ports"), 1, 144, 24)
    medium = SelectField(_l("Medium"), choices=MEDIA, default="fibre")


class PrefixForm(FlaskForm):
    site_id = SelectField(_l("Site"), coerce=int)
    cidr = StringField(_l("Network (CIDR)"), validators=[DataRequired(), Length(max=50)])
    vlan = _n(_l("VLAN"), 1, 4094, required=False)
    description = StringField(_l("Description"), validators=[Length(max=100)])


VLAN_STATUSES = [
    SelectChoice("active", _l("Active")),
    SelectChoice("reserved", _l("Reserved")),
    SelectChoice("deprecated", _l("Deprecated")),
]


class VlanForm(FlaskForm):
    site_id = SelectField(_l("Site"), coerce=int)
    # 0: the whole site; the service refuses a room at another site (validate_choice off: the
    # service's message, not WTForms')
    room_id = SelectField(_l("Room"), coerce=int, default=0, validate_choice=False)
    vid = _n(_l("VLAN ID (VID)"), 1, 4094)
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    status = SelectField(_l("Status"), choices=VLAN_STATUSES, default="active")


class ActionForm(FlaskForm):
    """A button that only carries the CSRF token."""


class VisitorForm(FlaskForm):
    org_id = SelectField(_l("Organization"), coerce=int)
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=100)])
    id_number = StringField(_l("ID card or passport number"), validators=[DataRequired(), Length(max=40)])
    company = StringField(_l("Company"), validators=[Length(max=100)])
    valid_from = StringField(_l("Valid from (UTC)"), validators=[DataRequired(), Length(max=40)])
    valid_until = StringField(_l("Valid until (UTC)"), validators=[DataRequired(), Length(max=40)])
    temporary = BooleanField(_l("Temporary pass (at most 24 hours)"))


class SignerForm(FlaskForm):
    org_id = SelectField(_l("Organization"), coerce=int)
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])


class ServerForm(FlaskForm):
    name = StringField(_l("Host name"), validators=[DataRequired(), Length(max=63)])
    address = StringField(_l("Address its SSH server answers on"), validators=[DataRequired(), Length(max=45)])
    serial = StringField(_l("Serial number"), validators=[Length(max=100)])
    fingerprint = StringField(_l("SSH host key fingerprint (SHA256:…)"), validators=[Length(max=60)])


class HandOverForm(FlaskForm):
    management = SelectField(
        _l("Management"),
        choices=[
            SelectChoice("customer", _l("Customer-managed (inventory only)")),
            SelectChoice("hosting", _l("Offered for hosting roles")),
        ],
    )
    roles = SelectMultipleField(_l("Hosting roles"))
    fingerprint = StringField(_l("SSH host key fingerprint (SHA256:…)"), validators=[Length(max=60)])


class DecommissionForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[Length(max=100)])


class NetboxImportForm(FlaskForm):
    file = FileField(_l("NetBox CSV or JSON file"))
    object = SelectField(_l("Object type (for a CSV file)"))
