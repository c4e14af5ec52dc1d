"""DNS use cases: zones, records, plan/apply against BIND, server setup, and the record templates
that sites and mail publish through (`records_publish` / `records_withdraw`).

Record rows are what govhost wants; a `dns.records_apply` job plans them against what BIND serves
(AXFR), sends one batched RFC 2136 update, reads back, and only then marks rows applied. A failure
(BIND down, a wrong TSIG key) fails the job with a clear text on the zone and leaves every row as it
was, so a retry converges. Both an explicit `dns_apply` and what sites and mail publish (one job per
zone and transaction) go that way, never inside a request; only the read-only plan (`dns_plan`, an
AXFR) is answered in the request.
"""

from __future__ import annotations

import base64
import secrets as pysecrets
from dataclasses import dataclass, field

from sqlalchemy import select

from panel import db, security
from panel.boot import current as current_settings
from panel.capabilities.dns import DNS_ROLE
from panel.capabilities.dns import jobs as cap_dns
from panel.capabilities.dns import rules as R

# This module is DNS's public API for other capabilities (the one cross-capability import allowed):
# the claim checks they need are offered here.
from panel.capabilities.dns.claims import domain_require as domain_require
from panel.capabilities.dns.claims import domain_verified as domain_verified
from panel.capabilities.dns.claims import domains_verifier as domains_verifier
from panel.capabilities.dns.models import DnsKey, Record, RecordOwner, RecordState, Zone, ZoneStatus
from panel.errors import Conflict, Invalid, NotFound, PanelError
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.tenants import Organization, Role
from panel.services import hosts as hosts_svc
from panel.services import jobs, requests
from panel.services.actor import Actor, get_scoped, require_org_role, require_staff, scoped
from panel.services.audit import audited
from panel.services.pagination import Page, paginate

# ---- zones --------------------------------------------------------------------------------------


def zone_list(actor: Actor, *, page: int = 1, per_page: int = 50, org_id: int | None = None) -> Page:
    stmt = scoped(select(Zone), actor, Zone)
    if org_id is not None:
        stmt = stmt.where(Zone.org_id == org_id)
    with db.unit_of_work():
        return paginate(stmt.order_by(Zone.name), page=page, per_page=per_page)


def zone_get(actor: Actor, zone_id) -> Zone:
    with db.unit_of_work():
        return get_scoped(Zone, _id(zone_id), actor, "dns_zone")


def zone_by_name(actor: Actor, name: str) -> Zone:
    """A zone by id or name (CLI); another ministry's zone is not found."""
    if str(name).isdigit():
        return zone_get(actor, int(name))
    with db.unit_of_work() as s:
        zone = s.scalars(scoped(select(Zone), actor, Zone).where(Zone.name == str(name).rstrip(".").lower())).first()
        if zone is None:
            raise _not_found("dns_zone", name)
        return zone


def zone_request(actor: Actor, *, org_id: int, name: str):
    """Ask for a zone; goes through approval (quota dns_zones) and then the zone.create job."""
    return requests.request_create(actor, kind="dns.zone_create", org_id=org_id, payload={"name": name})


@audited("dns.zone_host", "job")
def zone_host(actor: Actor, *, org_id: int, name: str):
    """Data-center admins: host a zone at once, without a request (the data center's own zones, and
    the quick start's); returns the zone.create job. A ministry's zones go through zone_request."""
    require_staff(actor, Role.ADMIN)
    name = R.clean_domain(name, "name")
    with db.unit_of_work() as s:
        if s.get(Organization, _id(org_id)) is None:
            raise Invalid("organization.not_found", "Not found.", field="org_id")
        if s.scalars(select(Zone.id).where(Zone.name == name)).first() is not None:
            raise Conflict("dns.zone_exists", "The zone {name} is hosted here already.", field="name", name=name)
        host = cap_dns.primary_host(s)
        zone = Zone(org_id=int(org_id), name=name)
        s.add(zone)
        s.flush()
        return jobs.job_submit(
            actor, kind="dns.zone_create", org_id=zone.org_id, host_ids=[host.id], params={"zone_id": zone.id}
        )


