"""DNS as a diff: the wanted records against what BIND serves (AXFR with TSIG), one batched RFC 2136
update per zone, guarded by a prerequisite on the SOA seen at plan time, then a read-back.

A library: records in, Plan/Applied out, errors as DnsError subclasses with plain messages. It never
touches the panel or a database. The TSIG secret lives only inside `Tsig` (repr hides it) and is
never part of a message.

Ownership: `owned` is the set of (name, type, data) keys the caller put on the server earlier. Live
records outside it were made by someone else (an operator with nsupdate, another tool) and are left
alone unless `force`. SOA, apex NS and DNSSEC records are never touched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update
import dns.xfr
from dns.rdtypes.IN.A import A as _A

TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
_NEVER_TOUCHED = {"SOA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "DNSKEY", "CDS", "CDNSKEY", "TYPE65534"}
TXT_CHUNK = 255


class DnsError(Exception):
    """Anything that stopped a read or an update; the message says what to do, never a secret."""


class Unreachable(DnsError):
    pass


class AuthFailed(DnsError):
    pass


class Refused(DnsError):
    pass


class Stale(DnsError):
    """The zone changed between plan and apply (the SOA prerequisite failed): plan again."""


class NotConfirmed(DnsError):
    """The server accepted the update but does not serve what was sent."""


@dataclass(frozen=True)
class Tsig:
    name: str
    secret: str = field(repr=False)  # base64, as in BIND's key statement
    algorithm: str = "hmac-sha256"

    def key(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.name, self.secret, self.algorithm)


@dataclass(frozen=True)
class Server:
    address: str
    port: int = 53
    timeout: float = 5.0
    source: str | None = None  # bind the client socket (the lab pins 10.77.0.1)


@dataclass(frozen=True, order=True)
class Rec:
    """One resource record: absolute lowercase owner without the final dot, canonical data text."""

    name: str
    rtype: str
    data: str
    ttl: int = field(default=3600, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.rtype, self.data)

    def text(self) -> str:
        return f"{self.name}. {self.ttl} IN {self.rtype} {self.data}"


def norm_name(name: str) -> str:
    return name.strip().rstrip(".").lower()


def canonical(rtype: str, data: str) -> str:
    """Data in dnspython's canonical presentation form; ValueError with a reason when malformed."""
    if rtype == "A" and _CANONICAL_A.fullmatch(data):
        return data  # what from_text then to_text would give back
    try:
        rd = _rd(rtype, data)
    except (dns.exception.DNSException, ValueError, TypeError) as e:
        raise ValueError(str(e) or e.__class__.__name__) from None
    return _rdata_text(rd)


# An IPv4 address exactly as dnspython writes it (no leading zeros, each octet 0-255): the text is
# already canonical, so the bulk record of a zone (sites' A records) skips dnspython's tokenizer,
# which cost ~50 us per record each way (text -> rdata -> text) on 1,000-record applies.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_A = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _rd(rtype: str, data: str) -> dns.rdata.Rdata:
    if rtype == "A" and _CANONICAL_A.fullmatch(data):
        return _A(dns.rdataclass.IN, dns.rdatatype.A, data)
    return dns.rdata.from_text(dns.rdataclass.IN, rtype, data, origin=dns.name.root, relativize=False)


def _rdata_text(rd: dns.rdata.Rdata) -> str:
    text = rd.to_text(origin=None, relativize=False)
    return (
        text.lower()
        if rd.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS, dns.rdatatype.MX, dns.rdatatype.SRV)
        else text
    )


def rec(name: str, rtype: str, data: str, ttl: int = 3600) -> Rec:
    rtype = rtype.upper()
    return Rec(norm_name(name), rtype, canonical(rtype, data), int(ttl))


def txt_data(value: str) -> str:
    """One long text value as TXT presentation data: quoted strings of at most 255 bytes each,
    split on byte boundaries (a DKIM key or SPF record is read back by concatenation)."""
    raw = value.encode("utf-8")
    chunks = [raw[i : i + TXT_CHUNK] for i in range(0, len(raw), TXT_CHUNK)] or [b""]
    return " ".join('"' + "".join(_txt_escape(b) for b in c) + '"' for c in chunks)


def _txt_escape(b: int) -> str:
    if b in (0x22, 0x5C):
        return "\\" + chr(b)
    if 0x20 <= b < 0x7F:
        return chr(b)
    return f"\\{b:03d}"


