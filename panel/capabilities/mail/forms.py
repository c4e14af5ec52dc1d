"""Forms of the mail pages; the services do the real validation (names, passwords, policy)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from panel.capabilities.mail import passwords as pw

QUOTA = NumberRange(min=10, max=102400)


class DomainForm(FlaskForm):
    org_id = SelectField(_l("Ministry or department"), coerce=int, validators=[InputRequired()])
    name = StringField(_l("Domain (verified first under DNS)"), validators=[DataRequired(), Length(max=253)])
    contact = StringField(_l("Contact for postmaster@ and abuse@"), validators=[DataRequired(), Length(max=300)])
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
    source = StringField(_l("Alias (the part before @)"), validators=[DataRequired(), Length(max=64)])
    destinations = TextAreaField(
        _l("Delivers to (addresses, one per line)"), validators=[DataRequired(), Length(max=5000)]
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
