"""Password hashing (argon2id), TOTP (pyotp), opaque tokens, and the one helper for secrets at rest.

Everything in govhost that stores a secret encrypted goes through `seal`/`unseal` (MultiFernet):
the first key in `secret_keys` encrypts, every key decrypts, so keys rotate by prepending a new one
and running `govhost secrets rotate`.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import string

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# The panel's profiles. Passwords: argon2id with the library's RFC 9106 low-memory profile. Recovery
# codes carry 48 random bits, so OWASP's minimum argon2id profile (19 MiB, t=2) is ample and keeps
# making ten of them, or checking one against ten hashes, well under a second.
PASSWORD_PROFILE = PasswordHasher()
RECOVERY_CODE_PROFILE = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_hasher = PASSWORD_PROFILE
_recovery_hasher = RECOVERY_CODE_PROFILE

# Checked against even when the user does not exist, so timing does not tell which names exist. Made
# on first need (create_app makes it before the first request), not at import: one hash of the
# RFC 9106 profile is 0.2 s of CPU that every process importing the panel paid, workers and CLI too.
_DUMMY_HASH: str | None = None


def dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
    return _DUMMY_HASH


def use_hasher(hasher: PasswordHasher) -> None:
    """Make new password and recovery-code hashes with `hasher` from now on (and rehash others at login).

    Only the test suite calls this (tests/conftest.py, a cheap profile: the RFC 9106 profile costs
    0.16 s of CPU per login, a third of the CPU of the auth tests). Verification reads the profile
    from each stored hash, so hashes of either profile verify everywhere."""
    global _hasher, _recovery_hasher, _DUMMY_HASH
    _hasher = _recovery_hasher = hasher
    _DUMMY_HASH = None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_recovery_code(code: str) -> str:
    return _recovery_hasher.hash(code)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def new_password(length: int = 20) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


# ---- TOTP -------------------------------------------------------------------------------------


def totp_new_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str, issuer: str = "govhost") -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def totp_match(secret: str, code: str, last_step: int) -> int | None:
    """The time step a valid code belongs to (one step of drift allowed), or None.

    A step at or before `last_step` is refused, so a code seen once cannot be replayed.
    """
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(datetime.datetime.now())
    for step in (now - 1, now, now + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def recovery_codes(n: int = 10) -> list[str]:
    return ["-".join(secrets.token_hex(3) for _ in range(2)) for _ in range(n)]


# ---- opaque tokens (API tokens) -----------------------------------------------------------------

TOKEN_PREFIX = "gh_"  # noqa: S105  a public marker, not a secret


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens carry 256 random bits, so a plain SHA-256 is enough (no slow hash on every API call)."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---- secrets at rest ----------------------------------------------------------------------------


class SecretBox:
    def __init__(self, keys: tuple[str, ...] | list[str]):
        if not keys:
            raise ValueError("at least one secret key is required")
        self._f = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])

    def seal(self, plaintext: str) -> str:
        return self._f.encrypt(plaintext.encode()).decode()

    def unseal(self, token: str) -> str:
        try:
            return self._f.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("secret cannot be decrypted with the configured keys") from None

    def rotate(self, token: str) -> str:
        return self._f.rotate(token.encode()).decode()


_box: SecretBox | None = None


def configure(keys: tuple[str, ...] | list[str]) -> None:
    global _box
    _box = SecretBox(keys)


def box() -> SecretBox:
    if _box is None:
        raise RuntimeError("secret keys not configured")
    return _box


def seal(plaintext: str) -> str:
    return box().seal(plaintext)


def unseal(token: str) -> str:
    return box().unseal(token)


def new_fernet_key() -> str:
    return Fernet.generate_key().decode()
