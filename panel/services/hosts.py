"""Host inventory use cases: register with a pinned SSH host key, probe, list, update, rekey, delete.

Network calls (key fetch, probe) run outside any transaction: the host row is read in one short
unit of work, the network is asked, and the outcome is written (and audited) in another, so a slow
or dead host never holds a database lock.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from panel import db
from panel.boot import current as current_settings
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.jobs import probes
from panel.models.hosts import NAME_PATTERN, Host, HostOS, HostRole, HostState, with_role
from panel.models.tenants import Role
from panel.services.actor import Actor, require_staff, require_write
from panel.services.audit import audited, security_event
from panel.services.pagination import Page, paginate

NAME_RE = re.compile(NAME_PATTERN)
SSH_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
MAX_CAPACITY = 1_000_000
_CAPACITY = ("max_sites", "max_mailboxes", "max_databases")


# ---- validation (pure) ---------------------------------------------------------------------------


def validate_name(name) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise Invalid(
            "host.name_invalid",
            "A host name is 1-63 characters: lower-case letters, digits and hyphens, starting with a letter.",
            field="name",
        )
    return name


def validate_address(address, *, network: str = "", source: str = "") -> str:
    """A unicast IPv4/IPv6 address in normal form. In the managed network the panel reaches from its
    own source address (settings.network), neither that address nor the network's own and broadcast
    addresses can be a host's."""
    try:
        ip = ipaddress.ip_address(address.strip() if isinstance(address, str) else "")
    except ValueError:
        ip = None
    if ip is None or getattr(ip, "scope_id", None):
        raise Invalid("host.address_invalid", "Give the host's IPv4 or IPv6 address, e.g. 10.77.0.11.", field="address")
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip.is_link_local:
        raise Invalid(
            "host.address_unusable", "{address} cannot be a managed host's address.", field="address", address=str(ip)
        )
    net = ipaddress.ip_network(network) if network else None
    if net is not None and ip in net and (ip in (net.network_address, net.broadcast_address) or str(ip) == source):
        raise Invalid(
            "host.address_reserved",
            "In the network {network}, {address} is the network's own address, its broadcast or the panel's.",
            field="address",
            network=str(net),
            address=str(ip),
        )
    return str(ip)


def _reserved() -> dict:
    """The managed network and the panel's own address in it (settings.network)."""
    net = current_settings().network
    return {"network": net.source_network, "source": net.source_address}


def _whole(value, field: str, key: str, message: str, lo: int, hi: int, **params) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(key, message, field=field, **params)
    return value


def validate_port(port) -> int:
    return _whole(port, "port", "host.port_invalid", "The SSH port is a number from 1 to 65535.", 1, 65535)


def validate_capacity(field: str, value) -> int:
    return _whole(
        value,
        field,
        "host.capacity_invalid",
        "{what} is a whole number from 0 to {max}.",
        0,
        MAX_CAPACITY,
        what=field,
        max=MAX_CAPACITY,
    )


def validate_os(value) -> HostOS:
    try:
        return HostOS(value)
    except ValueError:
        raise Invalid("host.os_invalid", "The operating system is linux or windows.", field="os") from None


def validate_state(value) -> HostState:
    try:
        return HostState(value)
    except ValueError:
        raise Invalid("host.state_invalid", "The state is active, draining or down.", field="state") from None


def validate_roles(roles) -> frozenset[HostRole]:
    """Roles as an iterable or a comma-separated string; each one of web, mail, dns, db."""
    items = roles.split(",") if isinstance(roles, str) else list(roles or ())
    try:
        return frozenset(HostRole(str(r).strip()) for r in items if str(r).strip())
    except ValueError:
        raise Invalid("host.role_invalid", "Roles are chosen from: web, mail, dns, db.", field="roles") from None


def validate_ssh_user(user) -> str:
    if not isinstance(user, str) or not SSH_USER_RE.match(user):
        raise Invalid(
            "host.ssh_user_invalid",
            "The SSH user is a Unix user name (lower-case letters, digits, _ and -).",
            field="ssh_user",
        )
    return user


# ---- permissions and lookups ----------------------------------------------------------------------


def _require_reader(actor: Actor) -> None:
    """Hosts are data-center objects: staff (auditors included) read them; ministries do not."""
    if not actor.is_staff:
        raise Forbidden("host.forbidden", "Hosts are managed by the data center.")


def _require_operator(actor: Actor, host_id=None) -> None:
    if host_id is not None and not actor.is_staff:  # a ministry cannot tell whether a host exists
        raise NotFound("host.not_found", "No host {id}.", id=str(host_id))
    require_write(actor)
    require_staff(actor, Role.OPERATOR, Role.ADMIN)


def _host(host_id) -> Host:
    host = db.session().get(Host, host_id) if isinstance(host_id, int) else None
    if host is None:
        raise NotFound("host.not_found", "No host {id}.", id=str(host_id))
    return host


