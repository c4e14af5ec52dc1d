"""The audit log's filter form (a GET form: no CSRF token, nothing changes)."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, StringField
from wtforms.validators import Length, NumberRange, Optional


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = StringField(_l("Action starts with"), validators=[Optional(), Length(max=64)])
    actor = StringField(_l("Actor"), validators=[Optional(), Length(max=64)])
    object_type = StringField(_l("Object type"), validators=[Optional(), Length(max=32)])
    org_id = IntegerField(_l("Organization id"), validators=[Optional(), NumberRange(min=1, max=2**63 - 1)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])

    def since_dt(self) -> dt.datetime | None:
        d = self.since.data
        return dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC) if d else None

    def until_dt(self) -> dt.datetime | None:
        """The end day is included: entries before the next midnight."""
        d = self.until.data
        if not d or d >= dt.date.max:
            return None
        return dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


class VerifyForm(FlaskForm):
    """The verify button: only the CSRF token."""
