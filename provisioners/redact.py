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


class _Matcher:
    """Every spelling of a set of secrets, found in one pass.

    One regex alternation of the whole spellings costs its compile, in pure Python, about 2 us per
    character: a batch job's 1,000 password hashes (ten spellings of 120 characters each) took
    2.3 s of CPU before its first event could be redacted, and every event of the run waited.
    Here the regex holds only the distinct first MIN_LEN characters of the spellings (hashes share
    them: a handful), and each hit is checked against the spellings that start so, longest first:
    the same leftmost, longest-first masking as one alternation of them all.
    """

    def __init__(self, forms: set[str]):
        buckets: dict[str, list[str]] = {}
        for f in sorted(forms, key=len, reverse=True):
            buckets.setdefault(f[:MIN_LEN], []).append(f)
        self.buckets = buckets
        self.anchors = re.compile("|".join(re.escape(a) for a in buckets))

    def sub(self, text: str) -> str:
        out, done, match = [], 0, self.anchors.search(text)
        while match is not None:
            at = match.start()
            form = next((f for f in self.buckets[match.group()] if text.startswith(f, at)), None)
            if form is None:
                match = self.anchors.search(text, at + 1)
                continue
            out += [text[done:at], MASK]
            done = at + len(form)
            match = self.anchors.search(text, done)
        return "".join(out) + text[done:] if out else text


@lru_cache(maxsize=256)
def _matcher(secrets: tuple[str, ...]) -> _Matcher | None:
    forms: set[str] = set()
    for s in secrets:
        forms |= spellings(s)
    return _Matcher(forms) if forms else None


def _key(secrets: Iterable[str] | dict | None) -> tuple[str, ...]:
    if not secrets:
        return ()
    values = secrets.values() if isinstance(secrets, dict) else secrets
    return tuple(sorted({str(v) for v in values if v is not None and len(str(v)) >= MIN_LEN}))


def redactor(secrets: Iterable[str] | dict | None):
    """redact() bound to these secrets, for many texts (their set is sorted and looked up once)."""
    matcher = _matcher(_key(secrets))
    return (lambda text: matcher.sub(text) if text else text or "") if matcher else (lambda text: text or "")


def redact(text: str | None, secrets: Iterable[str] | dict | None) -> str:
    """`text` with every spelling of every secret masked (dict: its values are the secrets)."""
    if not text:
        return text or ""
    matcher = _matcher(_key(secrets))
    return matcher.sub(text) if matcher else text


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
