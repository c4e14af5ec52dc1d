"""Plain-language job steps of the DNS playbooks: the step of each task or play name.

Registered by the manifest (steps=); panel.services.job_steps explains what steps are for."""

from __future__ import annotations

from panel.services import job_steps
from panel.services.job_steps import N_

DNS_SERVER = N_("Setting up the DNS server")
DNS_ZONE = N_("Updating the DNS zone")

STEPS: dict[str, tuple[str, ...]] = {
    job_steps.CHECK: (
        "Check the key name and secret shape before anything reaches a config file",
        "Check the zone name before it reaches a path or a config file",
    ),
    job_steps.RESTART: (
        "Restart named",
        "Reload named",
        "Reconfigure named",
        "Apply pending restarts and reloads now",
        "Apply the new configuration now",
    ),
    DNS_SERVER: (
        "BIND primary server",
        "BIND is installed",
        "Folders for the log, the dynamic zones and the per-zone stanzas",
        "BIND (named) starts with a file log (-L) and as user bind",
        "The TSIG key file (secret from the job's secrets)",
        "A fresh rndc key on this host (the image ships one shared by every host)",
        "The zones file exists (zone jobs assemble it)",
        "Server options and the includes",
        "The whole configuration parses (named-checkconf) before any start or reload",
        "BIND (named) is running",
        "BIND (named) answers on port 53",
        "The rndc tool reaches named with this host's key",
    ),
    DNS_ZONE: (
        "Send the zone's changes",  # dns.records_apply (no playbook: one RFC 2136 update)
        "Create a zone",
        "Delete a zone",
        "The zone's stanza is gone",
        "Stanzas assembled into the zones file",
        "The zone's files are gone (after named let go of it)",
        "Add the zone",
        "Remove the zone",
        "The zone's first version (never overwrites a zone BIND already serves)",
        "The zone file parses (named-checkzone)",
        "The zone's stanza",
        "BIND (named) serves the zone",
    ),
}
