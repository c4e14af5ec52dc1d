"""The one scrubber for everything a run produces: event stdout, event data, explanations, logs.

A secret can leak in more than one spelling: as-is, base64 (a module that encodes content),
URL-quoted (a connection string) or JSON-escaped. Every spelling of every secret is replaced.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "********"
# Shorter values would turn ordinary words into masks; callers keep secrets long (passwords, keys).
MIN_LEN = 4


def spellings(secret: str) -> set[str]:
    raw = secret.encode()
    # URL quoting with and without "/" kept (urllib's and Jinja's urlencode default), plus JSON.
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        b = enc(raw).decode()
        forms.update({b, b.rstrip("=")})
    return {f for f in forms if len(f) >= MIN_LEN}


@lru_cache(maxsize=256)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern | None:
    forms: set[str] = set()
    for s in secrets:
        forms |= spellings(s)
    if not forms:
        return None
    # Longest first, so a secret that contains another is masked whole.
    return re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))


def _key(secrets: Iterable[str] | dict | None) -> tuple[str, ...]:
    if not secrets:
        return ()
    values = secrets.values() if isinstance(secrets, dict) else secrets
    return tuple(sorted({str(v) for v in values if v is not None and len(str(v)) >= MIN_LEN}))


def redact(text: str | None, secrets: Iterable[str] | dict | None) -> str:
    """`text` with every spelling of every secret masked (dict: its values are the secrets)."""
    if not text:
        return text or ""
    pattern = _pattern(_key(secrets))
    return pattern.sub(MASK, text) if pattern else text


def redact_obj(obj: Any, secrets: Iterable[str] | dict | None) -> Any:
    """The same for nested event data (dicts, lists, strings)."""
    key = _key(secrets)
    if not key:
        return obj
    if isinstance(obj, str):
        return redact(obj, key)
    if isinstance(obj, dict):
        return {redact(str(k), key): redact_obj(v, key) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v, key) for v in obj]
    return obj
