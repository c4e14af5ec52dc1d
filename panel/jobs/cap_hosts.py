"""Host capabilities: host.ping (reach the host, read facts) and host.bootstrap (prepare it).

Both are data-center work (no organization). They prove the whole path: pinned host key, SSH,
ansible-runner, events, and a hook that writes what the playbook learned back to the Host row.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from panel.db import utcnow
from panel.jobs.capabilities import N_, Capability, host_targets, job_hosts, register, settings
from panel.models.jobs import Job
from provisioners.base import Result

TIMEZONES = ("Etc/UTC",)  # hosts run on UTC so their logs line up with the panel


def _panel_public_key() -> list[str]:
    pub = Path(settings().ansible.ssh_key + ".pub")
    return [pub.read_text().strip()] if pub.is_file() else []


def _ping_build(job: Job, session: Session):
    return {}, {}, host_targets(job, session)


def _bootstrap_build(job: Job, session: Session):
    extravars = {
        "govhost_base_authorized_keys": _panel_public_key(),
        "govhost_base_timezone": job.params.get("timezone", TIMEZONES[0]),
    }
    return extravars, {}, host_targets(job, session)


def _record_probe(job: Job, session: Session, result: Result) -> None:
    facts = (result.data or {}).get("hosts") or {}
    for host in job_hosts(job, session):
        stats = result.stats.get(host.name) or {}
        ok = result.ok or (bool(stats) and not stats.get("failed") and not stats.get("unreachable"))
        host.last_probe_at, host.last_probe_ok = utcnow(), ok
        if isinstance(facts.get(host.name), dict):
            host.facts = {**(host.facts or {}), **facts[host.name]}


def _record_bootstrap(job: Job, session: Session, result: Result) -> None:
    for host in job_hosts(job, session):
        host.facts = {
            **(host.facts or {}),
            "bootstrapped_at": utcnow().isoformat(timespec="seconds"),
            "service_account": "govhost",
        }


register(
    Capability(
        "host.ping",
        "host_ping.yml",
        _ping_build,
        on_success=_record_probe,
        on_failure=_record_probe,
        timeout_s=120,
        allow_down_hosts=True,
        description=N_("Reach a host over SSH and read its facts"),
        windows_playbook="host_ping_windows.yml",
    )
)
register(
    Capability(
        "host.bootstrap",
        "host_bootstrap.yml",
        _bootstrap_build,
        on_success=_record_bootstrap,
        timeout_s=900,
        description=N_("Prepare a Linux host: packages, base config, service account"),
        windows_playbook="host_bootstrap_windows.yml",
    )
)
