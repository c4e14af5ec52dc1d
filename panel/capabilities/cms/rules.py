"""Input rules of WordPress instances: pure functions, each error under its field."""

from __future__ import annotations

import re
import secrets
import string

from panel.errors import Invalid
from panel.services import users as users_svc

ADMIN_RE = re.compile(r"^[a-z][a-z0-9._-]{2,59}$")
MAX_TITLE = 200
LANGUAGES = ("en", "km")  # km needs a language pack on the host (see docs/cms.md); en is WordPress's own
ADMIN_PASSWORD_LENGTH = 24  # generated, shown once
DB_PASSWORD_LENGTH = 32
SALT_KEYS = (
    "AUTH_KEY",
    "SECURE_AUTH_KEY",
    "LOGGED_IN_KEY",
    "NONCE_KEY",
    "AUTH_SALT",
    "SECURE_AUTH_SALT",
    "LOGGED_IN_SALT",
    "NONCE_SALT",
)
_SALT_ALPHABET = string.ascii_letters + string.digits  # nothing a PHP string literal would treat specially


def clean_title(value) -> str:
    if not isinstance(value, str) or len(value) > MAX_TITLE or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid(
            "cms.title_invalid",
            "The title is text of at most {max} characters, without control characters.",
            field="title",
            max=MAX_TITLE,
        )
    value = value.strip()
    if not value:
        raise Invalid("cms.title_required", "Give the site a title.", field="title")
    return value


def clean_admin_user(value) -> str:
    if not isinstance(value, str) or not ADMIN_RE.match(value):
        raise Invalid(
            "cms.admin_user_invalid",
            "The administrator's name is 3-60 lowercase letters, digits, '.', '_' or '-', starting with a letter.",
            field="admin_user",
        )
    if value in ("admin", "administrator", "root"):  # the first names password-guessing bots try
        raise Invalid("cms.admin_user_guessable", "Choose a less guessable administrator name.", field="admin_user")
    return value


def clean_email(value) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if len(value) > 254 or not users_svc.EMAIL_RE.match(value):
        raise Invalid("cms.email_invalid", "This is not a valid e-mail address.", field="admin_email")
    return value


def clean_language(value) -> str:
    value = value or "en"
    if value not in LANGUAGES:
        raise Invalid("cms.language_invalid", "Choose English or Khmer.", field="language")
    return value


def check_admin_password(password, admin_user: str) -> str:
    if not isinstance(password, str) or len(password) > 128:
        raise Invalid(
            "cms.password_invalid", "The password must be text of at most 128 characters.", field="admin_password"
        )
    try:
        users_svc.check_password_policy(password, admin_user)
    except Invalid as err:
        err.field = "admin_password"
        raise
    return password


def new_salts() -> dict[str, str]:
    """WordPress's eight keys and salts, 64 random characters each (generated per instance, sealed)."""
    return {k: "".join(secrets.choice(_SALT_ALPHABET) for _ in range(64)) for k in SALT_KEYS}


APP_ROLES = ("author", "contributor", "editor")  # least privilege first: what an app may be given
APP_PASSWORD_LENGTH = 24  # WordPress's own length; letters and digits, as WordPress checks them
MAX_APP_NAME = 60


def clean_app_name(value) -> str:
    """The app's name, as WordPress lists it beside the password (one per instance among live ones)."""
    if not isinstance(value, str) or len(value) > MAX_APP_NAME or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid(
            "cms.app_name_invalid",
            "The app's name is text of at most {max} characters, without control characters.",
            field="name",
            max=MAX_APP_NAME,
        )
    value = " ".join(value.split())
    if not value:
        raise Invalid("cms.app_name_required", "Name the app.", field="name")
    return value


def clean_app_role(value) -> str:
    value = value or APP_ROLES[0]
    if value not in APP_ROLES:
        raise Invalid("cms.app_role_invalid", "Choose author, contributor or editor.", field="role")
    return value
