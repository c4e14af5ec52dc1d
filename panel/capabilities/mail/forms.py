"""Forms of the mail pages. Their limits are the request kinds' schemas' (mail.kinds): what the
form checks is what the API publishes and the service enforces; the services do the real
validation (names, passwords, policy)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail.kinds import AliasPayload, MailboxQuotaPayload, MailDomainPayload
from panel.services.request_kinds import field_limits
from panel.web.common import SchemaLength

QUOTA = NumberRange(*field_limits(MailboxQuotaPayload, "quota_mb"))
_DESTINATIONS = field_limits(AliasPayload, "destinations")[1] * (field_limits(AliasPayload, "destinations[]")[1] + 1)


class DomainForm(FlaskForm):
    org_id = SelectField(_l("Ministry or department"), coerce=int, validators=[InputRequired()])
    name = StringField(
        _l("Domain (verified first under DNS)"),
        validators=[DataRequired(), SchemaLength(MailDomainPayload, "name")],
    )
    contact = StringField(
        _l("Contact for postmaster@ and abuse@"),
        validators=[DataRequired(), SchemaLength(MailDomainPayload, "contact")],
    )
    external_forwarding = BooleanField(_l("Allow forwarding to addresses outside the ministry"))
    on_suspend = SelectField(
        _l("Mail for a suspended mailbox"),
        choices=[SelectChoice("defer", _l("Defer (senders retry)")), SelectChoice("reject", _l("Reject at once"))],
    )
    default_quota_mb = IntegerField(_l("Mailbox size (MB)"), default=1024, validators=[InputRequired(), QUOTA])


class MailboxesForm(FlaskForm):
    entries = TextAreaField(
        _l("Mailboxes, one per line: name,password[,display name]"), validators=[DataRequired(), Length(max=200_000)]
    )
    quota_mb = IntegerField(_l("Size of each (MB); empty: the domain's"), validators=[Optional(), QUOTA])


class AliasForm(FlaskForm):
    source = StringField(
        _l("Alias (the part before @)"),
        validators=[DataRequired(), SchemaLength(AliasPayload, "source")],
    )
    destinations = TextAreaField(  # up to MAX_DESTINATIONS addresses, one a line
        _l("Delivers to (addresses, one per line)"), validators=[DataRequired(), Length(max=_DESTINATIONS)]
    )


class QuotaForm(FlaskForm):
    quota_mb = IntegerField(_l("New size (MB)"), validators=[InputRequired(), QUOTA])


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=pw.MAX_LENGTH)])
    confirm = PasswordField(
        _l("Repeat the password"), validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))]
    )


class ConfirmForm(FlaskForm):
    """Buttons that change something: CSRF only."""