# ---- plan ----------------------------------------------------------------------------------------


@dataclass
class Plan:
    zone: str
    soa: str  # SOA data seen on the server; the update's prerequisite
    add: list[Rec] = field(default_factory=list)
    remove: list[Rec] = field(default_factory=list)
    unmanaged: list[Rec] = field(default_factory=list)  # live, not ours: kept unless forced
    unchanged: int = 0

    @property
    def serial(self) -> int:
        return int(self.soa.split()[2]) if self.soa else 0

    @property
    def empty(self) -> bool:
        return not (self.add or self.remove)

    def lines(self) -> list[str]:
        return (
            [f"+ {r.text()}" for r in self.add]
            + [f"- {r.text()}" for r in self.remove]
            + [f"= {r.text()}  (not made by govhost: kept)" for r in self.unmanaged]
        )


def protected(zone: str, r: Rec) -> bool:
    return r.rtype in _NEVER_TOUCHED or (r.rtype == "NS" and r.name == zone)


def diff(
    zone: str,
    soa: str,
    wanted: Iterable[Rec],
    live: Iterable[Rec],
    owned: Iterable[tuple[str, str, str]] = (),
    force: bool = False,
) -> Plan:
    """Pure: what to add and remove so that the server serves `wanted`, touching only our own
    records (all but the protected ones with force). A TTL change is a remove plus an add."""
    zone = norm_name(zone)
    wanted_set, live_set = set(wanted), {r for r in live if not protected(zone, r)}
    wanted_full = {(r.key, r.ttl) for r in wanted_set}
    live_full = {(r.key, r.ttl) for r in live_set}
    owned_keys = set(owned) | {r.key for r in wanted_set}
    add = sorted(r for r in wanted_set if (r.key, r.ttl) not in live_full)
    remove, unmanaged = [], []
    for r in sorted(live_set):
        if (r.key, r.ttl) in wanted_full:
            continue
        (remove if force or r.key in owned_keys else unmanaged).append(r)
    return Plan(zone, soa, add, remove, unmanaged, unchanged=len(live_full & wanted_full))


# ---- talking to the server ----------------------------------------------------------------------


def _call(what: str, server: Server, fn):
    try:
        return fn()
    except dns.tsig.PeerBadKey:
        raise AuthFailed(
            f"{what}: {server.address} does not know this TSIG key (BADKEY): "
            f"check the key name and the key file on the server"
        ) from None
    except (dns.tsig.PeerBadSignature, dns.tsig.BadSignature):
        raise AuthFailed(
            f"{what}: {server.address} rejected the TSIG signature (BADSIG): the secret differs from the server's"
        ) from None
    except dns.tsig.PeerBadTime:
        raise AuthFailed(f"{what}: {server.address} rejected the TSIG time (BADTIME): check clocks") from None
    except (ConnectionError, dns.exception.Timeout, TimeoutError, OSError) as e:
        raise Unreachable(
            f"{what}: DNS server {server.address}:{server.port} is not answering ({e.__class__.__name__})"
        ) from None
    except dns.exception.FormError as e:
        raise DnsError(f"{what}: {server.address} sent a malformed answer ({e})") from None


def axfr(server: Server, tsig: Tsig, zone: str) -> tuple[str, list[Rec]]:
    """(SOA data, every record) of the zone as the server serves it, by a TSIG-signed AXFR."""
    zone = norm_name(zone)

    def run():
        soa, recs = "", []
        for msg in dns.query.xfr(
            server.address,
            zone + ".",
            port=server.port,
            timeout=server.timeout,
            lifetime=server.timeout * 4,
            source=server.source,
            relativize=False,
            keyring=tsig.key(),
            keyname=tsig.name,
        ):
            for rrset in msg.answer:
                name, rtype = norm_name(rrset.name.to_text()), dns.rdatatype.to_text(rrset.rdtype)
                for rd in rrset:
                    if rtype == "SOA":
                        soa = soa or _rdata_text(rd)
                        continue
                    recs.append(Rec(name, rtype, _rdata_text(rd), rrset.ttl))
        return soa, recs

    try:
        return _call(f"zone transfer of {zone}", server, run)
    except dns.xfr.TransferError as e:
        rcode = dns.rcode.to_text(e.rcode)
        if rcode == "NOTAUTH":
            raise AuthFailed(f"zone transfer of {zone}: {server.address} refused the TSIG key (NOTAUTH)") from None
        raise Refused(
            f"zone transfer of {zone}: {server.address} answered {rcode}: is the zone "
            f"configured there and is transfer allowed to the key?"
        ) from None


