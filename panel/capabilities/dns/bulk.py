"""DNS record rows of bulk provisioning files (dns_records.csv, or `dns_records:` in the YAML/JSON).

A row is one record in one of the ministry's hosted zones: zone, name ("@" for the apex, relative
or absolute), type, data, ttl. Records the zone holds already are no-ops; a record that breaks the
zone's rules (CNAME beside other records, a duplicate) is refused on its own line. Create rows are
written at the approval and sent to BIND right after it commits (RFC 2136), one update per zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.dns import rules as R
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.dns.models import Record, RecordState, Zone, ZoneStatus
from panel.errors import PanelError
from panel.models.tenants import Organization
from panel.services.actor import Actor
from panel.services.bulk import Batch, Column, Deletion, RowKind, RowState, Verdict, parent_domain
from panel.services.names import clean_hostname
from panel.services.request_kinds import N_


def _ttl(text: str):
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        from panel.errors import Invalid

        raise Invalid("dns.ttl_invalid", "The TTL is a whole number of seconds.", field="ttl")
    return int(text)


COLUMNS = (
    Column("zone", lambda t: clean_hostname(t, "zone"), required=True, help="a hosted zone of the ministry"),
    Column("name", lambda t: t.strip() or "@", required=True, help="@ for the zone itself, or a name in it"),
    Column("type", lambda t: t.strip().upper(), required=True, help="A, AAAA, CNAME, MX, TXT, SRV, CAA, NS"),
    Column("data", lambda t: t.strip(), required=True, help="the record's data, e.g. 10 mail.moh.gov.kh."),
    Column("ttl", _ttl, help="seconds (default: the zone's)"),
)


def _key(r: dict) -> str:
    return f"{r['zone']} {r['name']} {r['type']} {r['data']}"[:300]


def _zones(org: Organization, rows: list[dict]) -> dict[str, Zone]:
    """The ministry's active zones the rows name, by name."""
    return {n: z for n, z in _zones_of(db.session(), org.id, rows).items() if z.status == ZoneStatus.ACTIVE}


def _zones_of(s: Session, org_id: int, rows: list[dict]) -> dict[str, Zone]:
    names = {r["zone"] for r in rows}
    return {z.name: z for z in s.scalars(select(Zone).where(Zone.name.in_(names), Zone.org_id == org_id))}


def _clean(zone: Zone, r: dict) -> dns_svc.RecordIn:
    return dns_svc.clean_record(zone, dns_svc.RecordIn(r["name"], r["type"], r["data"], r.get("ttl")))


@dataclass(frozen=True)
class _Rec:
    """A record as check_conflicts reads it (no ORM object: thousands are compared)."""

    name: str
    rtype: str
    data: str
    state: RecordState = RecordState.PRESENT
    id: int | None = None


class _ZoneIndex:
    """A zone's records by name, so checking one new record looks at its name, its target and the
    zone's delegations, not at every record (a file of 1,000 records is not a million comparisons)."""

    def __init__(self, rows) -> None:
        self.by_name: dict[str, list[_Rec]] = defaultdict(list)
        self.ns: list[_Rec] = []
        for r in rows:
            self.add(_Rec(r.name, r.rtype, r.data, r.state, r.id))

    def add(self, rec: _Rec) -> None:
        self.by_name[rec.name].append(rec)
        if rec.rtype == "NS":
            self.ns.append(rec)

    def near(self, rec) -> list[_Rec]:
        target = R.targets_of(rec.rtype, rec.data)
        names = {rec.name, *([target] if isinstance(target, str) else (target or []))}
        seen = [x for n in names for x in self.by_name.get(n, [])]
        return seen + [x for x in self.ns if x.name not in names]


