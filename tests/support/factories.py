"""Factories: one object each, relations explicit. They write through the models, not the services,
so a test of a service starts from known rows without depending on other services (`make` fixture:
`make.make_host(roles=["web"])`). Hosts get a TEST-NET-2 address nothing answers on; tests that
reach a real host register a lab host instead (`make_lab_host`)."""

from __future__ import annotations

import itertools

from panel import db
from panel.capabilities.dns.models import Zone, ZoneStatus
from panel.capabilities.mail.models import MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.models.hosts import Host
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.security import hash_password
from panel.services.actor import Actor, actor_for_user
from provisioners import lab as L
from provisioners import probes

_n = itertools.count(1)
PASSWORD = "correct horse battery staple 1"
_HASH = None


def _password_hash() -> str:
    global _HASH
    if _HASH is None:  # argon2 is slow on purpose; one hash serves every factory user
        _HASH = hash_password(PASSWORD)
    return _HASH


def make_org(
    name: str | None = None,
    *,
    kind: OrgKind = OrgKind.MINISTRY,
    parent: Organization | None = None,
    slug: str | None = None,
) -> Organization:
    i = next(_n)
    with db.unit_of_work() as s:
        org = Organization(
            slug=slug or f"org{i}", name=name or f"Ministry {i}", kind=kind, parent_id=parent.id if parent else None
        )
        s.add(org)
        s.flush()
    return org


def make_user(
    role: Role | str | None = Role.WEBMASTER,
    org: Organization | None = None,
    *,
    username: str | None = None,
    totp_secret: str | None = None,
) -> User:
    from panel import security

    i = next(_n)
    role = Role(role) if role else None
    with db.unit_of_work() as s:
        user = User(
            username=username or f"user{i}",
            email=f"user{i}@test.invalid",
            full_name=f"User {i}",
            password_hash=_password_hash(),
        )
        if totp_secret:
            user.totp_secret = security.seal(totp_secret)
            user.totp_enabled = True
        s.add(user)
        s.flush()
        if role is not None:
            if org is None:
                org = (
                    make_org(kind=OrgKind.DATACENTER)
                    if role in (Role.OPERATOR, Role.ADMIN, Role.AUDITOR)
                    else make_org()
                )
            s.add(Membership(user_id=user.id, org_id=org.id, role=role))
    with db.unit_of_work() as s:
        return s.get(User, user.id)


def actor_of(user: User, surface: str = "web") -> Actor:
    with db.unit_of_work() as s:
        return actor_for_user(s.get(User, user.id), surface=surface)


def make_host(
    name: str | None = None,
    *,
    roles=(),
    capacities: dict[str, int] | None = None,
    address: str | None = None,
    facts: dict | None = None,
    **fields,
) -> Host:
    """A host row with a made-up pinned key (no probe): `roles` and `capacities` by name."""
    i = next(_n)
    name = name or f"host{i}"
    with db.unit_of_work() as s:
        host = Host(
            name=name,
            address=address or f"198.51.{100 + i // 250 % 2}.{i % 250 + 1}",
            host_key_type="ssh-ed25519",
            host_key="AAAA",
            fingerprint=f"SHA256:{name}",
            facts={} if facts is None else facts,
            **fields,
        )
        host.roles = roles
        host.capacities = capacities or {}
        s.add(host)
        s.flush()
    return host


def make_lab_host(name: str, ip: str, roles=(), *, probe: bool = True, **columns) -> Host:
    """The Host row of a running lab host (root over SSH on port 22). probe: its key pinned as govhost's
    probe reads it from the live sshd; else the base image's key from known_hosts, no connection made."""
    if probe:
        kind, blob, fingerprint = probes.fetch_host_key(ip, 22, bind=L.GATEWAY)
    else:
        kind, blob, fingerprint = "ssh-ed25519", L.base_host_key(), "test"
    with db.unit_of_work() as s:
        host = Host(
            name=name,
            address=ip,
            port=22,
            ssh_user="root",
            host_key_type=kind,
            host_key=blob,
            fingerprint=fingerprint,
            **columns,
        )
        host.roles = roles
        s.add(host)
        s.flush()
    return host


def make_plan(name: str = "basic", **fields) -> Plan:
    """The site plan named `name` (made once; the same row again after)."""
    with db.unit_of_work() as s:
        plan = s.query(Plan).filter_by(name=name).one_or_none()
        if plan is None:
            plan = Plan(name=name, **fields)
            s.add(plan)
            s.flush()
    return plan


def make_site(
    org: Organization,
    fqdn: str | None = None,
    *,
    host: Host | None = None,
    plan: Plan | None = None,
    status: SiteStatus = SiteStatus.ACTIVE,
    **fields,
) -> Site:
    i = next(_n)
    plan = plan or make_plan()
    with db.unit_of_work() as s:
        site = Site(
            org_id=org.id,
            fqdn=fqdn or f"site{i}.gov.test",
            plan_id=plan.id,
            host_id=host.id if host else None,
            system_user=fields.pop("system_user", f"site{i}"),
            status=status,
            **fields,
        )
        s.add(site)
        s.flush()
    return site


def make_zone(
    org: Organization, name: str | None = None, *, host: Host | None = None, status=ZoneStatus.ACTIVE, **fields
) -> Zone:
    i = next(_n)
    with db.unit_of_work() as s:
        zone = Zone(org_id=org.id, name=name or f"zone{i}.gov.test", host_id=host.id if host else None, status=status)
        for key, value in fields.items():
            setattr(zone, key, value)
        s.add(zone)
        s.flush()
    return zone


def make_mail_domain(
    org: Organization,
    name: str | None = None,
    *,
    host: Host | None = None,
    status: MailDomainStatus = MailDomainStatus.ACTIVE,
    **fields,
) -> MailDomain:
    i = next(_n)
    with db.unit_of_work() as s:
        domain = MailDomain(
            org_id=org.id,
            name=name or f"mail{i}.gov.test",
            host_id=host.id if host else None,
            dkim_selector=fields.pop("dkim_selector", "govhost"),
            status=status,
            **fields,
        )
        s.add(domain)
        s.flush()
    return domain
