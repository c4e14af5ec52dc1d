"""Host inventory use cases: register with a pinned SSH host key, probe, list, update, rekey, delete.

Network calls (key fetch, probe) run outside any transaction: the host row is read in one short
unit of work, the network is asked, and the outcome is written (and audited) in another, so a slow
or dead host never holds a database lock.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from panel import db, security
from panel.boot import current as current_settings
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.jobs import probes, runner
from panel.jobs.capabilities import source_address
from panel.models.hosts import NAME_PATTERN, Host, HostOS, HostState, HostTransport, with_role
from panel.models.tenants import Role
from panel.services.actor import Actor, require_staff, require_write
from panel.services.audit import audited, security_event
from panel.services.pagination import Page, paginate

NAME_RE = re.compile(NAME_PATTERN)
SSH_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
MAX_CAPACITY = 1_000_000


# ---- the roles and capacities capabilities declare ---------------------------------------------


@dataclass(frozen=True)
class DeclaredRole:
    """A host role ("web"): what a host is tagged with so a capability places objects on it."""

    name: str
    label: str  # English, marked with N_(); the surfaces translate it


@dataclass(frozen=True)
class DeclaredCapacity:
    """A host capacity ("sites"): the most of a resource one host holds, stored per host."""

    resource: str
    label: str  # English, marked with N_() ("Most sites")
    default: int  # for a host with no row of its own (registered before the capability was enabled)
    role: str = ""  # the role whose hosts hold it (the surfaces show it beside the role)


ROLES: dict[str, DeclaredRole] = {}
CAPACITIES: dict[str, DeclaredCapacity] = {}


def role_register(name: str, label: str) -> DeclaredRole:
    """A host role (a capability's manifest declares it; the capability loader calls this)."""
    role = ROLES[name] = DeclaredRole(name, label)
    return role


def role_unregister(name: str) -> None:
    ROLES.pop(name, None)


def capacity_register(resource: str, label: str, default: int, role: str = "") -> DeclaredCapacity:
    """A host capacity (a capability's manifest declares it; the capability loader calls this)."""
    cap = CAPACITIES[resource] = DeclaredCapacity(resource, label, default, role)
    return cap


def capacity_unregister(resource: str) -> None:
    CAPACITIES.pop(resource, None)


def roles() -> list[DeclaredRole]:
    return sorted(ROLES.values(), key=lambda r: r.name)


def capacities() -> list[DeclaredCapacity]:
    return sorted(CAPACITIES.values(), key=lambda c: (c.role, c.resource))


def capacity(host: Host, resource: str) -> int:
    """The most of `resource` `host` may hold: its row, else the declared default (0 if undeclared)."""
    stored = host.capacities
    if resource in stored:
        return stored[resource]
    declared = CAPACITIES.get(resource)
    return declared.default if declared else 0


# ---- validation (pure) ---------------------------------------------------------------------------


def _matching(value, pattern: re.Pattern, key: str, message: str, field: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise Invalid(key, message, field=field)
    return value


def validate_name(name) -> str:
    return _matching(
        name,
        NAME_RE,
        "host.name_invalid",
        "A host name is 1-63 characters: lower-case letters, digits and hyphens, starting with a letter.",
        "name",
    )


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


def validate_capacity(resource: str, value) -> int:
    return _whole(
        value,
        "capacities",
        "host.capacity_invalid",
        "{what} is a whole number from 0 to {max}.",
        0,
        MAX_CAPACITY,
        what=resource,
        max=MAX_CAPACITY,
    )


def validate_capacities(values) -> dict[str, int]:
    """{resource: maximum} for declared resources; a mapping, or "resource=N,..." text (the CLI's)."""
    if isinstance(values, str):
        pairs = [item.partition("=") for item in values.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise Invalid("host.capacity_format", "Give capacities as resource=number.", field="capacities")
        values = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(values, Mapping):
        raise Invalid("host.capacity_format", "Give capacities as resource=number.", field="capacities")
    out = {}
    for resource, value in values.items():
        if resource not in CAPACITIES:
            raise Invalid(
                "host.capacity_unknown",
                "{resource} is not a host capacity; the capacities are: {known}.",
                field="capacities",
                resource=str(resource)[:40],
                known=", ".join(sorted(CAPACITIES)) or "-",
            )
        out[resource] = validate_capacity(resource, value)
    return out


def validate_os(value) -> HostOS:
    try:
        return HostOS(value)
    except ValueError:
        raise Invalid("host.os_invalid", "The operating system is linux or windows.", field="os") from None


def validate_state(value) -> HostState:
    try:
        return HostState(value)
    except ValueError:
        raise Invalid(
            "host.state_invalid", "The state is active, draining, maintenance or down.", field="state"
        ) from None


def validate_roles(roles) -> frozenset[str]:
    """Roles as an iterable or a comma-separated string; each one the enabled capabilities declare."""
    items = roles.split(",") if isinstance(roles, str) else list(roles or ())
    wanted = frozenset(str(r).strip() for r in items if str(r).strip())
    if not wanted <= ROLES.keys():
        raise Invalid(
            "host.role_invalid", "Roles are chosen from: {roles}.", field="roles", roles=", ".join(sorted(ROLES)) or "-"
        )
    return wanted


def validate_ssh_user(user) -> str:
    return _matching(
        user,
        SSH_USER_RE,
        "host.ssh_user_invalid",
        "The SSH user is a Unix user name (lower-case letters, digits, _ and -).",
        "ssh_user",
    )


# ---- an operator's choice of host (every capability's placement override) ------------------------


def host_choice(actor: Actor, payload: dict, *, field: str = "host_id") -> tuple[int | None, bool]:
    """(host id or None, exceed) from a request payload's optional `host_id` and `exceed_capacity`:
    only data-center operators choose the host, and placing past its capacity must be said
    explicitly (true, recorded in the audited request), only with a chosen host."""
    value = payload.get(field)
    host_id = None
    if value not in (None, ""):
        if not actor.has_staff(Role.OPERATOR, Role.ADMIN):
            raise Invalid("host.override_forbidden", "Only data-center operators choose the host.", field=field)
        host_id = _whole(value, field, "host.id_invalid", "{what} is a host id.", 1, 2**63 - 1, what=field)
    exceed = payload.get("exceed_capacity", False)
    if not isinstance(exceed, bool):
        raise Invalid("host.exceed_invalid", "exceed_capacity is true or false.", field="exceed_capacity")
    if exceed and host_id is None:
        raise Invalid(
            "host.exceed_without_host", "exceed_capacity applies only with a chosen host.", field="exceed_capacity"
        )
    return host_id, exceed


def host_room(host: Host, *, resource: str, used: int, count: int, exceed: bool, field: str = "host_id") -> None:
    """An operator's chosen host must have room for `count` more under its `resource` capacity
    unless `exceed` says to place them anyway."""
    if host.state != HostState.ACTIVE:
        raise Conflict(
            "host.not_active",
            "Host {host} is {state}: it takes no new objects.",
            field=field,
            host=host.name,
            state=host.state.value,
        )
    limit = capacity(host, resource)
    if used + count > limit and not exceed:
        raise Conflict(
            "host.full",
            "Host {host} has room for {free} more ({capacity} {limit}), not {count}; "
            "set exceed_capacity to place them anyway.",
            field=field,
            host=host.name,
            free=max(0, limit - used),
            count=count,
            capacity=resource,
            limit=limit,
        )


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
    port=None,
    os="linux",
    roles=(),
    capacities=None,
    ssh_user="root",
    fingerprint: str | None = None,
    transport="ssh",
    winrm: Mapping | None = None,
) -> Host:
    """Validate, read the host's SSH key over the network and pin it. `fingerprint`, when given,
    must match what the host presents (no trust on first use). `capacities` ({resource: maximum})
    not given start at their declared defaults, stored on the host. `transport` "winrm" (Windows
    Server 2019): no SSH key to pin; `winrm` gives its authentication and credentials
    (validate_winrm), sealed at once; the host's HTTPS certificate is validated by the data
    center CA at each connection."""
    _require_operator(actor)
    transport = validate_transport(transport)
    wants_winrm = transport == HostTransport.WINRM
    fields = {
        "name": validate_name(name),
        "address": validate_address(address, **_reserved()),
        "port": validate_port((5986 if wants_winrm else 22) if port is None else port),
        "os": validate_os(os),
        "roles": sorted(validate_roles(roles)),
        "ssh_user": validate_ssh_user(ssh_user),
        "capacities": {c.resource: c.default for c in CAPACITIES.values()} | validate_capacities(capacities or {}),
    }
    if not wants_winrm:
        if winrm:
            raise Invalid("host.winrm_without_transport", "WinRM settings need the transport winrm.", field="transport")
    else:
        fields |= validate_winrm(fields["os"], fields["address"], fields["port"], winrm or {}, fingerprint)
    with db.unit_of_work() as s:
        _check_free(s, fields["name"], fields["address"], fields["port"])
    if wants_winrm:
        return _host_insert(actor, **fields, host_key_type="", host_key="", fingerprint="")
    key_type, key_b64, fp = _fetch_key(fields["address"], fields["port"], fingerprint)
    return _host_insert(actor, **fields, host_key_type=key_type, host_key=key_b64, fingerprint=fp)


# ---- WinRM over HTTPS (Windows Server 2019's fallback; docs/windows.md) -------------------------------

WINRM_AUTHS = ("certificate", "kerberos")
WINRM_REFUSED = ("ntlm", "basic", "credssp", "plaintext", "negotiate")
KERBEROS_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}@[A-Z0-9][A-Z0-9.-]{0,252}$")


def validate_transport(value) -> HostTransport:
    try:
        return HostTransport(value)
    except ValueError:
        raise Invalid("host.transport_invalid", "The transport is ssh or winrm.", field="transport") from None


def validate_winrm(os: HostOS, address: str, port: int, winrm: Mapping, fingerprint) -> dict:
    """The WinRM columns of a Windows host: HTTPS only (never port 5985), the data center CA set,
    certificate (a client certificate and its matching key) or Kerberos (user@REALM and a password)
    authentication; NTLM, Basic and CredSSP refused. The credentials come back sealed."""
    if not isinstance(winrm, Mapping):
        raise Invalid("host.winrm_invalid", "Give the WinRM authentication and its credentials.", field="winrm_auth")
    if os != HostOS.WINDOWS:
        raise Invalid("host.winrm_not_windows", "WinRM is for Windows hosts only.", field="transport")
    if fingerprint:
        raise Invalid(
            "host.winrm_fingerprint",
            "A WinRM host has no SSH key to pin: its HTTPS certificate is checked against the data center CA.",
            field="fingerprint",
        )
    if port == 5985:
        raise Invalid("host.winrm_http", "Port 5985 is WinRM over HTTP: govhost uses HTTPS only (5986).", field="port")
    auth = str(winrm.get("auth") or "").strip().lower()
    if auth in WINRM_REFUSED:
        raise Invalid(
            "host.winrm_auth_refused",
            "WinRM {auth} is refused: govhost authenticates by client certificate or Kerberos only.",
            field="winrm_auth",
            auth=auth[:16],
        )
    if auth not in WINRM_AUTHS:
        raise Invalid("host.winrm_auth_invalid", "WinRM authentication is certificate or kerberos.", field="winrm_auth")
    ca = current_settings().ansible.winrm_ca_bundle
    if not ca or not _pem_certs(_read(ca)):
        raise Invalid(
            "host.winrm_no_ca",
            "WinRM needs the data center CA (ansible.winrm_ca_bundle) to validate the host's certificate.",
            field="transport",
        )
    if source_address(address):
        raise Invalid(
            "host.winrm_source_network",
            "{address} is in the managed network, which govhost reaches from its own address: WinRM cannot"
            " choose its source address, so use SSH for this host.",
            field="transport",
            address=address,
        )
    creds = _winrm_certificate(winrm) if auth == "certificate" else _winrm_kerberos(winrm)
    return {"transport": HostTransport.WINRM, "winrm_auth": auth, "winrm_secret": security.seal(json.dumps(creds))}


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def _pem_certs(data: bytes) -> list:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def _winrm_certificate(winrm: Mapping) -> dict:
    cert_pem, key_pem = str(winrm.get("cert_pem") or "").strip(), str(winrm.get("key_pem") or "").strip()
    if winrm.get("user") or winrm.get("password"):
        raise Invalid("host.winrm_mixed", "Certificate authentication takes no user or password.", field="winrm_user")
    certs = _pem_certs(cert_pem.encode())
    if len(certs) != 1:
        raise Invalid("host.winrm_cert_invalid", "Give one client certificate in PEM.", field="winrm_cert")
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise Invalid(
            "host.winrm_key_invalid",
            "Give the client certificate's private key in PEM, unencrypted.",
            field="winrm_key",
        ) from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != certs[0].public_key().public_bytes(der, spki):
        raise Invalid("host.winrm_key_mismatch", "The private key is not the certificate's.", field="winrm_key")
    return {"cert_pem": cert_pem + "\n", "key_pem": key_pem + "\n"}


def _winrm_kerberos(winrm: Mapping) -> dict:
    user, password = str(winrm.get("user") or "").strip(), str(winrm.get("password") or "")
    if winrm.get("cert_pem") or winrm.get("key_pem"):
        raise Invalid("host.winrm_mixed", "Kerberos authentication takes no client certificate.", field="winrm_cert")
    if not KERBEROS_USER_RE.match(user):
        raise Invalid(
            "host.winrm_user_invalid", "The Kerberos account is user@REALM (the realm in capitals).", field="winrm_user"
        )
    if not password or len(password) > 256 or any(ord(c) < 32 for c in password):
        raise Invalid(
            "host.winrm_password_invalid",
            "Give the account's password (at most 256 characters).",
            field="winrm_password",
        )
    return {"user": user, "password": password}


@audited("host.register", "host", exclude=("host_key", "winrm_secret"))
def _host_insert(actor: Actor, *, roles, capacities, **fields) -> Host:
    s = db.session()
    _check_free(s, fields["name"], fields["address"], fields["port"])
    host = Host(**fields, facts={})
    host.roles = roles
    host.capacities = capacities
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
        _no_ssh(host)
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
    capacities=None,
    ssh_user=None,
) -> Host:
    """Change what is given (None leaves a field as it is). `roles` replaces the declared roles (a
    role no enabled capability declares stays); `capacities` sets the resources it names."""
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
        if host.state == HostState.MAINTENANCE and state != HostState.MAINTENANCE:
            runner.wake_hosts(db.session(), [host.id])  # its waiting jobs start (after commit)
        host.state = state
    if roles is not None:
        host.roles = validate_roles(roles) | (host.roles - ROLES.keys())
    if capacities is not None:
        host.capacities = validate_capacities(capacities)
    if ssh_user is not None:
        host.ssh_user = validate_ssh_user(ssh_user)
    db.session().flush()
    return host


