"""Proof of domain ownership: the suffixes a ministry may claim (kept by data-center admins), claims,
and their verification by a TXT token at _govhost-challenge.<domain>, read with dnspython.

A domain inside a zone the same ministry already has hosted here is verified at once (method
"zone"). Sites and mail call `domain_require` before they use a name.
"""

from __future__ import annotations

import secrets as pysecrets
from dataclasses import dataclass

import dns.exception
import dns.resolver
from sqlalchemy import select

from panel import db
from panel.boot import current as current_settings
from panel.capabilities.dns import rules as R
from panel.capabilities.dns.models import ClaimMethod, ClaimSuffix, DomainClaim, Zone, ZoneStatus
from panel.errors import Conflict, Forbidden, Invalid
from panel.models.tenants import Organization, Role
from panel.services import tenants
from panel.services.actor import Actor, get_scoped, require_org_role, require_staff, scoped
from panel.services.audit import audited
from panel.services.pagination import Page, paginate

CHALLENGE = "_govhost-challenge"
RESOLVE_TIMEOUT_S = 5.0


def challenge_name(domain: str) -> str:
    return f"{CHALLENGE}.{domain}"


def _org_chain(s, org_id: int) -> list[int]:
    """The organization and the ministries above it: a department may use its ministry's suffixes."""
    ids, org = [], s.get(Organization, org_id)
    while org is not None:
        ids.append(org.id)
        org = org.parent
    return ids


def _covered(domain: str, parents) -> bool:
    return any(R.in_zone(domain, p) for p in parents)


# ---- suffixes ---------------------------------------------------------------------------------------


def suffix_list(actor: Actor, *, org_id: int | None = None) -> list[ClaimSuffix]:
    stmt = scoped(select(ClaimSuffix), actor, ClaimSuffix)
    if org_id is not None:
        stmt = stmt.where(ClaimSuffix.org_id == org_id)
    with db.unit_of_work() as s:
        return list(s.scalars(stmt.order_by(ClaimSuffix.org_id, ClaimSuffix.suffix)))


@dataclass(frozen=True)
class SuffixRow:
    org_id: int
    org_name: str
    suffix: str


def suffix_page(actor: Actor, *, org_id: int | None = None, page: int = 1, per_page: int = 50) -> Page:
    """A page of (organization, suffix) rows: one count, one page and one name query."""
    stmt = scoped(select(ClaimSuffix), actor, ClaimSuffix)
    if org_id is not None:
        stmt = stmt.where(ClaimSuffix.org_id == org_id)
    with db.unit_of_work() as s:
        result = paginate(stmt.order_by(ClaimSuffix.org_id, ClaimSuffix.suffix), page=page, per_page=per_page)
        ids = {r.org_id for r in result.items}
        names = dict(s.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids))).all())
        result.items = [SuffixRow(r.org_id, names.get(r.org_id, ""), r.suffix) for r in result.items]
        return result


def suffix_admin(actor: Actor) -> bool:
    """May this actor change suffixes (data-center admins)? For surfaces deciding what to offer."""
    return actor.has_staff(Role.ADMIN) and actor.can_write


@audited("dns.suffix_set", "organization", org=lambda result, kw: kw.get("org_id"))
def suffix_set(actor: Actor, *, org_id: int, suffixes: list[str]) -> list[ClaimSuffix]:
    """Replace the ministry's list of claimable suffixes (data-center admins only)."""
    with db.unit_of_work():
        # Another ministry's id answers as a missing one (404) before the role check (403): the
        # organization is named in the URL, and a ministry cannot tell whether it exists.
        org_id = tenants.org_get(actor, org_id).id
    require_staff(actor, Role.ADMIN)
    clean = sorted({R.clean_domain(x, "suffixes") for x in suffixes})
    with db.unit_of_work() as s:
        rows = {r.suffix: r for r in s.scalars(select(ClaimSuffix).where(ClaimSuffix.org_id == org_id))}
        for name, row in rows.items():
            if name not in clean:
                s.delete(row)
        for name in clean:
            if name not in rows:
                s.add(ClaimSuffix(org_id=org_id, suffix=name))
        s.flush()
        return list(s.scalars(select(ClaimSuffix).where(ClaimSuffix.org_id == org_id).order_by(ClaimSuffix.suffix)))


# ---- claims -----------------------------------------------------------------------------------------


def claim_list(actor: Actor, *, page: int = 1, per_page: int = 50) -> Page:
    with db.unit_of_work():
        return paginate(
            scoped(select(DomainClaim), actor, DomainClaim).order_by(DomainClaim.domain), page=page, per_page=per_page
        )


def claim_get(actor: Actor, claim_id) -> DomainClaim:
    with db.unit_of_work():
        return get_scoped(DomainClaim, claim_id, actor, "dns_claim")


