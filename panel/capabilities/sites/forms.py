"""Forms of the website pages. Their limits are the request kinds' schemas' (sites.kinds): what the
form checks is what the API publishes and the service enforces; the services decide the rest
(names, plans, keys and certificates)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from panel.capabilities.sites.certs import MAX_PFX_PASSWORD
from panel.capabilities.sites.kinds import MAX_CERT, SiteAliasPayload, SiteCertPayload, SiteCreatePayload
from panel.capabilities.sites.service import MAX_ALIASES, MAX_CUSTOM_NGINX
from panel.services.request_kinds import field_limits, field_pattern
from panel.web.common import SchemaLength

_NAME = field_limits(SiteCreatePayload, "fqdn")[1]
_PHP = field_limits(SiteCreatePayload, "php_version")[1]
_PLAN = field_limits(SiteCreatePayload, "plan")[1]
_CERT = field_limits(SiteCertPayload, "certificate")[1]
_CHAIN = field_limits(SiteCertPayload, "chain")[1]
assert field_limits(SiteAliasPayload, "alias")[1] == _NAME and _CERT == _CHAIN == MAX_CERT

TLS_CHOICES = [SelectChoice("acme", _l("Automatic certificate (ACME)")), SelectChoice("none", _l("No HTTPS for now"))]


class SiteCreateForm(FlaskForm):
    fqdn = StringField(
        _l("Site name"),
        validators=[DataRequired(), SchemaLength(SiteCreatePayload, "fqdn")],
        render_kw={"autocapitalize": "none", "placeholder": "www.mptc.gov.kh"},
    )
    aliases = StringField(
        _l("Other names (aliases), separated by spaces"),
        validators=[Length(max=MAX_ALIASES * (_NAME + 1))],  # up to MAX_ALIASES names and their spaces
        render_kw={"autocapitalize": "none"},
    )
    plan = SelectField(_l("Plan"), choices=[], validators=[DataRequired(), Length(max=_PLAN)])
    php_version = StringField(
        _l("PHP version"),
        default="8.2",
        validators=[Length(max=_PHP)],
        render_kw={"pattern": field_pattern(SiteCreatePayload, "php_version").strip("^$")},
    )
    tls = SelectField(_l("HTTPS"), choices=TLS_CHOICES, default="acme")
    org_id = SelectField(_l("Organization"), choices=[], coerce=int, validators=[Optional()])
    host_id = IntegerField(_l("Host id (operators only)"), validators=[Optional()])
    exceed_capacity = BooleanField(_l("Place on this host even if it is full (recorded in the audit log)"))


class PlanForm(FlaskForm):
    plan = SelectField(_l("New plan"), choices=[], validators=[DataRequired()])


class AliasForm(FlaskForm):
    alias = StringField(
        _l("Alias"),
        validators=[DataRequired(), SchemaLength(SiteAliasPayload, "alias")],
        render_kw={"autocapitalize": "none"},
    )


class ConfirmForm(FlaskForm):
    """Suspend, unsuspend, delete, remove: a CSRF-protected button."""


class SftpKeyForm(FlaskForm):
    public_key = TextAreaField(
        _l("SSH public key"),
        validators=[DataRequired(), Length(max=16000)],
        render_kw={"rows": 3, "placeholder": "ssh-ed25519 AAAA... name@laptop"},
    )


class CertUploadForm(FlaskForm):
    """The PEM fields, or a PFX file and its password (the service refuses both or neither)."""

    certificate = TextAreaField(_l("Certificate (PEM)"), validators=[Length(max=_CERT)], render_kw={"rows": 6})
    chain = TextAreaField(_l("Intermediate certificates (PEM)"), validators=[Length(max=_CHAIN)], render_kw={"rows": 6})
    private_key = TextAreaField(
        _l("Private key (PEM, without passphrase)"), validators=[Length(max=MAX_CERT)], render_kw={"rows": 6}
    )
    pfx = FileField(_l("Or a PFX file (with its key and chain)"), render_kw={"accept": ".pfx,.p12"})
    pfx_password = PasswordField(_l("PFX password"), validators=[Length(max=MAX_PFX_PASSWORD)])


class CustomNginxForm(FlaskForm):
    custom_nginx = TextAreaField(
        _l("Custom nginx directives (operators)"),
        validators=[Length(max=MAX_CUSTOM_NGINX)],  # the service's own limit
        render_kw={"rows": 6, "class": "mono", "maxlength": MAX_CUSTOM_NGINX},
    )


class PlanCreateForm(FlaskForm):
    """A hosting plan (data-center admins); the service checks the same limits again."""

    name = StringField(_l("Plan name"), validators=[DataRequired(), Length(max=64)])
    disk_mb = IntegerField(_l("Disk (MB)"), default=1000, validators=[DataRequired(), NumberRange(10, 10**7)])
    memory_mb = IntegerField(_l("PHP memory (MB)"), default=128, validators=[DataRequired(), NumberRange(16, 8192)])
    max_children = IntegerField(_l("PHP workers"), default=5, validators=[DataRequired(), NumberRange(1, 200)])
    upload_mb = IntegerField(_l("Largest upload (MB)"), default=32, validators=[DataRequired(), NumberRange(1, 2048)])
    max_execution_s = IntegerField(
        _l("Longest PHP run (seconds)"), default=30, validators=[DataRequired(), NumberRange(5, 3600)]
    )
    os = SelectField(
        _l("Operating system"),
        choices=[SelectChoice("linux", "Linux (nginx)"), SelectChoice("windows", "Windows (IIS)")],
    )
    managed_runtime = SelectField(
        _l(".NET runtime (Windows)"),
        choices=[
            SelectChoice("", _l("No managed code")),
            SelectChoice("v4.0", ".NET CLR v4.0"),
            SelectChoice("v2.0", ".NET CLR v2.0"),
        ],
    )
