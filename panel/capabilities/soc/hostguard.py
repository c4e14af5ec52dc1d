"""Managed hosts' own defences: fail2ban jails and govhost's nftables block table (role fail2ban),
installed by DC staff; the bans they make, read by a sweep and reported as host.ban / host.unban
events (docs/soc.md, "Bans on managed hosts").

The SOC's address blocks are containment actions (containment.contain_address_block); they use
the table this installs.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import select

from panel import db
from panel.capabilities.soc.jobs import FACT
from panel.errors import Invalid
from panel.models.hosts import Host
from panel.models.jobs import Job, JobHost, JobStatus
from panel.models.tenants import Role
from panel.services import jobs as jobs_svc
from panel.services.actor import Actor, refuse_read_token, require_staff, require_write
from panel.services.audit import audited
from panel.services.sweeps import Swept, sweep_hosts
from panel.services.users import db_id

MAX_IGNORE = 50
READERS = (Role.ADMIN, Role.OPERATOR, Role.AUDITOR, Role.SOC)
MAX_SHOWN = 200  # addresses shown per host on the page (the API and the feed have them all)


def _host_ids(s, host_ids) -> list[int]:
    ids = sorted({int(h) for h in host_ids if db_id(h)}) if isinstance(host_ids, (list, tuple)) else []
    if not ids or len(ids) != len(set(host_ids)):
        raise Invalid("soc.hosts_invalid", "Name one or more hosts by their ids.", field="host_ids")
    found = set(s.scalars(select(Host.id).where(Host.id.in_(ids))))
    if found != set(ids):
        raise Invalid("soc.hosts_invalid", "No such host: {ids}.", field="host_ids", ids=sorted(set(ids) - found))
    return ids


def _ignore(values) -> list[str]:
    out = []
    for v in values or ():
        try:
            out.append(str(ipaddress.ip_network(str(v).strip(), strict=False)))
        except ValueError:
            raise Invalid(
                "soc.ignoreip_invalid", "{value} is not an address or network.", field="ignoreip", value=str(v)[:64]
            ) from None
    if len(out) > MAX_IGNORE:
        raise Invalid("soc.ignoreip_invalid", "At most {max} addresses.", field="ignoreip", max=MAX_IGNORE)
    return out


@audited("soc.hosts_protect", "job")
def hosts_protect(actor: Actor, *, host_ids: list[int], ignoreip: list[str] = ()) -> Job:
    """DC staff: install the fail2ban jails and the block table on hosts (one job for all of them)."""
    require_staff(actor)
    require_write(actor)
    ignore = _ignore(ignoreip)
    with db.unit_of_work() as s:
        ids = _host_ids(s, host_ids)
        return jobs_svc.job_submit(
            actor, kind="soc.hosts_protect", org_id=None, host_ids=ids, params={"ignoreip": ignore}
        )


def protected_host_ids(s) -> list[int]:
    """Hosts the fail2ban role was installed on (their facts say when)."""
    rows = s.execute(select(Host.id, Host.facts).order_by(Host.id)).all()
    return [h for h, facts in rows if ((facts or {}).get(FACT) or {}).get("protected_at")]


def bans_collect(actor: Actor) -> Swept:
    """The schedule (and DC staff): one soc.bans_collect job per usable protected host, skipping a
    host whose previous read has not finished."""
    require_staff(actor)
    refuse_read_token(actor)
    with db.unit_of_work() as s:
        unfinished = set(
            s.scalars(
                select(JobHost.host_id)
                .join(Job, Job.id == JobHost.job_id)
                .where(Job.kind == "soc.bans_collect", Job.status.in_((JobStatus.PENDING, JobStatus.RUNNING)))
            )
        )
        wanted = [h for h in protected_host_ids(s) if h not in unfinished]
        found = sweep_hosts(s, wanted, "soc.bans")
        jobs = [
            jobs_svc.job_submit(actor, kind="soc.bans_collect", org_id=None, host_ids=[h], params={}) for h in found.ids
        ]
        return Swept(jobs, found.skipped)


def bans_current(actor: Actor) -> list[dict]:
    """DC staff and the SOC: each protected host with what its last read found (jail -> addresses,
    the SOC's own blocks), from the hosts' facts (no host is contacted here)."""
    require_staff(actor, *READERS)
    with db.unit_of_work() as s:
        rows = s.execute(select(Host.id, Host.name, Host.facts).order_by(Host.name)).all()
    out = []
    for host_id, name, facts in rows:
        f = (facts or {}).get(FACT) or {}
        if not f.get("protected_at"):
            continue
        jails = {j: list(a)[:MAX_SHOWN] for j, a in sorted((f.get("jails") or {}).items()) if a}
        out.append(
            {
                "host_id": host_id,
                "host": name,
                "protected_at": f.get("protected_at", ""),
                "read_at": f.get("read_at", ""),
                "jails": jails,
                "blocked": list(f.get("blocked") or [])[:MAX_SHOWN],
            }
        )
    return out
