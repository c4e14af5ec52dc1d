"""The ONE validator for host names, used by every capability (sites, aliases, mail domains, DNS
zones, domain claims, record names, certificate names): length, labels, IDNA 2008.

Everything a ministry types as a name passes here before it can reach a template, a shell, a path
on a host or Ansible. The result is the lower-case ASCII (IDNA "xn--") form, which contains only
[a-z0-9.-]; anything else is refused with a precise key and message.

IDNA 2008 (the `idna` package, UTS #46 mapping, non-transitional) and not Python's built-in "idna"
codec, which is IDNA 2003: that one maps `faß` to `fass`, a different name than the one registries
and browsers use today (`xn--fa-hia`). An `xn--` label someone types is decoded and encoded again,
and refused unless it comes back identical: `xn--a`, `xn--ab--cx` or a label that decodes to
disallowed code points never reach a host.
"""

from __future__ import annotations

import re
import unicodedata

import idna

from panel.errors import Invalid

MAX_NAME = 253
MAX_LABEL = 63
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
# Characters that are never part of a host name, whatever the script: a clear message beats an
# IDNA error for the values people paste by mistake (URLs, paths, shell, templates).
_HOSTILE = set("/\\;|&$`'\"<>{}()[]*?!#%^=+,@:~ \t\r\n\x00")


def _bad(key: str, message: str, field: str, **params) -> Invalid:
    return Invalid(key, message, field=field, **params)


def _shown(value: str) -> str:
    """The value as it may appear in a message: printable and short."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in value)
    return clean[:64] + ("..." if len(clean) > 64 else "")


def _idna_error(field: str, whole: str) -> Invalid:
    return _bad("name.idna_invalid", "{name} is not a valid international domain name.", field, name=_shown(whole))


def ascii_label(label: str, field: str = "fqdn", whole: str = "") -> str:
    """One label in its ASCII form: a plain letters-digits-hyphens label as it is, a Unicode label as
    its IDNA 2008 A-label, an A-label only if it decodes and encodes back to itself."""
    whole = whole or label
    if label.isascii() and not label.startswith("xn--"):
        if label[2:4] == "--":  # "ab--cd": reserved for IDNA prefixes, never a host's own label
            raise _bad(
                "name.label_invalid",
                "{label} is not a valid part of a domain name (letters, digits and inner hyphens only).",
                field,
                label=_shown(label),
            )
        return label
    try:
        if label.isascii():
            back = idna.encode(idna.decode(label)).decode("ascii")
            if back != label:
                raise idna.IDNAError("the A-label does not round-trip")
            return back
        return idna.encode(label, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise _idna_error(field, whole) from None


def _mapped(raw: str, field: str) -> str:
    """Case-folded; non-ASCII names through the UTS #46 mapping (full-width letters and dots,
    upper case) so that a name typed two ways is stored one way."""
    if raw.isascii():
        return raw.lower()
    try:
        return idna.uts46_remap(raw, std3_rules=True, transitional=False)
    except (idna.IDNAError, UnicodeError, ValueError):
        raise _idna_error(field, raw) from None


def clean_hostname(value, field: str = "fqdn", *, min_labels: int = 2, wildcard: bool = False) -> str:
    """The name in lower-case ASCII (IDNA) form, or Invalid naming the rule it broke."""
    if not isinstance(value, str):
        raise _bad("name.required", "A domain name is required.", field)
    raw = unicodedata.normalize("NFC", value.strip()).rstrip(".")
    if not raw:
        raise _bad("name.required", "A domain name is required.", field)
    if len(raw) > 4 * MAX_NAME:
        raise _bad("name.too_long", "A domain name has at most {max} characters.", field, max=MAX_NAME)
    bad = sorted({ch for ch in raw if ch in _HOSTILE or unicodedata.category(ch).startswith("C")})
    if bad:
        raise _bad(
            "name.characters",
            "{name} contains characters a domain name cannot hold: {chars}.",
            field,
            name=_shown(raw),
            chars=" ".join(repr(c) for c in bad[:5]),
        )
    labels = _mapped(raw, field).split(".")
    if wildcard and labels[0] == "*":
        labels = labels[1:]
    if any(not lab for lab in labels):
        raise _bad("name.empty_label", "{name} has an empty label (two dots in a row).", field, name=_shown(raw))
    ascii_labels = [ascii_label(lab, field, raw) for lab in labels]
    for lab in ascii_labels:
        if len(lab) > MAX_LABEL:
            raise _bad(
                "name.label_too_long",
                "Each part of a domain name has at most {max} characters: {label}.",
                field,
                max=MAX_LABEL,
                label=_shown(lab),
            )
        if not _LABEL.match(lab):
            raise _bad(
                "name.label_invalid",
                "{label} is not a valid part of a domain name (letters, digits and inner hyphens only).",
                field,
                label=_shown(lab),
            )
    name = ".".join(ascii_labels)
    if len(name) > MAX_NAME:
        raise _bad("name.too_long", "A domain name has at most {max} characters.", field, max=MAX_NAME)
    if len(ascii_labels) < min_labels:
        raise _bad(
            "name.not_qualified", "{name} is not a full domain name (like www.example.gov.kh).", field, name=_shown(raw)
        )
    if not _TLD.match(ascii_labels[-1]):
        raise _bad("name.tld_invalid", "{name} does not end in a valid top-level domain.", field, name=_shown(raw))
    return ("*." if wildcard and raw.startswith("*.") else "") + name


def to_unicode(name: str) -> str:
    """The readable form of an IDNA name (for display only)."""
    try:
        return idna.decode(name)
    except (idna.IDNAError, UnicodeError, ValueError):
        return name


def is_under(name: str, suffix: str) -> bool:
    """name equals suffix or lies below it (label-wise, not a string suffix)."""
    name, suffix = name.rstrip(".").lower(), suffix.rstrip(".").lower()
    return name == suffix or name.endswith("." + suffix)