def zone_delete_request(actor: Actor, *, zone_id: int):
    zone = zone_get(actor, zone_id)
    return requests.request_create(actor, kind="dns.zone_delete", org_id=zone.org_id, payload={"zone_id": zone.id})


# ---- records ------------------------------------------------------------------------------------


def record_list(actor: Actor, *, zone_id, page: int = 1, per_page: int = 50) -> Page:
    zone = zone_get(actor, zone_id)
    stmt = select(Record).where(Record.zone_id == zone.id).order_by(Record.name, Record.rtype, Record.id)
    with db.unit_of_work():
        return paginate(stmt, page=page, per_page=per_page)


@dataclass(frozen=True)
class RecordIn:
    name: str
    rtype: str
    data: str
    ttl: int | None = None


def clean_record(zone: Zone, spec: RecordIn) -> RecordIn:
    cfg = current_settings().dns
    rtype = R.clean_type(spec.rtype)
    name = R.owner_name(zone.name, spec.name)
    data = R.clean_data(zone.name, name, rtype, spec.data)
    ttl = R.clean_ttl(spec.ttl, cfg.default_ttl, cfg.min_ttl, cfg.max_ttl)
    return RecordIn(name, rtype, data, ttl)


def check_conflicts(zone: Zone, new: list[RecordIn], existing: list[Record]) -> None:
    """CNAME stands alone at its name; no duplicates; in-zone targets need an address record
    (BIND refuses an MX or SRV pointing into its own zone at a name without A/AAAA)."""
    live = [(r.name, r.rtype, r.data) for r in existing if r.state == RecordState.PRESENT]
    seen = set(live)
    for rec in new:
        if (rec.name, rec.rtype, rec.data) in seen:
            raise Conflict("dns.record_exists", "This record exists already.", field="data")
        others = [t for n, t, _ in live if n == rec.name]
        if (rec.rtype == "CNAME" and others) or (rec.rtype != "CNAME" and "CNAME" in others):
            raise Conflict(
                "dns.cname_conflict",
                "{name} has a CNAME record: a CNAME cannot share its name with other records.",
                field="name",
                name=rec.name,
            )
        live.append((rec.name, rec.rtype, rec.data))
        seen.add((rec.name, rec.rtype, rec.data))
    addresses = {n for n, t, _ in live if t in ("A", "AAAA")}
    delegated = {n for n, t, _ in live if t == "NS"}
    for rec in new:
        target = R.targets_of(rec.rtype, rec.data)
        if (
            rec.rtype in ("MX", "SRV")
            and target
            and R.in_zone(target, zone.name)
            and target not in addresses
            and not any(R.in_zone(target, d) for d in delegated)
        ):
            raise Invalid(
                "dns.target_no_address",
                "{target} is inside the zone but has no A or AAAA record.",
                field="data",
                target=target,
            )


def _zone_for_write(actor: Actor, zone_id) -> Zone:
    zone = get_scoped(Zone, _id(zone_id), actor, "dns_zone")
    require_org_role(actor, zone.org_id)
    if zone.status == ZoneStatus.DELETING:
        raise Conflict("dns.zone_deleting", "The zone is being deleted.")
    return zone


def _records(s, zone_id: int) -> list[Record]:
    return list(s.scalars(select(Record).where(Record.zone_id == zone_id).order_by(Record.id)))


@audited("dns.record_create", "dns_record")
def record_create(actor: Actor, *, zone_id: int, name: str, rtype: str, data: str, ttl: int | None = None) -> Record:
    with db.unit_of_work() as s:
        zone = _zone_for_write(actor, zone_id)
        rec = clean_record(zone, RecordIn(name, rtype, data, ttl))
        check_conflicts(zone, [rec], _records(s, zone.id))
        return _add(s, zone, rec, source="user")


