"""Validation of what ministries type for mail: local parts, addresses, forwards, quotas.

Everything here ends up in postfix lookup tables and dovecot's users file on a mail host, where a
space, colon, comma or newline would change the meaning of a line; so the accepted alphabet is
small and explicit, and each refusal has its own key.
"""

from __future__ import annotations

import re
import unicodedata

from panel.errors import Invalid
from panel.services.names import clean_hostname

MAX_LOCAL = 64
LOCAL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
# RFC 2142 role mailboxes: postmaster and abuse must reach a person for every domain; govhost
# makes them aliases to the domain's contact when the domain is created. They (and the other
# role names) may be aliases, never personal mailboxes.
ROLE_NAMES = frozenset({"postmaster", "abuse", "hostmaster", "webmaster", "security", "noc"})
REQUIRED_ROLES = ("postmaster", "abuse")
# Names the mail system itself uses: never a mailbox nor an alias.
SYSTEM_NAMES = frozenset({"mailer-daemon", "root", "nobody", "vmail", "dovecot", "postfix", "opendkim"})
MAX_DESTINATIONS = 50
MAX_ALIAS_BATCH = 1000  # aliases of one domain in one mail.alias_batch request (bulk files batch by it)
MIN_QUOTA_MB, MAX_QUOTA_MB = 10, 102400
MAX_BATCH = 1000
# A mailbox batch as typed in the web form or given to the CLI (read by services.tabular).
BATCH_COLUMNS = ("local_part", "password", "display_name")


def _shown(value) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text[:64] + ("..." if len(text) > 64 else "")


def clean_local_part(value, field: str = "local_part", *, role_ok: bool = False) -> str:
    """A local part in lower case, or Invalid naming the rule it broke."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("mail.local_part_required", "A mailbox name (the part before @) is required.", field=field)
    raw = unicodedata.normalize("NFC", value.strip()).lower()
    if len(raw) > MAX_LOCAL:
        raise Invalid(
            "mail.local_part_too_long", "The part before @ has at most {max} characters.", field=field, max=MAX_LOCAL
        )
    if not LOCAL_RE.match(raw) or ".." in raw:
        raise Invalid(
            "mail.local_part_invalid",
            "{value} may hold only letters a-z, digits, dots, hyphens and "
            "underscores, and must begin and end with a letter or digit.",
            field=field,
            value=_shown(raw),
        )
    if raw in SYSTEM_NAMES:
        raise Invalid("mail.local_part_system", "{value} is used by the mail system itself.", field=field, value=raw)
    if raw in ROLE_NAMES and not role_ok:
        raise Invalid(
            "mail.local_part_reserved",
            "{value} is a role address (RFC 2142): make it an alias to a person's mailbox instead.",
            field=field,
            value=raw,
        )
    return raw


def clean_address(value, field: str = "destinations") -> str:
    """A full address local@domain (any domain), normalised."""
    if not isinstance(value, str) or value.count("@") != 1:
        raise Invalid(
            "mail.address_invalid", "{value} is not a mail address (name@domain).", field=field, value=_shown(value)
        )
    local, domain = value.strip().rsplit("@", 1)
    local = clean_local_part(local, field, role_ok=True)
    return f"{local}@{clean_hostname(domain, field)}"


def split_words(text: str) -> list[str]:
    """A list typed in one box (separated by spaces, commas, semicolons or lines) -> its items."""
    return [v for v in re.split(r"[\s,;]+", text) if v]


def clean_destinations(values, field: str = "destinations") -> list[str]:
    if isinstance(values, str):
        values = split_words(values)
    if not isinstance(values, (list, tuple)) or not values:
        raise Invalid("mail.destinations_required", "Give at least one destination address.", field=field)
    if len(values) > MAX_DESTINATIONS:
        raise Invalid("mail.destinations_too_many", "At most {max} destinations.", field=field, max=MAX_DESTINATIONS)
    return list(dict.fromkeys(clean_address(v, field) for v in values))


def clean_quota_mb(value, field: str = "quota_mb") -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_QUOTA_MB <= value <= MAX_QUOTA_MB:
        raise Invalid(
            "mail.quota_invalid",
            "A mailbox quota is a whole number of MB from {min} to {max}.",
            field=field,
            min=MIN_QUOTA_MB,
            max=MAX_QUOTA_MB,
        )
    return value


def clean_local_parts(values, field: str = "local_parts") -> list[str]:
    """A batch of new mailbox names: at least one, at most MAX_BATCH, no duplicates."""
    if isinstance(values, str):
        values = split_words(values)
    if not isinstance(values, (list, tuple)) or not values:
        raise Invalid("mail.local_parts_required", "Give at least one mailbox name.", field=field)
    if len(values) > MAX_BATCH:
        raise Invalid("mail.batch_too_large", "At most {max} mailboxes in one request.", field=field, max=MAX_BATCH)
    clean = [clean_local_part(v, field) for v in values]
    dupes = sorted({v for v in clean if clean.count(v) > 1}) if len(set(clean)) != len(clean) else []
    if dupes:
        raise Invalid("mail.local_part_duplicate", "{value} appears twice in the request.", field=field, value=dupes[0])
    return clean


def clean_display_name(value, field: str = "display_name") -> str:
    value = "" if value is None else value
    if not isinstance(value, str) or len(value) > 200 or any(unicodedata.category(c) == "Cc" for c in value):
        raise Invalid(
            "mail.display_name_invalid", "A display name is text of at most 200 characters on one line.", field=field
        )
    return value.strip()