def host_get(actor: Actor, host_id: int) -> Host:
    if not actor.is_staff:  # a ministry cannot tell whether a host exists
        raise NotFound("host.not_found", "No host {id}.", id=str(host_id))
    with db.unit_of_work():
        return _host(host_id)


def host_find(actor: Actor, name: str) -> Host:
    """By name (the CLI's handle); NotFound for ministries as for unknown names."""
    if not actor.is_staff:
        raise NotFound("host.not_found", "No host {id}.", id=str(name)[:63])
    with db.unit_of_work() as s:
        host = s.scalars(select(Host).where(Host.name == str(name))).first()
        if host is None:
            raise NotFound("host.not_found", "No host {id}.", id=str(name)[:63])
        return host


def host_list(actor: Actor, *, page: int = 1, per_page: int = 50, role=None, state=None) -> Page:
    _require_reader(actor)
    stmt = select(Host)
    if role:
        (wanted,) = validate_roles([role]) or (None,)
        stmt = stmt.where(with_role(wanted)) if wanted else stmt
    if state:
        stmt = stmt.where(Host.state == validate_state(state))
    with db.unit_of_work():
        return paginate(stmt.order_by(Host.name), page=page, per_page=per_page)


def _check_free(s, name: str, address: str, port: int, exclude_id: int | None = None) -> None:
    for column, value, field, key in (
        (Host.name, name, "name", "host.name_taken"),
        (Host.address, address, "address", "host.address_taken"),
    ):
        stmt = select(Host.id).where(column == value)
        if column is Host.address:
            stmt = stmt.where(Host.port == port)
        if exclude_id is not None:
            stmt = stmt.where(Host.id != exclude_id)
        if s.scalars(stmt).first() is not None:
            raise Conflict(key, "{value} is already registered.", field=field, value=value)


def _fetch_key(address: str, port: int, expected: str | None) -> tuple[str, str, str]:
    try:
        key = probes.fetch_host_key(address, port)
    except probes.ProbeError as e:
        raise Invalid(
            "host.unreachable", "Could not read the host's SSH key: {reason}", field="address", reason=str(e)
        ) from None
    if expected and expected.strip() != key[2]:
        raise Conflict(
            "host.fingerprint_mismatch",
            "The host presents {presented}, not the expected {expected}.",
            field="fingerprint",
            presented=key[2],
            expected=expected.strip()[:60],
        )
    return key


# ---- register ----------------------------------------------------------------------------------


def host_register(
    actor: Actor,
    *,
    name,
    address,
    port=22,
    os="linux",
    roles=(),
    max_sites=100,
    max_mailboxes=1000,
    max_databases=100,
    ssh_user="root",
    fingerprint: str | None = None,
) -> Host:
    """Validate, read the host's SSH key over the network and pin it. `fingerprint`, when given,
    must match what the host presents (no trust on first use)."""
    _require_operator(actor)
    fields = {
        "name": validate_name(name),
        "address": validate_address(address, **_reserved()),
        "port": validate_port(port),
        "os": validate_os(os),
        "roles": sorted(validate_roles(roles)),
        "ssh_user": validate_ssh_user(ssh_user),
        "max_sites": validate_capacity("max_sites", max_sites),
        "max_mailboxes": validate_capacity("max_mailboxes", max_mailboxes),
        "max_databases": validate_capacity("max_databases", max_databases),
    }
    with db.unit_of_work() as s:
        _check_free(s, fields["name"], fields["address"], fields["port"])
    key_type, key_b64, fp = _fetch_key(fields["address"], fields["port"], fingerprint)
    return _host_insert(actor, **fields, host_key_type=key_type, host_key=key_b64, fingerprint=fp)


@audited("host.register", "host", exclude=("host_key",))
def _host_insert(actor: Actor, *, roles, **fields) -> Host:
    s = db.session()
    _check_free(s, fields["name"], fields["address"], fields["port"])
    host = Host(**fields, facts={})
    host.roles = roles
    s.add(host)
    s.flush()
    return host


# ---- probe -------------------------------------------------------------------------------------


def host_probe(actor: Actor, host_id: int) -> probes.ProbeResult:
    """Probe with the pinned key. A changed key is refused, the host goes down and a security event
    records both fingerprints; an unreachable host only gets last_probe_ok False."""
    _require_operator(actor, host_id)
    with db.unit_of_work():
        host = _host(host_id)
        target = (host.address, host.port, host.ssh_user, (host.host_key_type, host.host_key))
    result = probes.probe(*target[:3], current_settings().ansible.ssh_key, target[3])
    _probe_record(
        actor,
        host_id=host_id,
        reachable=result.reachable,
        key_matches=result.key_matches,
        presented_fingerprint=result.presented_fingerprint,
        ok=result.ok,
        facts=result.facts,
        error=result.error,
    )
    return result