def _add(s, zone: Zone, rec: RecordIn, source: str) -> Record:
    retired = s.scalars(
        select(Record).where(
            Record.zone_id == zone.id,
            Record.name == rec.name,
            Record.rtype == rec.rtype,
            Record.data == rec.data,
            Record.state == RecordState.ABSENT,
        )
    ).first()
    if retired is not None:
        # Deleted, but the removal has not reached the server yet: the same record is wanted again.
        # Revive the row (the unique key allows one) and send it again at the next apply.
        retired.state, retired.ttl, retired.source = RecordState.PRESENT, rec.ttl, source
        retired.owner, retired.applied_at = RecordOwner.GOVHOST, None
        s.flush()
        return retired
    row = Record(
        zone_id=zone.id,
        org_id=zone.org_id,
        name=rec.name,
        rtype=rec.rtype,
        data=rec.data,
        ttl=rec.ttl,
        owner=RecordOwner.GOVHOST,
        source=source,
        state=RecordState.PRESENT,
    )
    s.add(row)
    s.flush()
    return row


def _retire(s, row: Record) -> None:
    """Never sent: just forget it. Already on the server: keep as a removal until applied."""
    if row.applied_at is None and row.state == RecordState.PRESENT:
        s.delete(row)
    else:
        row.state = RecordState.ABSENT
    s.flush()


def _record_for_write(actor: Actor, record_id) -> Record:
    row = get_scoped(Record, _id(record_id), actor, "dns_record")
    _zone_for_write(actor, row.zone_id)
    if row.state == RecordState.ABSENT:
        raise _not_found("dns_record", record_id)
    return row


@audited("dns.records_add", "dns_zone", exclude=("records",))
def records_add(actor: Actor, *, zone_id: int, records: list[RecordIn]) -> Zone:
    """Many records of one zone at once (bulk provisioning), sent to BIND by a dns.records_apply job."""
    with db.unit_of_work() as s:
        zone = _zone_for_write(actor, zone_id)
        clean = [clean_record(zone, r) for r in records]
        check_conflicts(zone, clean, _records(s, zone.id))
        for rec in clean:
            _add(s, zone, rec, source="user")
        apply_by_job(actor, s, zone)
        return zone


@audited("dns.records_remove", "dns_zone", exclude=("record_ids",))
def records_remove(actor: Actor, *, zone_id: int, record_ids: list[int]) -> Zone:
    """Many records of one zone removed at once (bulk provisioning's delete rows), sent to BIND by a
    dns.records_apply job as record_delete's removals are."""
    with db.unit_of_work() as s:
        zone = _zone_for_write(actor, zone_id)
        for row in s.scalars(select(Record).where(Record.zone_id == zone.id, Record.id.in_(list(record_ids)))).all():
            if row.state == RecordState.PRESENT:
                _retire(s, row)
        apply_by_job(actor, s, zone)
        return zone


@audited("dns.record_update", "dns_record")
def record_update(actor: Actor, *, record_id: int, data: str | None = None, ttl: int | None = None) -> Record:
    """A record's data or TTL changes: the old one is retired and a new one takes its place."""
    with db.unit_of_work() as s:
        row = _record_for_write(actor, record_id)
        zone = s.get(Zone, row.zone_id)
        rec = clean_record(
            zone,
            RecordIn(row.name, row.rtype, row.data if data is None else data, row.ttl if ttl in (None, "") else ttl),
        )
        if (rec.data, rec.ttl) == (row.data, row.ttl):
            return row
        source = row.source
        _retire(s, row)
        if row.state == RecordState.ABSENT and rec.data == row.data:
            s.delete(row)  # same data, new TTL: the update's delete+add of the rdata covers it
            s.flush()
        check_conflicts(zone, [rec], _records(s, zone.id))
        return _add(s, zone, rec, source=source)


@audited("dns.record_delete", "dns_record")
def record_delete(actor: Actor, *, record_id: int) -> Record:
    with db.unit_of_work() as s:
        row = _record_for_write(actor, record_id)
        _retire(s, row)
        return row


# ---- plan / apply -------------------------------------------------------------------------------


