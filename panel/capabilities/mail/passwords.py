"""Mailbox passwords: the policy (each broken rule has its own error key) and panel-side hashing.

The clear password exists only in the request that carries it: it is checked, hashed here into a
scheme dovecot verifies, and only the hash is sealed on the request and then the job. It never
reaches the database in clear, the host, a log or job output.

Both profiles are argon2id (dovecot's {ARGON2ID}, libsodium: one lane). A password a person sets
alone (reset, a single new mailbox) gets the full profile, RFC 9106's second recommendation as
OWASP sizes it (m=19 MiB, t=2: 33 ms of CPU here). The first passwords of a batch (up to
rules.MAX_BATCH in one request, what bulk files make) get BATCH: m=1 MiB, t=1, 0.5 ms of CPU each,
so 1,000 cost half a second on this machine's two cores instead of 33 s; still memory-hard, so an
attacker's GPU pays for a mebibyte of memory per guess. The owner's own reset moves a mailbox to the
full profile. docs/security.md says why this, and not hashing later in the job.
Lines of older batches ({SHA512-CRYPT}) are still accepted wherever a hash is checked.
"""

from __future__ import annotations

import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher

from panel.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 128
ARGON2 = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
BATCH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
# Passwords people pick when told "a strong password"; refused whatever their length.
COMMON = frozenset(
    {
        "password1234",
        "p@ssw0rd1234",
        "qwertyuiop12",
        "123456789012",
        "administrator",
        "welcome12345",
        "changeme1234",
        "cambodia1234",
        "khmer1234567",
        "passw0rd!234",
    }
)


def _broken(rule: str, message: str, **params) -> Invalid:
    return Invalid(f"mail.password_{rule}", message, field="password", **params)


def password_check(password, *, address: str = "") -> str:
    """The password, or Invalid naming the rule it broke (mail.password_<rule>)."""
    if not isinstance(password, str) or not password:
        raise _broken("required", "A password is required.")
    if "\x00" in password or any(unicodedata.category(c) == "Cc" for c in password):
        raise _broken("control", "The password must not contain control characters.")
    if len(password) < MIN_LENGTH:
        raise _broken("short", "The password must have at least {min} characters.", min=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        raise _broken("long", "The password must have at most {max} characters.", max=MAX_LENGTH)
    if ":" in password or password != password.strip():
        raise _broken("chars", "The password must not contain ':' or begin or end with a space.")
    classes = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if classes < 3 and len(password) < 20:
        raise _broken("classes", "Use three of: lower case, upper case, digits, symbols (or 20 characters).")
    if len(set(password)) < 6:
        raise _broken("repetitive", "The password repeats too few different characters.")
    lowered = password.lower()
    local = address.split("@", 1)[0].lower()
    if lowered in COMMON or (len(local) >= 4 and local in lowered):
        raise _broken("guessable", "The password is too easy to guess (a common password or the address).")
    return password


def hash_argon2id(password: str) -> str:
    return "{ARGON2ID}" + ARGON2.hash(password)


def hash_many(passwords: list[str]) -> list[str]:
    """The BATCH profile for a batch's first passwords, on every core (argon2-cffi releases the GIL)."""
    n = min(os.cpu_count() or 2, max(1, len(passwords) // 8))
    if n == 1:
        return _batch_hashes(passwords)
    parts = [passwords[i::n] for i in range(n)]  # one slice per thread: not a future per password
    with ThreadPoolExecutor(max_workers=n) as pool:
        done = list(pool.map(_batch_hashes, parts))
    out: list[str] = [""] * len(passwords)
    for i, hashes in enumerate(done):
        out[i::n] = hashes
    return out


def _batch_hashes(passwords: list[str]) -> list[str]:
    return ["{ARGON2ID}" + BATCH.hash(p) for p in passwords]


SCHEME_RE = re.compile(r"^\{(ARGON2ID|SHA512-CRYPT)\}\$")


def is_hash(value) -> bool:
    return isinstance(value, str) and bool(SCHEME_RE.match(value)) and len(value) < 300