@audited("host.probe", "host", exclude=("facts",))
def _probe_record(
    actor: Actor,
    *,
    host_id: int,
    reachable: bool,
    key_matches,
    presented_fingerprint: str,
    ok: bool,
    facts: dict,
    error: str,
) -> Host:
    host = _host(host_id)
    host.last_probe_at, host.last_probe_ok = db.utcnow(), ok
    if reachable and key_matches is False:
        host.state, host.key_mismatch_at = HostState.DOWN, db.utcnow()
        security_event(
            actor,
            "host.key_changed",
            host=host.name,
            address=host.address,
            port=host.port,
            pinned_fingerprint=host.fingerprint,
            presented_fingerprint=presented_fingerprint,
        )
    elif ok:
        host.facts = {**(host.facts or {}), **facts}  # keep what jobs recorded (e.g. bootstrapped_at)
    db.session().flush()
    return host


# ---- update, rekey, delete ------------------------------------------------------------------------


@audited("host.update", "host")
def host_update(
    actor: Actor,
    host_id: int,
    *,
    state=None,
    roles=None,
    max_sites=None,
    max_mailboxes=None,
    max_databases=None,
    ssh_user=None,
) -> Host:
    """Change what is given (None leaves a field as it is)."""
    _require_operator(actor, host_id)
    host = _host(host_id)
    if state is not None:
        state = validate_state(state)
        if state == HostState.ACTIVE and host.key_mismatch_at is not None:
            raise Conflict(
                "host.key_untrusted",
                "{name} presented a changed host key; an admin must rekey it before it can be active.",
                field="state",
                name=host.name,
            )
        host.state = state
    if roles is not None:
        host.roles = validate_roles(roles)
    for field, value in zip(_CAPACITY, (max_sites, max_mailboxes, max_databases), strict=True):
        if value is not None:
            setattr(host, field, validate_capacity(field, value))
    if ssh_user is not None:
        host.ssh_user = validate_ssh_user(ssh_user)
    db.session().flush()
    return host


def host_rekey(actor: Actor, host_id: int, *, fingerprint: str | None = None) -> Host:
    """Admin only: pin the key the host presents now (after a verified rebuild) and clear a recorded
    key change. The state is left as it is; set the host active afterwards."""
    _require_operator(actor, host_id)
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work():
        host = _host(host_id)
        address, port = host.address, host.port
    key_type, key_b64, fp = _fetch_key(address, port, fingerprint)
    return _rekey_record(actor, host_id=host_id, host_key_type=key_type, host_key=key_b64, new_fingerprint=fp)


@audited("host.rekey", "host", exclude=("host_key",))
def _rekey_record(actor: Actor, *, host_id: int, host_key_type: str, host_key: str, new_fingerprint: str) -> Host:
    host = _host(host_id)
    security_event(
        actor, "host.rekeyed", host=host.name, old_fingerprint=host.fingerprint, new_fingerprint=new_fingerprint
    )
    host.host_key_type, host.host_key, host.fingerprint = host_key_type, host_key, new_fingerprint
    host.key_mismatch_at = None
    db.session().flush()
    return host


@audited("host.delete", "host")
def host_delete(actor: Actor, host_id: int) -> Host:
    _require_operator(actor, host_id)
    s = db.session()
    host = _host(host_id)
    name = host.name  # read now: after a failed flush the row is expired and cannot be loaded
    s.delete(host)
    try:
        s.flush()
    except IntegrityError:
        s.rollback()
        raise Conflict("host.in_use", "{name} still holds sites, mailboxes or other objects.", name=name) from None
    return host


# ---- the lab's demo host --------------------------------------------------------------------------


@audited("host.demo_ensure", "host", exclude=("trusted_keys",))
def host_demo_ensure(actor: Actor, *, name: str, address: str, trusted_keys: Iterable[tuple[str, str]]) -> Host:
    """Register the lab's demo host, or re-pin it when it presents one of the lab image's own keys
    (the lab rebuilt its image). Any other key is refused. Idempotent."""
    _require_operator(actor)
    name, address = validate_name(name), validate_address(address, **_reserved())
    key_type, key_b64, fp = _fetch_key(address, 22, None)
    if key_b64 not in {b64 for _, b64 in trusted_keys}:
        raise Conflict(
            "host.demo_untrusted",
            "{address} presents {fingerprint}, which is not a key of the lab image: not the lab host.",
            field="address",
            address=address,
            fingerprint=fp,
        )
    s = db.session()
    host = s.scalars(select(Host).where(Host.name == name)).first()
    if host is None:
        _check_free(s, name, address, 22)
        host = Host(name=name, address=address, port=22, os=HostOS.LINUX, ssh_user="root", facts={})
        host.roles = set(HostRole)
        s.add(host)
    elif host.address != address:
        raise Conflict(
            "host.demo_moved",
            "{name} is registered at {registered}, not {address}.",
            field="address",
            name=name,
            registered=host.address,
            address=address,
        )
    host.host_key_type, host.host_key, host.fingerprint = key_type, key_b64, fp
    host.key_mismatch_at, host.state = None, HostState.ACTIVE
    s.flush()
    return host