@dataclass
class ApplyOutcome:
    id: int  # the zone's (the audit entry's object)
    org_id: int
    zone: str
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    unchanged: int = 0
    sent: bool = False
    dry_run: bool = False
    serial: int = 0
    attempts: int = 0
    seconds: float = 0.0


def _outcome(zone: Zone, plan, **kw) -> ApplyOutcome:
    kw.setdefault("serial", plan.serial)
    return ApplyOutcome(
        zone.id,
        zone.org_id,
        zone.name,
        add=[r.text() for r in plan.add],
        remove=[r.text() for r in plan.remove],
        unmanaged=[r.text() for r in plan.unmanaged],
        unchanged=plan.unchanged,
        **kw,
    )


def _active_zone(actor: Actor, zone_id) -> Zone:
    zone = get_scoped(Zone, _id(zone_id), actor, "dns_zone")
    if zone.status != ZoneStatus.ACTIVE:
        raise Conflict(
            "dns.zone_not_active",
            "The zone {zone} is not served yet ({status}).",
            zone=zone.name,
            status=zone.status.value,
        )
    return zone


def _check_force(actor: Actor, force: bool) -> None:
    if force:
        require_staff(actor, Role.OPERATOR, Role.ADMIN)


def dns_plan(actor: Actor, zone_id, *, force: bool = False) -> ApplyOutcome:
    """What apply would change, from BIND's live zone (AXFR); sends nothing."""
    _check_force(actor, force)
    with db.unit_of_work() as s:
        zone = _active_zone(actor, zone_id)
        state = cap_dns.zone_state(s, zone)
    plan = cap_dns.zone_plan(state, force)  # the AXFR, after the transaction
    return _outcome(zone, plan, dry_run=True)


def dns_apply(actor: Actor, zone_id, *, dry_run: bool = False, force: bool = False) -> ApplyOutcome | Job:
    """dry_run: the plan (`dns_plan`, an AXFR in this request, read only). Else the zone's pending
    rows go to BIND by a `dns.records_apply` job, returned: never inside the caller's request."""
    if dry_run:
        return dns_plan(actor, zone_id, force=force)
    return _apply_submit(actor, zone_id=_id(zone_id), force=force)[1]


@audited("dns.apply", "dns_zone")
def _apply_submit(actor: Actor, *, zone_id: int, force: bool = False) -> tuple[Zone, Job]:
    _check_force(actor, force)
    with db.unit_of_work() as s:
        zone = _active_zone(actor, zone_id)
        require_org_role(actor, zone.org_id)
        return zone, _records_job(actor, s, zone, force=force)


def _records_job(actor: Actor, s, zone: Zone, *, force: bool = False) -> Job:
    """A `dns.records_apply` job for the zone (its host checked: down or changed raises)."""
    params = {"zone_id": zone.id, "force": True} if force else {"zone_id": zone.id}
    return jobs.job_create(
        s,
        kind="dns.records_apply",
        host_ids=[zone.host_id or cap_dns.primary_host(s).id],
        params=params,
        org_id=zone.org_id,
        created_by_id=actor.user_id,
        created_by_name=actor.username,
    )


# ---- templates: what sites and mail publish -------------------------------------------------------


def zone_for(s, org_id: int, fqdn: str) -> Zone | None:
    """The hosted zone holding fqdn (the longest match) of the organization or of a ministry above it
    (a department's site lives in its ministry's zone), or None if it is hosted elsewhere."""
    fqdn = fqdn.rstrip(".").lower()
    labels = fqdn.split(".")
    names = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    owners, org = [], s.get(Organization, org_id)
    while org is not None and len(owners) < 10:
        owners.append(org.id)
        org = org.parent
    zones = s.scalars(select(Zone).where(Zone.name.in_(names), Zone.org_id.in_(owners))).all()
    return max(zones, key=lambda z: len(z.name), default=None)


@dataclass(frozen=True)
class ChallengeTarget:
    """Where an ACME DNS-01 answer for a name goes: the hosted zone holding it and govhost's BIND
    with its TSIG key (the secret for a job's secrets only: never a param, a log or a message)."""

    zone: str
    server: str
    port: int
    key_name: str
    key_algorithm: str
    key_secret: str = field(repr=False)


