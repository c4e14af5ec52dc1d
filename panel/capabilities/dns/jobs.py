"""DNS capabilities (dns.server_setup, dns.zone_create, dns.zone_delete, dns.records_apply) and
the live path to BIND.

The playbooks set BIND up and add or remove zones. Records never go through Ansible: they are
planned and sent by provisioners.dns (AXFR + one RFC 2136 update), which takes ~0.1 s for 1,000
records where a playbook run takes seconds. `dns.records_apply` is that path as a job the worker
runs itself (no playbook): an explicit `dns apply` and what sites and mail publish reach BIND
through it, never inside a web request. The service's read-only plan uses `zone_plan` here,
because only the jobs layer may import provisioners.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from panel import db, security
from panel.capabilities.dns.models import DnsKey, Record, RecordState, Zone, ZoneStatus
from panel.db import utcnow
from panel.errors import Conflict, PanelError
from panel.jobs.capabilities import N_, Capability, host_targets, job_secrets, register, settings, source_address
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.services.quotas import quota_release
from provisioners import dns as D
from provisioners.base import Result

SOA_TTL = 3600


# ---- the live path (called by services.dns) --------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: Host
    server: D.Server
    tsig: D.Tsig


def primary_host(session: Session) -> Host:
    name = settings().dns.primary_host
    host = session.scalars(select(Host).where(Host.name == name)).first() if name else None
    if host is None:
        raise Conflict(
            "dns.not_configured",
            "No DNS server is configured (settings dns.primary_host: {name}).",
            name=name or "empty",
        )
    return host


def endpoint(session: Session) -> Endpoint:
    host = primary_host(session)
    key = session.scalars(select(DnsKey).where(DnsKey.name == settings().dns.key_name)).first()
    if key is None:
        raise Conflict("dns.no_key", "The DNS server has not been set up yet (no TSIG key): run dns server-setup.")
    tsig = D.Tsig(key.name, security.unseal(key.secret_sealed), key.algorithm)
    return Endpoint(host, D.Server(host.address, source=source_address(host.address) or None), tsig)


def wanted_of(records) -> tuple[list[D.Rec], set[tuple[str, str, str]]]:
    """Rows (anything with name, rtype, data, ttl, state) -> (records wanted on the server, every key
    govhost owns there, wanted or not)."""
    wanted, owned = [], set()
    for r in records:
        rec = D.rec(r.name, r.rtype, r.data, r.ttl)
        owned.add(rec.key)
        if r.state == RecordState.PRESENT:
            wanted.append(rec)
    return wanted, owned


_ERRORS = {
    D.Unreachable: ("dns.unreachable", 503),
    D.AuthFailed: ("dns.tsig_rejected", 502),
    D.Refused: ("dns.refused", 502),
    D.Stale: ("dns.zone_changed", 409),
    D.NotConfirmed: ("dns.not_confirmed", 502),
}


def _panel_error(e: D.DnsError) -> PanelError:
    key, status = _ERRORS.get(type(e), ("dns.failed", 502))
    return PanelError(key, "{detail}", status=status, detail=str(e))


@dataclass(frozen=True)
class ZoneState:
    """What a live plan or an apply needs, read in one short transaction. The AXFR and the UPDATE
    happen after it has ended: no network I/O while a database transaction is open (on SQLite a
    transaction holds the write lock, so a slow BIND would stall the whole panel)."""

    zone_id: int
    name: str
    server: D.Server
    tsig: D.Tsig
    wanted: list
    owned: set
    present_ids: tuple[int, ...]  # rows sent as wanted
    absent_ids: tuple[int, ...]  # rows sent as removed


def zone_state(session: Session, zone: Zone) -> ZoneState:
    ep = endpoint(session)
    # Plain rows of the columns a plan needs, not ORM objects: for a 1,000-record zone, building and
    # tracking the objects cost more than the AXFR (and mark_applied then has none to reconcile).
    cols = (Record.id, Record.name, Record.rtype, Record.data, Record.ttl, Record.state)
    records = session.execute(select(*cols).where(Record.zone_id == zone.id).order_by(Record.id)).all()
    wanted, owned = wanted_of(records)
    return ZoneState(
        zone.id,
        zone.name,
        ep.server,
        ep.tsig,
        wanted,
        owned,
        tuple(r.id for r in records if r.state == RecordState.PRESENT),
        tuple(r.id for r in records if r.state == RecordState.ABSENT),
    )


def zone_plan(state: ZoneState, force: bool = False) -> D.Plan:
    try:
        return D.live_plan(state.server, state.tsig, state.name, state.wanted, state.owned, force)
    except D.DnsError as e:
        raise _panel_error(e) from None


def zone_converge(state: ZoneState, *, force: bool = False, dry_run: bool = False) -> D.Applied:
    try:
        return D.converge(state.server, state.tsig, state.name, state.wanted, state.owned, force=force, dry_run=dry_run)
    except D.DnsError as e:
        raise _panel_error(e) from None


def mark_applied(session: Session, zone: Zone, state: ZoneState, serial: int) -> None:
    """BIND confirmed the update: the rows sent as present are applied, the rows sent as removed are
    gone. Only those: a row added or retired while the update was on the wire stays pending. Two
    set-based statements, not one per row (a 1,000-record publish would flush 1,000 UPDATEs)."""
    now = utcnow()
    if state.absent_ids:
        session.execute(
            delete(Record).where(Record.id.in_(state.absent_ids), Record.state == RecordState.ABSENT),
            execution_options={"synchronize_session": False},
        )
    if state.present_ids:
        session.execute(
            update(Record)
            .where(Record.id.in_(state.present_ids), Record.state == RecordState.PRESENT, Record.applied_at.is_(None))
            .values(applied_at=now),
            execution_options={"synchronize_session": False},
        )
    for obj in list(session.identity_map.values()):  # loaded rows must not contradict the table
        if isinstance(obj, Record) and obj.zone_id == zone.id:
            if obj.id in state.absent_ids:
                session.expunge(obj)
            elif obj.id in state.present_ids:
                session.expire(obj, ["applied_at"])
    zone.serial, zone.applied_at, zone.last_error = serial, now, ""


def converge_now(zone_id: int) -> None:
    """Send a zone's pending rows to BIND (read, then the network, then record): for callers whose
    own transaction has just committed. A failure is kept on the zone; `dns apply` sends them later."""
    try:
        with db.unit_of_work() as s:
            zone = s.get(Zone, zone_id)
            if zone is None:
                return
            state = zone_state(s, zone)
        done = zone_converge(state)
        with db.unit_of_work() as s:
            zone = s.get(Zone, zone_id)
            if zone is not None:
                mark_applied(s, zone, state, done.serial_after)
    except Exception as e:
        text = e.text() if isinstance(e, PanelError) else str(e)
        with db.unit_of_work() as s:
            zone = s.get(Zone, zone_id)
            if zone is not None:
                zone.last_error = text[:1000]


# ---- dns.records_apply: a zone's pending rows to BIND, in the worker ---------------------------------


RECORDS_SENT = N_("%(added)s added, %(removed)s removed, serial %(serial)s")
RECORDS_UNCHANGED = N_("nothing to change, serial %(serial)s")


def _step(counter: int, event: str, status: str | None, text: str = "") -> dict:
    return {
        "counter": counter,
        "event": event,
        "task": "Send the zone's changes",
        "host": "",
        "status": status,
        "stdout": text,
    }


def _records_run(params: dict, cancelled, on_event) -> Result:
    """Read the zone's rows (one short transaction), send them (AXFR + one UPDATE, no transaction
    open), then mark what BIND took. A zone gone or not served any more: nothing to send. With
    params force (staff, checked at submit) records govhost did not make are removed too."""
    zone_id = params.get("zone_id")
    with db.unit_of_work() as s:
        zone = s.get(Zone, zone_id) if isinstance(zone_id, int) else None
        if zone is None or zone.status != ZoneStatus.ACTIVE:
            return Result("successful", 0, explanation="The zone is not served: nothing to send.")
        state = zone_state(s, zone)
    on_event(_step(1, "playbook_on_task_start", None))
    try:
        done = zone_converge(state, force=params.get("force") is True)
    except PanelError as e:
        on_event(_step(2, "runner_on_failed", "failed", e.text()))
        return Result("failed", 1, explanation=e.text()[:1000])
    with db.unit_of_work() as s:
        zone = s.get(Zone, zone_id)
        if zone is not None:
            mark_applied(s, zone, state, done.serial_after)
    if done.sent:
        summary = RECORDS_SENT % {
            "added": len(done.plan.add),
            "removed": len(done.plan.remove),
            "serial": done.serial_after,
        }
    else:
        summary = RECORDS_UNCHANGED % {"serial": done.serial_after}
    on_event(_step(2, "runner_on_ok", "ok", summary))
    return Result("successful", 0, explanation=summary)


def _records_failed(job: Job, session: Session, result: Result) -> None:
    """The rows stay pending (shown so); the zone says why. `dns apply` or the next change sends them."""
    zone = session.get(Zone, job.params.get("zone_id"))
    if zone is not None:
        zone.last_error = (result.explanation or "the records could not be sent")[:1000]


def _no_build(job: Job, session: Session):
    return {}, {}, []


# ---- job capabilities ---------------------------------------------------------------------------


def nameservers(zone_name: str, host: Host) -> tuple[list[str], list[dict]]:
    """NS names of a new zone and glue for in-zone ones; default: ns1.<zone> at the primary's address."""
    names = [n.rstrip(".").lower() for n in settings().dns.nameservers] or [f"ns1.{zone_name}"]
    glue = [
        {"name": n, "address": host.address}
        for n in names
        if (n == zone_name or n.endswith("." + zone_name)) and n.split(".")[0] == "ns1"
    ]
    return names, glue


