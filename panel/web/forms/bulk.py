"""Forms of the bulk provisioning pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MultipleFileField, SelectField
from wtforms.validators import DataRequired


class BulkPlanForm(FlaskForm):
    org_id = SelectField(_l("Ministry"), validators=[DataRequired()], coerce=str)
    files = MultipleFileField(
        _l("Files"),
        description=_l("sites.csv, mailboxes.csv, aliases.csv, dns_records.csv, or one .yaml / .json file"),
    )
