"""Validation of DNS names, TTLs and record data, one precise error key per fault.

Pure functions (no database): the record services call them, and so do the request kinds. Data is
returned in dnspython's canonical presentation form, the form BIND's zone transfer reads back as.
"""

from __future__ import annotations

import ipaddress
import re

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass

from panel.errors import Invalid
from panel.services.names import ascii_label, clean_hostname

TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
TXT_CHUNK = 255
TXT_MAX = 4000  # bytes of one TXT record's text; a 4096-bit DKIM key needs ~750
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_CAA_TAGS = ("issue", "issuewild", "iodef")


def _bad(key: str, message: str, field: str = "data", **params) -> Invalid:
    return Invalid(key, message, field=field, **params)


def _text(value, field: str, max_len: int = 300) -> str:
    if not isinstance(value, str) or "\x00" in value or len(value) > max_len:
        raise _bad(f"dns.{field}_invalid", "This value is not valid text.", field=field)
    return value.strip()


def clean_domain(value, field: str = "domain") -> str:
    """A domain name someone may own (zones, claims, suffixes): the core's one host-name validator,
    so a zone, a claim, a site and a mail domain agree on every name (IDNA 2008 included)."""
    return clean_hostname(value, field)


def _ascii_name(raw: str, field: str) -> str:
    """Each label through the core's IDNA 2008 check; service labels (_dmarc) and * pass as they are."""
    return ".".join(x if not x or x == "*" or x.startswith("_") else ascii_label(x, field, raw) for x in raw.split("."))


def clean_host(value, field: str = "data") -> str:
    """A target host name (CNAME, MX, SRV, NS); returned absolute with its final dot."""
    name = _ascii_name(_text(value, field).lower().rstrip("."), field)
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_HOST_LABEL.match(x) for x in labels):
        raise _bad("dns.target_invalid", "{value} is not a valid host name.", field=field, value=name[:80])
    return name + "."


def clean_ip(value, field: str = "secondaries") -> str:
    try:
        return ipaddress.ip_address(_text(value, field, 60)).compressed
    except ValueError:
        raise _bad("dns.ip_invalid", "{value} is not an IP address.", field=field, value=str(value)[:60]) from None


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def owner_name(zone: str, value) -> str:
    """ "@" or "" is the apex; a name with a final dot is absolute and must lie inside the zone; any
    other name is taken relative to the zone unless it already ends with it."""
    raw = _text(value if value is not None else "", "name").lower()
    if raw in ("", "@"):
        return zone
    raw = _ascii_name(raw, "name")
    if raw.endswith("."):
        name = raw[:-1]
        if not in_zone(name, zone):
            raise _bad(
                "dns.name_out_of_zone",
                "{value} is not inside the zone {zone}.",
                field="name",
                value=raw[:80],
                zone=zone,
            )
    else:
        name = raw if in_zone(raw, zone) else f"{raw}.{zone}"
    labels = name[: -len(zone)].rstrip(".").split(".") if name != zone else []
    ok = all(_LABEL.match(x) or (x == "*" and i == 0) for i, x in enumerate(labels))
    if not ok or len(name) > 253:
        raise _bad("dns.name_invalid", "{value} is not a valid record name.", field="name", value=raw[:80])
    return name


