"""Forms of the WordPress pages. Their limits are the request kind's schema's (cms.kinds): what the
form checks is what the API publishes and the service enforces; the rules decide the rest."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Optional

from panel.capabilities.cms.apps import AppPasswordPayload
from panel.capabilities.cms.kinds import InstancePayload, SiteInstancePayload
from panel.capabilities.cms.staging import StagingPayload
from panel.web.common import SchemaLength


def language_choices() -> list[SelectChoice]:
    return [SelectChoice("en", "English"), SelectChoice("km", "ខ្មែរ (Khmer)")]


class InstanceForm(FlaskForm):
    org_id = SelectField(_l("Ministry or department"), coerce=int, validators=[InputRequired()])
    site_id = SelectField(_l("Website"), coerce=int, validators=[InputRequired()])  # 0: a new one (below)
    new_fqdn = StringField(
        _l("New website's name"),
        validators=[Optional(), SchemaLength(SiteInstancePayload, "fqdn")],
        description=_l("Made in the same request, with WordPress on it: one approval."),
        render_kw={"autocapitalize": "none"},
    )
    plan = SelectField(_l("Hosting plan"), validators=[Optional()])
    title = StringField(_l("Site title"), validators=[DataRequired(), SchemaLength(InstancePayload, "title")])
    admin_user = StringField(
        _l("Administrator's login"),
        validators=[DataRequired(), SchemaLength(InstancePayload, "admin_user")],
        description=_l("Not admin or root: those are the first names bots try. Its password is made for you."),
        render_kw={"autocapitalize": "none", "autocomplete": "off"},
    )
    admin_email = StringField(
        _l("Administrator's e-mail"),
        validators=[DataRequired(), SchemaLength(InstancePayload, "admin_email")],
        render_kw={"type": "email", "autocapitalize": "none"},
    )
    language = SelectField(_l("Language"), choices=language_choices(), default="en")


class ConfirmForm(FlaskForm):
    """Buttons that change something: CSRF only."""


class AppPasswordForm(FlaskForm):
    name = StringField(
        _l("App name"),
        validators=[DataRequired(), SchemaLength(AppPasswordPayload, "name")],
        description=_l("As WordPress lists it, e.g. Ministry mobile app."),
    )
    role = SelectField(
        _l("WordPress role"),
        choices=[
            SelectChoice("author", _l("Author: writes and publishes its own posts")),
            SelectChoice("contributor", _l("Contributor: writes drafts, cannot publish")),
            SelectChoice("editor", _l("Editor: publishes and edits every post")),
        ],
        default="author",
    )


class StagingForm(FlaskForm):
    fqdn = StringField(
        _l("Staging copy's name"),
        validators=[DataRequired(), SchemaLength(StagingPayload, "fqdn")],
        description=_l("A name of a domain of your ministry, e.g. staging.example.gov.kh."),
        render_kw={"autocapitalize": "none"},
    )
