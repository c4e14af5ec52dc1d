"""SOC job kinds on managed hosts: soc.hosts_protect (role fail2ban: jails and govhost's nftables
block table), soc.address_block (add or remove addresses in that table) and soc.bans_collect (read
the current bans; every change since the last read becomes a host.ban / host.unban audit entry, so
a feed event with the address as `source.ip`).

What a host had banned at the last read is kept in its facts (`fail2ban.jails`, `fail2ban.blocked`):
the next read's difference is the events, written in the transaction that finishes the job.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from panel.db import utcnow
from panel.jobs.capabilities import N_, Capability, host_targets, job_hosts, register
from panel.models.jobs import Job
from panel.services.audit import append
from provisioners.base import Result

FACT = "fail2ban"
BLOCK_JAIL = "govhost-block"  # the SOC's own blocks (nftables sets) report under this name
MAX_KEPT = 5000  # addresses remembered per host (a ban storm beyond it is reported, not remembered)


def _protect_build(job: Job, session: Session):
    """The jails a host gets follow its roles (mail: postfix and dovecot; web: WordPress logins), so
    the role hands each host's roles over; the log files found on the host add the rest."""
    roles = {h.name: sorted(h.roles) for h in job_hosts(job, session)}
    extravars = {"fail2ban_ignoreip": list(job.params.get("ignoreip") or []), "fail2ban_host_roles": roles}
    return extravars, {}, host_targets(job, session)


def _protected(job: Job, session: Session, result: Result) -> None:
    for host in job_hosts(job, session):
        old = (host.facts or {}).get(FACT) or {}
        host.facts = {**(host.facts or {}), FACT: {**old, "protected_at": utcnow().isoformat(timespec="seconds")}}


def _block_build(job: Job, session: Session):
    p = job.params
    extravars = {
        "fail2ban_block_addresses": list(p["addresses"]),
        "fail2ban_block_state": "absent" if p.get("unblock") else "present",
        "fail2ban_block_seconds": int(p.get("seconds") or 0),
    }
    return extravars, {}, host_targets(job, session)


def _bans_build(job: Job, session: Session):
    return {}, {}, host_targets(job, session)


def _changes(host, jails: dict, blocked: list) -> None:
    """Audit entries for what was banned or lifted since the host's last read; remember the new set."""
    old = (host.facts or {}).get(FACT) or {}
    before = {(j, a) for j, addrs in (old.get("jails") or {}).items() for a in addrs}
    before |= {(BLOCK_JAIL, a) for a in old.get("blocked") or []}
    now = {(str(j), str(a)) for j, addrs in jails.items() for a in addrs or []}
    now |= {(BLOCK_JAIL, str(a)) for a in blocked}
    for action, pairs in (("host.ban", now - before), ("host.unban", before - now)):
        for jail, address in sorted(pairs):
            append(
                None,
                action,
                object_type="host",
                object_id=host.id,
                summary={"host": host.name, "jail": jail, "address": address},
            )
    kept = sorted(now)[:MAX_KEPT]
    jails_kept: dict[str, list[str]] = {}
    for jail, address in kept:
        if jail != BLOCK_JAIL:
            jails_kept.setdefault(jail, []).append(address)
    host.facts = {
        **(host.facts or {}),
        FACT: {
            **old,
            "jails": jails_kept,
            "blocked": [a for j, a in kept if j == BLOCK_JAIL],
            "read_at": utcnow().isoformat(timespec="seconds"),
        },
    }


def _bans_seen(job: Job, session: Session, result: Result) -> None:
    seen = (result.data or {}).get("soc_bans") or {}
    for host in job_hosts(job, session):
        report = seen.get(host.name)
        if isinstance(report, dict):
            _changes(host, report.get("jails") or {}, report.get("blocked") or [])


register(
    Capability(
        "soc.hosts_protect",
        "soc_protect.yml",
        _protect_build,
        on_success=_protected,
        timeout_s=600,
        description=N_("Install fail2ban jails and the address block table on hosts"),
    )
)
register(
    Capability(
        "soc.address_block",
        "soc_block.yml",
        _block_build,
        timeout_s=300,
        description=N_("Block or unblock addresses on hosts"),
    )
)
register(
    Capability(
        "soc.bans_collect",
        "soc_bans.yml",
        _bans_build,
        on_success=_bans_seen,
        timeout_s=300,
        description=N_("Read fail2ban bans on hosts"),
    )
)