def _classify(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    zones = _zones(org, rows)
    s = db.session()
    index = {
        z.id: _ZoneIndex(
            s.execute(
                select(Record.id, Record.name, Record.rtype, Record.data, Record.state).where(Record.zone_id == z.id)
            )
        )
        for z in zones.values()
    }
    out: list[Verdict | None] = [None] * len(rows)
    # address records first, so an MX or SRV may point at a name another row of the file creates
    order = sorted(range(len(rows)), key=lambda i: rows[i]["type"] in ("MX", "SRV"))
    for i in order:
        out[i] = _verdict(zones, index, rows[i])
    return out


def _verdict(zones, index, r: dict) -> Verdict:
    zone = zones.get(r["zone"])
    if zone is None:
        return Verdict(
            "invalid", key="dns.zone_unknown", message=f"{r['zone']} is not an active zone of your ministry."
        )
    try:
        rec = _clean(zone, r)
    except PanelError as e:
        return Verdict("invalid", key=e.key, message=e.text())
    near = index[zone.id].near(rec)
    have = next(
        (
            x
            for x in near
            if x.state == RecordState.PRESENT and (x.name, x.rtype, x.data) == (rec.name, rec.rtype, rec.data)
        ),
        None,
    )
    if have is not None:
        return Verdict("noop", have.id)
    try:
        dns_svc.check_conflicts(zone, [rec], near)
    except PanelError as e:
        return Verdict("conflict", key=e.key, message=e.text())
    index[zone.id].add(_Rec(rec.name, rec.rtype, rec.data))
    return Verdict("create")


def _apply(actor: Actor, org: Organization, rows: list[dict], hidden: dict, start) -> list[Batch]:
    zones = _zones(org, rows)
    by_zone: dict[str, list[dict]] = {}
    for r in rows:
        by_zone.setdefault(r["zone"], []).append(r)
    for name, group in by_zone.items():
        dns_svc.records_add(actor, zone_id=zones[name].id, records=[_clean(zones[name], r) for r in group])
    return [Batch(tuple(_key(r) for r in rows), None)]


def _state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    zones = _zones_of(s, org_id, rows)
    out = {}
    for r in rows:
        zone = zones.get(r["zone"])
        if zone is None:
            continue
        try:
            rec = _clean(zone, r)
        except PanelError:
            continue
        row = s.scalars(
            select(Record).where(
                Record.zone_id == zone.id, Record.name == rec.name, Record.rtype == rec.rtype, Record.data == rec.data
            )
        ).first()
        if row is None:
            continue
        if row.applied_at is not None:
            out[_key(r)] = RowState("done", row.id)
        elif zone.last_error:
            out[_key(r)] = RowState("failed", row.id, "dns.apply_failed", zone.last_error)
        else:
            out[_key(r)] = RowState("running", row.id)
    return out


def _present(s: Session, zone: Zone, rec) -> Record | None:
    return s.scalars(
        select(Record).where(
            Record.zone_id == zone.id,
            Record.name == rec.name,
            Record.rtype == rec.rtype,
            Record.data == rec.data,
            Record.state == RecordState.PRESENT,
        )
    ).first()


def _delete_find(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    """A row saying delete: the record of that zone, name, type and data is removed from BIND; a
    record the zone does not hold (removed already) is a no-op."""
    zones, s = _zones(org, rows), db.session()
    out = []
    for r in rows:
        zone = zones.get(r["zone"])
        if zone is None:
            out.append(
                Verdict(
                    "invalid", key="dns.zone_unknown", message=f"{r['zone']} is not an active zone of your ministry."
                )
            )
            continue
        try:
            row = _present(s, zone, _clean(zone, r))
        except PanelError as e:
            out.append(Verdict("invalid", key=e.key, message=e.text()))
            continue
        out.append(Verdict("delete", row.id) if row is not None else Verdict("noop"))
    return out


def _delete_start(actor: Actor, org: Organization, rows: list[dict], start) -> list[Batch]:
    zones = _zones(org, rows)
    by_zone: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        by_zone[r["zone"]].append(r["_object_id"])
    for name, ids in by_zone.items():
        dns_svc.records_remove(actor, zone_id=zones[name].id, record_ids=ids)
    return [Batch(tuple(_key(r) for r in rows), None)]


def _delete_state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    zones = _zones_of(s, org_id, rows)
    out = {}
    for r in rows:
        zone = zones.get(r["zone"])
        if zone is None:
            out[_key(r)] = RowState("done")
            continue
        rec = _clean(zone, r)
        row = s.scalars(
            select(Record).where(
                Record.zone_id == zone.id, Record.name == rec.name, Record.rtype == rec.rtype, Record.data == rec.data
            )
        ).first()
        if row is None or row.state == RecordState.PRESENT:
            out[_key(r)] = RowState("done")  # gone from BIND (a present row is one added again since)
        elif zone.last_error:
            out[_key(r)] = RowState("failed", row.id, "dns.apply_failed", zone.last_error)
        else:
            out[_key(r)] = RowState("running", row.id)
    return out


def _nest(parent_kind: str, parent: dict, values: dict) -> dict:
    """Under a site, a record without a zone is in the zone of the site's domain."""
    domain = parent_domain(parent_kind, parent)
    if not values.get("zone", "").strip() and domain:
        values = {**values, "zone": domain}
    return values


ROWS = (
    RowKind(
        name="dns_records",
        label=N_("DNS records"),
        request_kind="",
        columns=COLUMNS,
        key=_key,
        classify=_classify,
        quota=lambda rows: {},
        apply=_apply,
        state=_state,
        order=60,
        parents=("sites",),
        nest=_nest,
        deletion=Deletion(("zone", "name", "type", "data"), _delete_find, _delete_start, _delete_state),
    ),
)