def _no_ssh(host: Host) -> None:
    """The direct probe and the key pinning speak SSH: a WinRM host is checked by its host.ping job."""
    if host.transport == HostTransport.WINRM:
        raise Invalid(
            "host.winrm_no_ssh",
            "{name} is reached over WinRM, which has no SSH key: check it with its host.ping job.",
            name=host.name,
        )


def host_rekey(actor: Actor, host_id: int, *, fingerprint: str | None = None) -> Host:
    """Admin only: pin the key the host presents now (after a verified rebuild) and clear a recorded
    key change. The state is left as it is; set the host active afterwards."""
    _require_operator(actor, host_id)
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work():
        host = _host(host_id)
        _no_ssh(host)
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
    try:
        with s.begin_nested():  # a savepoint: a caller's transaction (a decommission's approval) survives the refusal
            s.delete(host)
    except IntegrityError:
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
        host.roles = set(ROLES)
        host.capacities = {c.resource: c.default for c in CAPACITIES.values()}
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


def host_id_given(value) -> int | None:
    """A target host id as a caller gave it (an int or its digits; nothing for "pick one"), for the
    moves of every capability: refused as `host.id_invalid` unless it could name a row."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise Invalid("host.id_invalid", "{what} is a host id.", field="host_id", what="host_id")
    number = int(value)
    if not 0 < number < 2**63:
        raise Invalid("host.id_invalid", "{what} is a host id.", field="host_id", what="host_id")
    return number