def clean_ttl(value, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        ttl = int(value)
    except (TypeError, ValueError):
        ttl = -1
    if isinstance(value, bool) or not low <= ttl <= high:
        raise _bad(
            "dns.ttl_out_of_range", "The TTL must be from {low} to {high} seconds.", field="ttl", low=low, high=high
        )
    return ttl


def clean_type(value) -> str:
    rtype = _text(value, "rtype", 10).upper()
    if rtype not in TYPES:
        raise _bad(
            "dns.type_unsupported", "Record type {value} is not supported here.", field="rtype", value=rtype[:10]
        )
    return rtype


def canonical(rtype: str, data: str) -> str:
    try:
        rd = dns.rdata.from_text(dns.rdataclass.IN, rtype, data, origin=dns.name.root, relativize=False)
    except (dns.exception.DNSException, ValueError, TypeError):
        raise _bad(f"dns.{rtype.lower()}_invalid", "This is not valid {rtype} data.", rtype=rtype) from None
    text = rd.to_text(origin=None, relativize=False)
    return text.lower() if rtype in ("CNAME", "NS", "MX", "SRV") else text


def txt_data(value: str) -> str:
    """Free text -> quoted strings of at most 255 bytes; already quoted text is checked as given."""
    if value.startswith('"'):
        try:
            rd = dns.rdata.from_text(dns.rdataclass.IN, "TXT", value)
        except dns.exception.DNSException as e:
            if "too long" in str(e):
                raise _bad("dns.txt_chunk_too_long", "Each quoted TXT string must be at most 255 bytes.") from None
            raise _bad("dns.txt_invalid", "This is not valid TXT data.") from None
        data = rd.to_text()
        total = sum(len(s) for s in rd.strings)
    else:
        raw = value.encode("utf-8")
        total = len(raw)
        chunks = [raw[i : i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]
        data = " ".join('"' + "".join(_esc(b) for b in c) + '"' for c in chunks)
    if total > TXT_MAX:
        raise _bad("dns.txt_too_long", "A TXT record holds at most {limit} bytes of text.", limit=TXT_MAX)
    return data


def _esc(b: int) -> str:
    if b in (0x22, 0x5C):
        return "\\" + chr(b)
    return chr(b) if 0x20 <= b < 0x7F else f"\\{b:03d}"


def _fields(data: str, n: int, rtype: str) -> list[str]:
    parts = data.split()
    if len(parts) != n:
        raise _bad(f"dns.{rtype.lower()}_invalid", "This is not valid {rtype} data.", rtype=rtype)
    return parts


def _number(value: str, high: int, rtype: str) -> int:
    if not value.isdigit() or int(value) > high:
        raise _bad(f"dns.{rtype.lower()}_invalid", "This is not valid {rtype} data.", rtype=rtype)
    return int(value)


def clean_data(zone: str, name: str, rtype: str, value) -> str:
    data = _text(value, "data", TXT_MAX * 2)
    if rtype == "TXT":
        if any(ord(c) < 0x20 for c in data):
            raise _bad("dns.txt_invalid", "TXT text cannot hold control characters (newline, NUL).")
        return txt_data(data)
    if rtype in ("A", "AAAA"):
        try:
            ip = ipaddress.ip_address(data)
        except ValueError:
            ip = None
        if ip is None or ip.version != (4 if rtype == "A" else 6):
            raise _bad(
                f"dns.{rtype.lower()}_invalid",
                "{value} is not an IPv{v} address.",
                value=data[:60],
                v=4 if rtype == "A" else 6,
            )
        return ip.compressed
    if rtype in ("CNAME", "NS"):
        if name == zone:
            raise _bad(
                f"dns.{rtype.lower()}_at_apex",
                "A {rtype} record cannot be at the zone's apex.",
                field="name",
                rtype=rtype,
            )
        return clean_host(data)
    if rtype == "MX":
        pref, host = _fields(data, 2, rtype)
        return f"{_number(pref, 65535, rtype)} {clean_host(host)}"
    if rtype == "SRV":
        if not re.match(r"^_[a-z0-9-]+\._(tcp|udp|tls|sctp)(\.|$)", name):
            raise _bad("dns.srv_name_invalid", "An SRV name starts with _service._proto.", field="name")
        prio, weight, port, host = _fields(data, 4, rtype)
        nums = [_number(x, 65535, rtype) for x in (prio, weight, port)]
        target = "." if host == "." else clean_host(host)
        return f"{nums[0]} {nums[1]} {nums[2]} {target}"
    flags, tag, rest = [*data.split(None, 2), "", "", ""][:3]
    if tag.lower() not in _CAA_TAGS or not rest:
        raise _bad("dns.caa_invalid", 'CAA data is: flags tag "value" (tag issue, issuewild or iodef).')
    _number(flags, 255, "CAA")
    return canonical("CAA", f'{flags} {tag.lower()} "{rest.strip(chr(34))}"')


def targets_of(rtype: str, data: str) -> str | None:
    """The host name a record points at (without the final dot), for the in-zone address check."""
    if rtype in ("CNAME", "NS"):
        return data.rstrip(".")
    if rtype == "MX":
        return data.split()[1].rstrip(".")
    if rtype == "SRV":
        target = data.split()[3]
        return None if target == "." else target.rstrip(".")
    return None