def acme_challenge_target(s, org_id: int, fqdn: str) -> ChallengeTarget | None:
    """The target for `_acme-challenge.<fqdn>` TXT records, or None when fqdn is not in an active
    zone govhost serves for the organization (DNS-01 through govhost's BIND cannot answer for it).
    Reads only (no network); raises Conflict when no DNS server is set up."""
    zone = zone_for(s, org_id, fqdn)
    if zone is None or zone.status != ZoneStatus.ACTIVE:
        return None
    ep = cap_dns.endpoint(s)
    return ChallengeTarget(
        zone.name, ep.server.address, ep.server.port, ep.tsig.name, ep.tsig.algorithm, ep.tsig.secret
    )


@audited("dns.records_publish", "dns_zone")
def records_publish(actor: Actor, *, org_id: int, fqdn: str, source: str, records: list[dict]) -> Zone | None:
    """Make the records of `source` ("site:12", "mail:3") exactly `records` (dicts with name
    relative to the zone or absolute with a final dot, type, data, optional ttl). Returns the zone,
    or None when fqdn's zone is not hosted here (nothing to publish). Rows of other sources and
    records made by hand are untouched. Sent to BIND by a `dns.records_apply` job after commit."""
    source = R._text(source, "source", 64)
    with db.unit_of_work() as s:
        zone = zone_for(s, org_id, fqdn)
        if zone is None:
            return None
        specs = [
            clean_record(zone, RecordIn(r.get("name", "@"), r.get("type", ""), r.get("data", ""), r.get("ttl")))
            for r in records
        ]
        mine = [r for r in _records(s, zone.id) if r.source == source and r.state == RecordState.PRESENT]
        keep = {(r.name, r.rtype, r.data, r.ttl) for r in specs}
        retired = [row for row in mine if (row.name, row.rtype, row.data, row.ttl) not in keep]
        for row in retired:
            _retire(s, row)
        have = {(r.name, r.rtype, r.data, r.ttl) for r in mine}
        new = [r for r in specs if (r.name, r.rtype, r.data, r.ttl) not in have]
        check_conflicts(zone, new, _records(s, zone.id))
        for rec in new:
            _add(s, zone, rec, source)
        if new or retired or any(r.applied_at is None for r in mine):  # else BIND has it all already
            apply_by_job(actor, s, zone)
        return zone


@audited("dns.records_withdraw", "dns_zone")
def records_withdraw(actor: Actor, *, source: str) -> int:
    """Remove everything `source` published (and only that). Returns how many records."""
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(Record).where(Record.source == source, Record.state == RecordState.PRESENT)))
        zones = {r.zone_id for r in rows}
        for row in rows:
            _retire(s, row)
        for zone in s.scalars(select(Zone).where(Zone.id.in_(zones))):
            apply_by_job(actor, s, zone)
        return len(rows)


def apply_by_job(actor: Actor, s, zone: Zone) -> Job | None:
    """Send the zone's pending rows with a `dns.records_apply` job once the caller commits: one job
    per zone in a transaction (a bulk of 500 sites in one zone is one job). A pending zone sends
    its rows when its create job ends. The zone's host down or changed: no job, the rows stay
    pending, the zone says why, and `dns apply` or the next change sends them; the caller's
    change itself always stands."""
    if zone.status != ZoneStatus.ACTIVE:
        return None
    queued = s.info.get("dns_records_jobs")
    if queued is None or queued[0] is not s.info.get("on_commit"):  # a new unit of work
        queued = s.info["dns_records_jobs"] = (s.info.get("on_commit"), {})
    if zone.id in queued[1]:
        return queued[1][zone.id]
    try:
        job = _records_job(actor, s, zone)
    except PanelError as e:
        zone.last_error = e.text()[:1000]
        return None
    queued[1][zone.id] = job
    return job