@audited("dns.claim_create", "dns_claim")
def claim_create(actor: Actor, *, org_id: int, domain: str) -> DomainClaim:
    domain = R.clean_domain(domain)
    require_org_role(actor, org_id, Role.ORG_ADMIN, Role.WEBMASTER)
    with db.unit_of_work() as s:
        chain = _org_chain(s, org_id)
        suffixes = s.scalars(select(ClaimSuffix.suffix).where(ClaimSuffix.org_id.in_(chain))).all()
        if not _covered(domain, suffixes):
            raise Forbidden(
                "dns.claim_not_allowed",
                "{domain} is not under a suffix your ministry may claim; ask the data center to add it.",
                field="domain",
                domain=domain,
            )
        taken = s.scalars(
            select(DomainClaim).where(
                DomainClaim.domain == domain, DomainClaim.org_id != org_id, DomainClaim.verified_at.is_not(None)
            )
        ).first()
        if taken is not None:
            raise Conflict(
                "dns.claim_taken",
                "{domain} is already verified by another organization.",
                field="domain",
                domain=domain,
            )
        claim = s.scalars(select(DomainClaim).where(DomainClaim.org_id == org_id, DomainClaim.domain == domain)).first()
        if claim is None:
            claim = DomainClaim(org_id=org_id, domain=domain, token=pysecrets.token_urlsafe(24))
            s.add(claim)
            s.flush()
        if claim.verified_at is None and _own_zone(s, chain, domain):
            claim.verified_at, claim.method = db.utcnow(), ClaimMethod.ZONE
        return claim


def _own_zone(s, org_ids: list[int], domain: str) -> bool:
    zones = s.scalars(select(Zone.name).where(Zone.org_id.in_(org_ids), Zone.status == ZoneStatus.ACTIVE)).all()
    return _covered(domain, zones)


def claim_zones_here(domains: list[str]) -> dict[str, str | None]:
    """For each claimed domain, the zone hosted here that would hold its TXT token (None: the zone
    above it is run elsewhere). One query for a page of claims; zone names are public DNS names."""
    candidates = {d: [".".join(d.split(".")[i:]) for i in range(len(d.split(".")))] for d in domains}
    names = {n for c in candidates.values() for n in c}
    if not names:
        return {}
    with db.unit_of_work() as s:
        here = set(s.scalars(select(Zone.name).where(Zone.name.in_(names), Zone.status == ZoneStatus.ACTIVE)))
    return {d: next((n for n in c if n in here), None) for d, c in candidates.items()}


def lookup_txt(name: str) -> list[str]:
    """TXT strings at name, through settings.dns.resolver (or the system's resolver)."""
    address = current_settings().dns.resolver
    resolver = dns.resolver.Resolver(configure=not address)
    if address:
        resolver.nameservers = [address]
    try:
        answer = resolver.resolve(name, "TXT", lifetime=RESOLVE_TIMEOUT_S, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
        return []
    except (dns.exception.Timeout, dns.resolver.LifetimeTimeout):
        raise Conflict(
            "dns.resolver_unreachable",
            "The resolver {resolver} did not answer; try again later.",
            resolver=address or "system",
        ) from None
    return [b"".join(rd.strings).decode("utf-8", "replace") for rd in answer.rrset or []]


def claim_verify(actor: Actor, claim_id) -> DomainClaim:
    """Check the TXT token; the outcome is stored either way, and a missing token is an error."""
    with db.unit_of_work():  # the permission check reads rows: done before the look-up, not during it
        claim = claim_get(actor, claim_id)
        require_org_role(actor, claim.org_id, Role.ORG_ADMIN, Role.WEBMASTER)
    if claim.verified_at is not None:
        return claim
    found = claim.token in lookup_txt(challenge_name(claim.domain))
    claim = _claim_checked(actor, claim_id=claim.id, found=found)
    if not found:
        raise Invalid(
            "dns.claim_token_missing",
            "No TXT record {name} with the token was found; publish it and verify again.",
            name=challenge_name(claim.domain),
        )
    return claim


@audited("dns.claim_verify", "dns_claim")
def _claim_checked(actor: Actor, *, claim_id: int, found: bool) -> DomainClaim:
    with db.unit_of_work() as s:
        claim = s.get(DomainClaim, claim_id)
        claim.checked_at = db.utcnow()
        if found:
            claim.verified_at, claim.method, claim.last_error = db.utcnow(), ClaimMethod.TXT, ""
        else:
            claim.last_error = "token not found"
        return claim


def domain_verified(org_id: int, fqdn: str) -> bool:
    """fqdn lies under a verified claim of the organization (or of a ministry above it)."""
    fqdn = fqdn.rstrip(".").lower()
    with db.unit_of_work() as s:
        chain = _org_chain(s, org_id)
        domains = s.scalars(
            select(DomainClaim.domain).where(DomainClaim.org_id.in_(chain), DomainClaim.verified_at.is_not(None))
        ).all()
        return _covered(fqdn, domains) or _own_zone(s, chain, fqdn)


def domains_verifier(org_id: int):
    """domain_verified for many names of one organization: its claims and zones read once."""
    with db.unit_of_work() as s:
        chain = _org_chain(s, org_id)
        domains = s.scalars(
            select(DomainClaim.domain).where(DomainClaim.org_id.in_(chain), DomainClaim.verified_at.is_not(None))
        ).all()
        zones = s.scalars(select(Zone.name).where(Zone.org_id.in_(chain), Zone.status == ZoneStatus.ACTIVE)).all()
    parents = [*domains, *zones]
    return lambda fqdn: _covered(fqdn.rstrip(".").lower(), parents)


def domain_require(actor: Actor, *, org_id: int, fqdn: str) -> None:
    """For sites and mail: refuse a name the ministry has not proven it controls."""
    if not domain_verified(org_id, fqdn):
        raise Forbidden(
            "dns.domain_unverified",
            "{fqdn} is not a verified domain of your ministry: claim and verify it first.",
            field="fqdn",
            fqdn=fqdn[:253],
        )