def live_plan(
    server: Server,
    tsig: Tsig,
    zone: str,
    wanted: Iterable[Rec],
    owned: Iterable[tuple[str, str, str]] = (),
    force: bool = False,
) -> Plan:
    soa, live = axfr(server, tsig, zone)
    return diff(zone, soa, wanted, live, owned, force)


def update_message(plan: Plan, tsig: Tsig | None) -> dns.update.UpdateMessage:
    """The one batched update: prerequisite "SOA is still what we planned against", deletes of
    exact records, then adds. BIND applies it atomically or not at all."""
    origin = dns.name.from_text(plan.zone + ".")
    kw = {"keyring": tsig.key(), "keyname": tsig.name} if tsig else {}
    upd = dns.update.UpdateMessage(origin, **kw)
    if plan.soa:
        upd.present(origin, _rd("SOA", plan.soa))
    for r in plan.remove:
        upd.delete(r.name + ".", _rd(r.rtype, r.data))
    for r in plan.add:
        upd.add(r.name + ".", r.ttl, _rd(r.rtype, r.data))
    return upd


def send(server: Server, msg: dns.message.Message, what: str) -> None:
    resp = _call(
        what,
        server,
        lambda: dns.query.tcp(msg, server.address, timeout=server.timeout, port=server.port, source=server.source),
    )
    rcode = resp.rcode()
    if rcode == dns.rcode.NOERROR:
        return
    name = dns.rcode.to_text(rcode)
    if rcode in (dns.rcode.NXRRSET, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.YXDOMAIN):
        raise Stale(f"{what}: the zone changed since it was planned ({name}): plan again")
    if rcode == dns.rcode.NOTAUTH:
        raise AuthFailed(f"{what}: {server.address} does not accept this TSIG key for the zone (NOTAUTH)")
    if rcode == dns.rcode.REFUSED:
        raise Refused(
            f"{what}: {server.address} refused the update (REFUSED): the zone does not allow updates with this key"
        )
    if rcode == dns.rcode.NOTZONE:
        raise Refused(f"{what}: {server.address} is not authoritative for the zone (NOTZONE)")
    raise DnsError(f"{what}: {server.address} answered {name}")


@dataclass
class Applied:
    plan: Plan
    sent: bool
    serial_after: int
    attempts: int = 1
    seconds: float = 0.0


def apply(server: Server, tsig: Tsig, plan: Plan, *, dry_run: bool = False) -> Applied:
    """Send the plan as one update and confirm it by a read-back. Raises Stale if the zone moved."""
    if dry_run or plan.empty:
        return Applied(plan, False, plan.serial)
    send(server, update_message(plan, tsig), f"update of {plan.zone}")
    soa, live = axfr(server, tsig, plan.zone)
    confirm(plan, live)
    return Applied(plan, True, int(soa.split()[2]) if soa else 0)


def confirm(plan: Plan, live: Iterable[Rec]) -> None:
    now = {(r.key, r.ttl) for r in live}
    missing = [r for r in plan.add if (r.key, r.ttl) not in now]
    left = [r for r in plan.remove if (r.key, r.ttl) in now]
    if missing or left:
        first = (missing or left)[0]
        raise NotConfirmed(
            f"update of {plan.zone}: read-back differs ({len(missing)} not added, "
            f"{len(left)} not removed; first: {first.text()})"
        )


def converge(
    server: Server,
    tsig: Tsig,
    zone: str,
    wanted: Iterable[Rec],
    owned: Iterable[tuple[str, str, str]] = (),
    *,
    force: bool = False,
    dry_run: bool = False,
    retries: int = 3,
) -> Applied:
    """Plan against the live zone and apply; if the zone moved in between, plan again (bounded)."""
    wanted = list(wanted)
    owned = set(owned)
    start = time.perf_counter()
    for attempt in range(1, retries + 1):
        plan = live_plan(server, tsig, zone, wanted, owned, force)
        try:
            done = apply(server, tsig, plan, dry_run=dry_run)
        except Stale:
            if attempt == retries:
                raise
            continue
        done.attempts, done.seconds = attempt, time.perf_counter() - start
        return done
    raise AssertionError("unreachable")