def queued_apply_job(s, zone: Zone | None) -> Job | None:
    """The `dns.records_apply` job this unit of work queued for `zone` (by records_publish or
    records_withdraw), or None (nothing changed, the zone is not hosted here or its host is down):
    for a caller that acts once BIND has the change (a site move removes the old host's copy then)."""
    queued = s.info.get("dns_records_jobs")
    if zone is None or queued is None or queued[0] is not s.info.get("on_commit"):
        return None
    return queued[1].get(zone.id)


def records_switch(
    actor: Actor, s, *, org_id: int, fqdn: str, source: str, records: list[dict]
) -> tuple[Job | None, str]:
    """records_publish for a caller that acts once BIND has the change (a move switches an object's
    records to its new host, panel.services.moves): (the `dns.records_apply` job, ""), or (None,
    why) when the zone is hosted here but its server takes no job now, or (None, "") when fqdn's
    zone is not hosted here (nothing to switch)."""
    zone = records_publish(actor, org_id=org_id, fqdn=fqdn, source=source, records=records)
    if zone is None:
        return None, ""
    job = queued_apply_job(s, zone)
    return job, "" if job is not None else (zone.last_error or "no DNS job")


# ---- the server ---------------------------------------------------------------------------------


def dns_key(s) -> DnsKey:
    """govhost's TSIG key, made on first use: 256 random bits, sealed at rest."""
    name = current_settings().dns.key_name
    key = s.scalars(select(DnsKey).where(DnsKey.name == name)).first()
    if key is None:
        secret = base64.b64encode(pysecrets.token_bytes(32)).decode()
        key = DnsKey(name=name, algorithm="hmac-sha256", secret_sealed=security.seal(secret))
        s.add(key)
        s.flush()
    return key


@dataclass(frozen=True)
class ServerInfo:
    """What the DNS server page shows: the settings, and whether they name a registered host."""

    primary_name: str  # settings dns.primary_host ("" = DNS off)
    host_id: int | None  # its Host row with role dns, when registered
    nameservers: tuple[str, ...]
    key_name: str
    key_made: bool  # the TSIG key exists (made by the first server set-up)
    resolver: str


def dns_server_info(actor: Actor) -> ServerInfo:
    require_staff(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR)
    cfg = current_settings().dns
    with db.unit_of_work() as s:
        host = s.scalars(select(Host).where(Host.name == cfg.primary_host)).first() if cfg.primary_host else None
        key = s.scalars(select(DnsKey.id).where(DnsKey.name == cfg.key_name)).first()
        return ServerInfo(
            primary_name=cfg.primary_host,
            host_id=host.id if host is not None and DNS_ROLE in host.roles else None,
            nameservers=tuple(cfg.nameservers),
            key_name=cfg.key_name,
            key_made=key is not None,
            resolver=cfg.resolver,
        )


def dns_hosts(actor: Actor) -> list[Host]:
    """Registered hosts with role dns (the choices of the server set-up)."""
    return list(hosts_svc.host_list(actor, role=DNS_ROLE, per_page=200).items)


@audited("dns.server_setup", "job")
def dns_server_setup(actor: Actor, *, host_id: int | None = None, secondaries: tuple[str, ...] = ()):
    """Submit the job that installs BIND on the primary (settings dns.primary_host) with the key."""
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        host = s.get(Host, _id(host_id)) if host_id else cap_dns.primary_host(s)
        if host is None or DNS_ROLE not in host.roles:
            raise Invalid("dns.host_not_dns", "The host must exist and have the role dns.", field="host_id")
        key = dns_key(s)
        return jobs.job_submit(
            actor,
            kind="dns.server_setup",
            org_id=None,
            host_ids=[host.id],
            params={
                "key_name": key.name,
                "algorithm": key.algorithm,
                "secondaries": [R.clean_ip(x) for x in secondaries],
            },
            secrets={"tsig_secret": security.unseal(key.secret_sealed)},
        )


def _id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid("dns.id_invalid", "Not a valid id.") from None


def _not_found(what: str, value) -> NotFound:
    return NotFound(f"{what}.not_found", "Not found.", id=str(value)[:80])
