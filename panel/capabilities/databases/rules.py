"""Validation and the engine-side facts of tenant databases: names, privilege profiles, verifiers.

Names reach SQL as identifiers. They are accepted from a small alphabet (a-z, 0-9, _), and on the
host each is still quoted by the driver's own quoting (community.mysql's `mysql_quote_identifier`,
psycopg2's `sql.Identifier`), never by string formatting. Every name gets its ministry's prefix
(letters of the slug + the ministry's id + "_"), so two ministries' names never collide and
govhost's objects are recognisable on a shared server.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import os
import re
import secrets

from panel.capabilities.databases.models import Engine, Profile
from panel.errors import Invalid
from panel.services import users as users_svc

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_DB_SUFFIX = 32  # + prefix (at most 8 letters + id + "_") stays under 64 (MariaDB), 63 (PostgreSQL)
MAX_USER_SUFFIX = 16  # full user names stay at most 32 characters (MariaDB's portable limit)
RESERVED = frozenset({"mysql", "information_schema", "performance_schema", "sys", "postgres", "root", "public"})
MIN_SIZE_MB, MAX_SIZE_MB = 10, 1_048_576
MIN_CONN, MAX_CONN = 1, 1000
MAX_GRANTS = 50  # databases one user may reach: its page lists them all
DEFAULT_SIZE_MB, DEFAULT_CONN = 1024, 20
ENGINES = tuple(e.value for e in Engine)
PROFILES = tuple(p.value for p in Profile)
PASSWORD_MAX = 128
MAX_REMOTE_DAYS = 90  # remote access lasts at most this long; asking again is a new request
REASON_MIN, REASON_MAX = 5, 300
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default for scram-sha-256

# Profile -> privileges on one database (MariaDB GRANT ... ON `db`.*). No GRANT OPTION, ever.
MARIADB_PRIVILEGES: dict[Profile, tuple[str, ...]] = {
    Profile.OWNER: ("ALL PRIVILEGES",),
    Profile.READ_WRITE: (
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE TEMPORARY TABLES",
        "LOCK TABLES",
        "EXECUTE",
        "SHOW VIEW",
    ),
    Profile.READ_ONLY: ("SELECT", "SHOW VIEW"),
}


def prefix_of(slug: str, org_id: int) -> str:
    """ "mptc3_": the letters of the ministry's slug (at most 8) and its id. Letters then digits then
    "_" parse one way only, so two ministries' prefixes differ and neither starts the other."""
    letters = re.sub(r"[^a-z]", "", slug.lower())[:8] or "m"
    return f"{letters}{int(org_id)}_"


def _shown(value) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text[:40] + ("..." if len(text) > 40 else "")


def clean_suffix(value, field: str, max_len: int) -> str:
    """The part of a name the ministry chooses (its prefix is added), or Invalid naming the rule."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("databases.name_required", "A name is required.", field=field)
    raw = value.strip().lower()
    if len(raw) > max_len:
        raise Invalid("databases.name_too_long", "A name has at most {max} characters.", field=field, max=max_len)
    if not NAME_RE.match(raw):
        raise Invalid(
            "databases.name_invalid",
            "{value} may hold only letters a-z, digits and underscores, and must begin with a letter.",
            field=field,
            value=_shown(value),
        )
    if raw in RESERVED or raw.startswith(("template", "pg_", "mysql")):
        raise Invalid("databases.name_reserved", "{value} is reserved by the database server.", field=field, value=raw)
    return raw


def clean_engine(value, field: str = "engine") -> Engine:
    if value not in ENGINES:
        raise Invalid("databases.engine_invalid", "Choose MariaDB or PostgreSQL.", field=field)
    return Engine(value)


def clean_profile(value, field: str = "profile") -> Profile:
    if value not in PROFILES:
        raise Invalid("databases.profile_invalid", "Choose owner, read-write or read-only.", field=field)
    return Profile(value)


def clean_int(value, field: str, lo: int, hi: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        if field == "size_mb":
            raise Invalid(
                "databases.size_invalid",
                "The size budget is a whole number of MB from {min} to {max}.",
                field=field,
                min=lo,
                max=hi,
            )
        raise Invalid(
            "databases.conn_limit_invalid",
            "The connection limit is a whole number from {min} to {max}.",
            field=field,
            min=lo,
            max=hi,
        )
    return value


def check_password(password, username: str) -> str:
    """The data center's password policy (the same as for panel accounts), under the field `password`."""
    if not isinstance(password, str) or len(password) > PASSWORD_MAX:
        raise Invalid(
            "databases.password_invalid", "The password must be text of at most 128 characters.", field="password"
        )
    try:
        users_svc.check_password_policy(password, username)
    except Invalid as err:
        err.field = "password"
        raise
    return password