def _server_build(job: Job, session: Session):
    p = job.params
    extravars = {
        "bind_server_key_name": p["key_name"],
        "bind_server_key_algorithm": p["algorithm"],
        "bind_server_secondaries": list(p.get("secondaries", [])),
    }
    secret = _job_secret(job)
    return extravars, {"tsig_secret": secret}, host_targets(job, session)


def _job_secret(job: Job) -> str:
    secret = job_secrets(job).get("tsig_secret", "")
    if not secret:
        raise Conflict("dns.no_key", "The server setup job carries no TSIG secret.")
    return secret


def _zone(job: Job, session: Session) -> Zone:
    zone = session.get(Zone, job.params["zone_id"])
    if zone is None:
        raise Conflict("dns.zone_gone", "The zone of this job no longer exists.")
    return zone


def _zone_create_build(job: Job, session: Session):
    zone = _zone(job, session)
    targets = host_targets(job, session)
    host = session.get(Host, job.host_ids[0])
    names, glue = nameservers(zone.name, host)
    extravars = {
        "zone_name": zone.name,
        "zone_nameservers": names,
        "zone_glue": glue,
        "zone_hostmaster": f"hostmaster.{zone.name}",
        "zone_ttl": settings().dns.default_ttl,
        "bind_zone_key_name": settings().dns.key_name,
    }
    return extravars, {}, targets


