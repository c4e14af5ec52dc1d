"""Scheduled site work: certificate renewals well before expiry, and disk usage sweeps.

Both are batched: one job per host for every site due on it. The worker's periodic task calls
these with the system actor; operators can run them at once from the CLI (`govhost sites renew`,
`govhost sites usage`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import select

from panel import db
from panel.boot import current as current_settings
from panel.capabilities.sites.models import Certificate, Site, SiteStatus, TlsMode
from panel.capabilities.sites.service import submit_site_job
from panel.services.actor import Actor, require_staff
from panel.services.audit import audited
from panel.services.sweeps import Swept, sweep_hosts


def _by_host(sites: list[Site]) -> list[list[Site]]:
    groups: dict[int, list[Site]] = defaultdict(list)
    for site in sites:
        groups[site.host_id].append(site)
    return [groups[h] for h in sorted(groups)]


def renewals_due(s, now: dt.datetime | None = None) -> list[Site]:
    """Active ACME sites, not busy, whose current certificate ends within renew_days_before."""
    now = now or db.utcnow()
    cutoff = now + dt.timedelta(days=current_settings().sites.renew_days_before)
    stmt = (
        select(Site)
        .join(Certificate, (Certificate.site_id == Site.id) & Certificate.is_current)
        .where(
            Site.status == SiteStatus.ACTIVE,
            Site.tls_mode == TlsMode.ACME,
            Site.busy_job_id.is_(None),
            Certificate.not_after < cutoff,
        )
        .order_by(Site.id)
    )
    return list(s.scalars(stmt))


def _per_usable_host(actor: Actor, s, sweep: str, sites: list[Site], kind: str, params: dict | None = None) -> Swept:
    groups = _by_host(sites)
    found = sweep_hosts(s, [g[0].host_id for g in groups], sweep)
    jobs = [submit_site_job(actor, kind, g, params=params) for g in groups if g[0].host_id in found.ids]
    return Swept(jobs, found.skipped)


@audited("site.renew_due", "site")
def sites_renew_due(actor: Actor) -> Swept:
    """One forced ACME renewal job per usable host for every certificate that is due."""
    require_staff(actor)
    with db.unit_of_work() as s:
        return _per_usable_host(actor, s, "sites.renew", renewals_due(s), "sites.site_cert", {"force": True})


@audited("site.usage_collect", "site")
def sites_usage_collect(actor: Actor) -> Swept:
    """One disk usage job per usable host with live sites."""
    require_staff(actor)
    with db.unit_of_work() as s:
        rows = list(
            s.scalars(
                select(Site)
                .where(Site.status.in_((SiteStatus.ACTIVE, SiteStatus.SUSPENDED)), Site.busy_job_id.is_(None))
                .order_by(Site.id)
            )
        )
        return _per_usable_host(actor, s, "sites.usage", rows, "sites.site_usage")
