"""What every periodic sweep shares: pick usable hosts, skip and report the others.

A sweep submits one job per host. A host that is down or whose key changed must not stop the
sweep for every other host (job_submit refuses such a host, and the sweep's one transaction would
roll back), so sweeps ask `sweep_hosts` which hosts they may use and return a `Swept`: the jobs,
plus the names of the hosts skipped, which the schedule stores in its last result and the CLI prints.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy.orm import Session

from panel.jobs.submit import Usable, usable_hosts

log = logging.getLogger("govhost.schedule")


class Swept(list):
    """The jobs a sweep submitted (a plain list, for callers that count them) and `skipped`,
    the names of the hosts it left out because no job may run there now."""

    def __init__(self, jobs: Iterable = (), skipped: Iterable[str] = ()):
        super().__init__(jobs)
        self.skipped = list(skipped)

    def report(self) -> str:
        text = f"{len(self)} job(s)"
        if self.skipped:
            text += f"; skipped host(s) down or with a changed key: {', '.join(self.skipped)}"
        return text


def sweep_hosts(session: Session, host_ids: Iterable[int | None], sweep: str) -> Usable:
    found = usable_hosts(session, host_ids)
    if found.skipped:
        log.warning("sweep %s skips host(s) %s: down or host key changed", sweep, ", ".join(found.skipped))
    return found