# ---- verifiers: what the server stores instead of the password ----------------------------------


def mariadb_verifier(password: str) -> str:
    """mysql_native_password's stored form: "*" + upper hex SHA1(SHA1(password))."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()  # noqa: S324 (the server's scheme)


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier (RFC 5802/7677), as pg_authid stores it; the server takes
    it in CREATE/ALTER ROLE ... PASSWORD and never sees the password. (No SASLprep: passwords that
    are printable ASCII or already normalised hash alike.)"""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def verifiers(password: str) -> dict[str, str]:
    return {"mariadb": mariadb_verifier(password), "postgresql": scram_verifier(password)}


def is_verifier(engine: str, value) -> bool:
    if not isinstance(value, str):
        return False
    if engine == "mariadb":
        return bool(re.fullmatch(r"\*[0-9A-F]{40}", value))
    return value.startswith("SCRAM-SHA-256$")


# ---- remote access --------------------------------------------------------------------------------


def clean_cidr(value, engine: Engine, field: str = "cidr") -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A network in CIDR form (an address alone is a /32 or /128); host bits must be zero, so what is
    approved is exactly what is written. MariaDB matches networks as IPv4 address/netmask only."""
    raw = value.strip() if isinstance(value, str) else ""
    try:
        net = ipaddress.ip_network(raw, strict=True)
    except ValueError:
        raise Invalid(
            "databases.cidr_invalid",
            "{value} is not a network in CIDR form (203.0.113.0/24) with its host bits zero.",
            field=field,
            value=_shown(value),
        ) from None
    if engine == Engine.MARIADB and net.version != 4:
        raise Invalid("databases.cidr_ipv6", "MariaDB remote access takes IPv4 networks only.", field=field)
    return net


def is_open_to_all(net) -> bool:
    """0.0.0.0/0 or ::/0: the whole Internet (only a data-center admin approves it)."""
    return net.prefixlen == 0


def clean_expiry(value, now: dt.datetime, field: str = "expires_at") -> dt.datetime:
    """A date (access ends when that day ends, UTC) or an ISO date-time; in the future and at most
    MAX_REMOTE_DAYS away."""
    when = None
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        raw = value.strip()
        try:
            when = (dt.datetime.fromisoformat(raw[:10]) + dt.timedelta(days=1)) if len(raw) == 10 else None
            when = when or dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            when = None
    if when is None:
        raise Invalid(
            "databases.expiry_invalid", "Give the expiry as a date (2027-01-31) or an ISO date and time.", field=field
        )
    when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
    if when <= now or when > now + dt.timedelta(days=MAX_REMOTE_DAYS):
        raise Invalid(
            "databases.expiry_range",
            "Remote access must end in the future and within {days} days.",
            field=field,
            days=MAX_REMOTE_DAYS,
        )
    return when


def clean_reason(value, field: str = "reason") -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not REASON_MIN <= len(text) <= REASON_MAX or any(not ch.isprintable() for ch in text):
        raise Invalid(
            "databases.reason_invalid",
            "Say why, in one line of {min} to {max} characters.",
            field=field,
            min=REASON_MIN,
            max=REASON_MAX,
        )
    return text


def mariadb_host(network: str) -> str:
    """A network as MariaDB's account host: the address alone for a /32, else address/netmask."""
    net = ipaddress.ip_network(network, strict=False)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return f"{net.network_address}/{net.netmask}"


# ---- the web console (phpMyAdmin for MariaDB, Adminer for PostgreSQL) -------------------------------

CONSOLE_PREFIX = "govhost_console_"  # no ministry prefix starts so (letters, then digits, then "_")
# the sign-on pages: a small page before phpMyAdmin; Adminer's wrapper takes the ticket itself
CONSOLE_PATHS = {Engine.MARIADB: "/signon/mariadb.php", Engine.POSTGRESQL: "/adminer/"}
CONSOLE_MIN_MINUTES, CONSOLE_MAX_MINUTES = 1, 60


def console_login(console_id: int) -> str:
    """The temporary login's name on the server: outside every ministry's prefix, so drift checks
    and repairs never see it, and unique per console session."""
    return f"{CONSOLE_PREFIX}{int(console_id)}"


def console_ticket() -> tuple[str, str]:
    """(ticket, its SHA-256 hex): the browser carries the ticket once; the host's file is named by
    the digest, and the panel keeps only the digest."""
    ticket = secrets.token_urlsafe(32)
    return ticket, hashlib.sha256(ticket.encode()).hexdigest()


def console_url(address: str, port: int, engine: Engine) -> str:
    """The console's sign-on page on the DB host (the ticket goes in the POST body, or in the
    query for a link from the API or the CLI)."""
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{int(port)}{CONSOLE_PATHS[engine]}"
