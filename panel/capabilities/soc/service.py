"""SOC feed use cases: destinations (DC admins), their health and backlog, metrics, recent events.

Every change is audited (and so is itself an event of the feed). A destination's client key and
CA are file paths, read by the shipper; an HTTPS `Authorization` value is stored sealed and never
shown again or logged.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import urllib.parse
from dataclasses import dataclass

from sqlalchemy import func, select

from panel import db, security
from panel.capabilities.soc.catalogue import event_of
from panel.capabilities.soc.models import SocDestination, Transport
from panel.errors import Conflict, Invalid, NotFound
from panel.models.audit import AuditEntry, AuditHead
from panel.models.tenants import Organization, Role
from panel.services.actor import Actor, require_staff
from panel.services.audit import audited
from panel.services.users import db_id

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
BATCH_MAX = 1000
MAX_DESTINATIONS = 20  # a SOC has a few receivers; the health list is shown whole
READERS = (Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.SOC)  # DC staff and the SOC see health and events


@dataclass(frozen=True)
class DestinationIn:
    name: str
    transport: str
    target: str
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    server_name: str = ""
    auth_header: str = ""
    batch_size: int = 200
    enabled: bool = True
    start: str = "now"  # "now": only entries from here on; "all": the whole chain


def _host_ok(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(HOSTNAME.match(host))


def _path(value: str, field: str, *, must_exist: bool) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > 500 or "\x00" in value or not os.path.isabs(value) or any(c in value for c in "\r\n"):
        raise Invalid("soc.path_invalid", "Give an absolute path on the panel server.", field=field)
    if must_exist and not os.path.isfile(value):
        raise Invalid("soc.file_missing", "No such file on the panel server: {path}", field=field, path=value)
    return value


def _clean(data: DestinationIn) -> dict:
    name = (data.name or "").strip().lower()
    if not NAME.match(name):
        raise Invalid("soc.name_invalid", "Use 1 to 63 lowercase letters, digits and hyphens.", field="name")
    try:
        transport = Transport(data.transport)
    except ValueError:
        raise Invalid(
            "soc.transport_invalid", "Choose syslog_tls, syslog_tcp, https_json or file.", field="transport"
        ) from None
    target = (data.target or "").strip()
    if transport in (Transport.SYSLOG_TLS, Transport.SYSLOG_TCP):
        host, sep, port = target.rpartition(":")
        host = host.strip("[]")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or not _host_ok(host):
            raise Invalid(
                "soc.target_invalid", "Give the receiver as host:port, e.g. siem.example.gov:6514.", field="target"
            )
        if transport == Transport.SYSLOG_TCP and host not in ("127.0.0.1", "::1", "localhost"):
            raise Invalid(
                "soc.plain_tcp_remote",
                "Plain TCP only to a relay on this machine (127.0.0.1); use syslog_tls.",
                field="target",
            )
    elif transport == Transport.HTTPS_JSON:
        url = urllib.parse.urlsplit(target)
        if url.scheme != "https" or not url.hostname or not _host_ok(url.hostname) or len(target) > 500:
            raise Invalid("soc.url_invalid", "Give an https:// URL.", field="target")
        try:
            url.port  # noqa: B018  (raises on a bad port)
        except ValueError:
            raise Invalid("soc.url_invalid", "Give an https:// URL.", field="target") from None
    else:
        target = _path(target, "target", must_exist=False)
        if not target or not os.path.isdir(os.path.dirname(target)):
            raise Invalid(
                "soc.file_dir_missing", "The file's directory must exist on the panel server.", field="target"
            )
    server_name = (data.server_name or "").strip()
    if server_name and not HOSTNAME.match(server_name):
        raise Invalid("soc.server_name_invalid", "Give a DNS name.", field="server_name")
    if not isinstance(data.batch_size, int) or not 1 <= data.batch_size <= BATCH_MAX:
        raise Invalid("soc.batch_invalid", "Between 1 and {max} events.", field="batch_size", max=BATCH_MAX)
    auth = data.auth_header or ""
    if len(auth) > 500 or any(c in auth for c in "\r\n\x00"):
        raise Invalid("soc.auth_invalid", "At most 500 characters on one line.", field="auth_header")
    if data.start not in ("now", "all"):
        raise Invalid("soc.start_invalid", "Choose now or all.", field="start")
    cert = _path(data.client_cert, "client_cert", must_exist=True)
    key = _path(data.client_key, "client_key", must_exist=True)
    if key and not cert:
        raise Invalid("soc.key_without_cert", "A client key needs its certificate.", field="client_cert")
    return {
        "name": name,
        "transport": transport,
        "target": target,
        "ca_file": _path(data.ca_file, "ca_file", must_exist=True),
        "client_cert": cert,
        "client_key": key,
        "server_name": server_name,
        "auth_header": security.seal(auth) if auth else "",
        "batch_size": data.batch_size,
        "enabled": bool(data.enabled),
    }


@audited("soc.destination_create", "soc_destination", exclude=("data",))
def destination_create(actor: Actor, *, data: DestinationIn) -> SocDestination:
    require_staff(actor, Role.ADMIN)
    values = _clean(data)
    with db.unit_of_work() as s:
        if s.scalar(select(SocDestination.id).where(SocDestination.name == values["name"])):
            raise Conflict("soc.name_taken", "A destination named {name} exists.", name=values["name"])
        if (s.scalar(select(func.count()).select_from(SocDestination)) or 0) >= MAX_DESTINATIONS:
            raise Conflict("soc.too_many", "At most {max} destinations.", max=MAX_DESTINATIONS)
        head = s.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
        dest = SocDestination(**values, delivered_seq=head if data.start == "now" else 0)
        s.add(dest)
        s.flush()
        return dest


@audited("soc.destination_update", "soc_destination", exclude=("data",))
def destination_update(actor: Actor, dest_id: int, *, data: DestinationIn) -> SocDestination:
    require_staff(actor, Role.ADMIN)
    values = _clean(data)
    with db.unit_of_work() as s:
        dest = _get(dest_id, lock=True)
        if values["name"] != dest.name and s.scalar(
            select(SocDestination.id).where(SocDestination.name == values["name"])
        ):
            raise Conflict("soc.name_taken", "A destination named {name} exists.", name=values["name"])
        if not data.auth_header:
            values.pop("auth_header")  # blank keeps the stored value (it is never shown)
        for k, v in values.items():
            setattr(dest, k, v)
        s.flush()
        return dest


@audited("soc.destination_delete", "soc_destination")
def destination_delete(actor: Actor, dest_id: int) -> SocDestination:
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        dest = _get(dest_id, lock=True)
        s.delete(dest)
        s.flush()
        return dest


@audited("soc.destination_rewind", "soc_destination")
def destination_rewind(actor: Actor, dest_id: int, *, seq: int) -> SocDestination:
    """Send again from entry `seq` on (the SIEM lost data): the cursor moves back, never forward."""
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        dest = _get(dest_id, lock=True)
        if not isinstance(seq, int) or not 1 <= seq <= dest.delivered_seq + 1:
            raise Invalid(
                "soc.rewind_invalid", "Give an entry number from 1 to {max}.", field="seq", max=dest.delivered_seq + 1
            )
        dest.delivered_seq = seq - 1
        s.flush()
        return dest


def _get(dest_id, *, lock: bool = False) -> SocDestination:
    s = db.session()
    dest = None
    if db_id(dest_id):
        stmt = select(SocDestination).where(SocDestination.id == dest_id)
        dest = s.scalars(stmt.with_for_update() if lock else stmt).first()
    if dest is None:
        raise NotFound("soc.destination_not_found", "Not found.", id=str(dest_id)[:64])
    return dest


# ---- health ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    id: int
    name: str
    transport: str
    target: str
    enabled: bool
    delivered_seq: int
    backlog: int
    sent_total: int
    attempts_failed: int
    last_ok_at: dt.datetime | None
    failing_since: dt.datetime | None
    last_error: str
    batch_size: int
    has_auth: bool
    ca_file: str
    client_cert: str
    server_name: str

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        return "failing" if self.failing_since else ("behind" if self.backlog > self.batch_size else "ok")


def destination_health(actor: Actor) -> tuple[int, list[Health]]:
    """The chain head and every destination with its backlog (one query each)."""
    require_staff(actor, *READERS)
    with db.unit_of_work() as s:
        head = s.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
        rows = s.scalars(select(SocDestination).order_by(SocDestination.name)).all()
        return head, [
            Health(
                d.id,
                d.name,
                d.transport.value,
                d.target,
                d.enabled,
                d.delivered_seq,
                max(0, head - d.delivered_seq),
                d.sent_total,
                d.attempts_failed,
                d.last_ok_at,
                d.failing_since,
                d.last_error,
                d.batch_size,
                bool(d.auth_header),
                d.ca_file,
                d.client_cert,
                d.server_name,
            )
            for d in rows
        ]


def destination_get(actor: Actor, dest_id) -> Health:
    _, items = destination_health(actor)
    for h in items:
        if str(h.id) == str(dest_id):
            return h
    raise NotFound("soc.destination_not_found", "Not found.", id=str(dest_id)[:64])


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_text(actor: Actor) -> str:
    """Prometheus text exposition (0.0.4) of the feed's health."""
    head, items = destination_health(actor)
    lines = [
        "# HELP govhost_audit_head_seq The audit chain's last entry number.",
        "# TYPE govhost_audit_head_seq gauge",
        f"govhost_audit_head_seq {head}",
    ]
    series = (
        ("govhost_soc_backlog_events", "gauge", "Events not yet acknowledged by the destination.", lambda h: h.backlog),
        ("govhost_soc_delivered_seq", "gauge", "Last entry the destination acknowledged.", lambda h: h.delivered_seq),
        ("govhost_soc_sent_events_total", "counter", "Events delivered (repeats included).", lambda h: h.sent_total),
        ("govhost_soc_failed_attempts_total", "counter", "Batches that failed to send.", lambda h: h.attempts_failed),
        ("govhost_soc_up", "gauge", "1 if the last attempt succeeded.", lambda h: 0 if h.failing_since else 1),
        (
            "govhost_soc_last_success_timestamp_seconds",
            "gauge",
            "When the destination last acknowledged a batch.",
            lambda h: h.last_ok_at.replace(tzinfo=dt.UTC).timestamp() if h.last_ok_at else 0,
        ),
    )
    for name, kind, help_, value in series:
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for h in items:
            if h.enabled:
                lines.append(f'{name}{{destination="{_label(h.name)}",transport="{h.transport}"}} {value(h)}')
    return "\n".join(lines) + "\n"


# ---- events ------------------------------------------------------------------------------------


def events_recent(actor: Actor, *, after: int = 0, limit: int = 50, page: int = 1) -> list[dict]:
    """Feed events as the SOC receives them: pages of the newest first, or (with `after`) the
    `limit` events after that sequence number, oldest first (a client's cursor)."""
    require_staff(actor, *READERS)
    limit = min(max(1, int(limit)), 500)
    page = min(max(1, int(page)), 2**31 - 1)
    with db.unit_of_work() as s:
        stmt = select(AuditEntry)
        if after:
            stmt = stmt.where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
        else:
            stmt = stmt.order_by(AuditEntry.seq.desc()).limit(limit).offset((page - 1) * limit)
        rows = s.scalars(stmt).all()
        org_ids = {r.org_id for r in rows if r.org_id is not None}
        names = dict(s.execute(select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))).all())
        return [event_of(r, names) for r in rows]
