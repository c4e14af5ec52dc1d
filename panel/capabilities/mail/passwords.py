"""Mailbox passwords: the policy (each broken rule has its own error key) and panel-side hashing.

The clear password exists only in the request that carries it: it is checked, hashed here into a
scheme dovecot verifies, and only the hash is sealed on the request and then the job. It never
reaches the database in clear, the host, a log or job output.

Schemes: a password a user sets (reset, single create) is hashed with ARGON2ID (RFC 9106 second
recommended profile, m=19 MiB t=2: ~0.1 s here). A batch create hashes hundreds of first
passwords in one request, where argon2 would cost minutes; those use SHA512-CRYPT (glibc/libxcrypt
crypt(3), 5,000 rounds, dovecot's and Debian's long-time default), computed in C on all cores.
Dovecot reads the scheme from each line's {PREFIX}, so both live in one users file; a user's own
reset moves them to argon2id.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher

from panel.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 128
ARGON2 = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
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

_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1", use_errno=True)
_libcrypt.crypt_r.restype = ctypes.c_char_p
_libcrypt.crypt_r.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
_libcrypt.crypt_gensalt.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
CRYPT_DATA_SIZE = 32768  # struct crypt_data of libxcrypt
_local = threading.local()


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


def _crypt_buffer():
    if not hasattr(_local, "buf"):
        _local.buf = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    return _local.buf


def hash_sha512_crypt(password: str) -> str:
    salt = _libcrypt.crypt_gensalt(b"$6$", 5000, None, 0)
    out = _libcrypt.crypt_r(password.encode(), salt, _crypt_buffer())
    if not out or not out.startswith(b"$6$"):
        raise RuntimeError("crypt(3) could not hash with SHA512-CRYPT")
    return "{SHA512-CRYPT}" + out.decode()


def hash_many(passwords: list[str]) -> list[str]:
    """SHA512-CRYPT for a batch, on every core (crypt_r releases the GIL through ctypes)."""
    if len(passwords) < 8:
        return [hash_sha512_crypt(p) for p in passwords]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(hash_sha512_crypt, passwords, chunksize=32))


SCHEME_RE = re.compile(r"^\{(ARGON2ID|SHA512-CRYPT)\}\$")


def is_hash(value) -> bool:
    return isinstance(value, str) and bool(SCHEME_RE.match(value)) and len(value) < 300