def _zone_delete_build(job: Job, session: Session):
    return {"zone_name": job.params["zone_name"]}, {}, host_targets(job, session)


def _zone_created(job: Job, session: Session, result: Result) -> None:
    zone = _zone(job, session)
    zone.move_to(ZoneStatus.ACTIVE)
    zone.host_id = job.host_ids[0]
    # Records asked for while the zone was pending go out once this job's outcome is committed
    # (never inside the transaction); if BIND cannot take them, `dns apply` sends them later.
    zone_id = zone.id
    db.on_commit(lambda: converge_now(zone_id))


def _zone_create_failed(job: Job, session: Session, result: Result) -> None:
    zone = session.get(Zone, job.params["zone_id"])
    if zone is not None and zone.status == ZoneStatus.PENDING:
        zone.move_to(ZoneStatus.FAILED)
        zone.last_error = (result.explanation or "zone creation failed")[:1000]


def _zone_deleted(job: Job, session: Session, result: Result) -> None:
    zone = session.get(Zone, job.params["zone_id"])
    if zone is None:
        return
    quota_release(session, [zone.request_id])
    session.delete(zone)


def _zone_delete_failed(job: Job, session: Session, result: Result) -> None:
    zone = session.get(Zone, job.params["zone_id"])
    if zone is not None and zone.status == ZoneStatus.DELETING:
        zone.move_to(ZoneStatus(job.params.get("previous", ZoneStatus.ACTIVE.value)))
        zone.last_error = (result.explanation or "zone deletion failed")[:1000]


register(
    Capability(
        "dns.server_setup",
        "dns_server.yml",
        _server_build,
        timeout_s=600,
        description=N_("Install and configure BIND as govhost's primary DNS server"),
    )
)
register(
    Capability(
        "dns.zone_create",
        "zone_create.yml",
        _zone_create_build,
        on_success=_zone_created,
        on_failure=_zone_create_failed,
        timeout_s=300,
        description=N_("Add a zone to BIND"),
    )
)
register(
    Capability(
        "dns.records_apply",
        "",
        _no_build,
        on_failure=_records_failed,
        timeout_s=120,
        description=N_("Send a zone's record changes to BIND"),
        local=_records_run,
        outcomes=(RECORDS_SENT, RECORDS_UNCHANGED),
        # One RFC 2136 update over the network, no file of the host touched: it runs beside the
        # host's playbook jobs (a new site's record reaches BIND while its create job starts
        # Ansible, well before the run's ACME order needs it), one records job at a time.
        holds_hosts=False,
    )
)
register(
    Capability(
        "dns.zone_delete",
        "zone_delete.yml",
        _zone_delete_build,
        on_success=_zone_deleted,
        on_failure=_zone_delete_failed,
        timeout_s=300,
        description=N_("Remove a zone from BIND"),
    )
)
