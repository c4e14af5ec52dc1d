"""Forms of the DNS pages: a record, a zone request, a domain claim, apply (dry run / force)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from panel.capabilities.dns.kinds import ZoneCreatePayload
from panel.web.common import SchemaLength

TYPES = [SelectChoice(t, t) for t in ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")]


class RecordForm(FlaskForm):
    name = StringField(_l("Name (@ for the zone itself)"), validators=[Length(max=253)], default="@")
    rtype = SelectField(_l("Type"), choices=TYPES)
    data = StringField(_l("Data"), validators=[DataRequired(), Length(max=8000)])
    ttl = IntegerField(_l("TTL (seconds)"), validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])


class ZoneRequestForm(FlaskForm):
    org_id = SelectField(_l("Organization"), coerce=int)
    name = StringField(_l("Zone (domain)"), validators=[DataRequired(), SchemaLength(ZoneCreatePayload, "name")])


class ClaimForm(FlaskForm):
    org_id = SelectField(_l("Organization"), coerce=int)
    domain = StringField(_l("Domain"), validators=[DataRequired(), Length(max=253)])


class ApplyForm(FlaskForm):
    force = BooleanField(_l("Also remove records govhost did not make (staff)"))


class ActionForm(FlaskForm):
    """A button that only carries the CSRF token."""


class SuffixForm(FlaskForm):
    """The suffixes one organization may claim names under (data-center admins)."""

    org_id = SelectField(_l("Organization"), coerce=int)
    suffixes = TextAreaField(
        _l("Suffixes, one a line (empty: none)"), validators=[Length(max=20000)], render_kw={"rows": 4}
    )


class ServerSetupForm(FlaskForm):
    """Install or re-converge BIND on a host with role dns."""

    host_id = SelectField(_l("Host"), coerce=int)
    secondaries = StringField(_l("Addresses of secondary servers (separated by spaces)"), validators=[Length(max=2000)])
