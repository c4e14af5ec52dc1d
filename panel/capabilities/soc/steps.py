"""Plain-language job steps of the SOC's playbooks (fail2ban, address blocks): the step of each task
or play name.

Registered by the manifest (steps=); panel.services.job_steps explains what steps are for."""

from __future__ import annotations

from panel.services import job_steps
from panel.services.job_steps import N_

PROTECT = N_("Setting up intrusion protection (fail2ban)")
BANS = N_("Reading banned addresses")
BLOCK = N_("Blocking addresses")

STEPS: dict[str, tuple[str, ...]] = {
    job_steps.REPORT: ("Publish them for the panel",),
    job_steps.RESTART: ("Apply the jails now", "Reload fail2ban"),
    PROTECT: (
        "Protect a managed host",
        "Fail2ban and nftables are installed",
        "Configuration directory of govhost",
        "Is the systemd journal there to read",
        "Which candidate log files exist",
        "Site access logs for the WordPress jail",
        "Where each jail reads (a log that exists, else the journal, else the log of the host's role)",
        "Log files the jails of the host's roles wait for (the daemon appends to them)",
        "WordPress login filter",
        "The SOC's blocks are saved here (kept across reboots)",
        "The script that puts the blocks back after a reboot",
        "Fail2ban's start runs it (jail govhost-restore)",
        "Fail2ban reads the journal (hosts with systemd)",
        "Debian's own sshd jail is left to ours",
        "The jails of govhost",
        "The nftables table for blocked addresses (created once; its sets keep their elements)",
        "Is the table loaded",
        "Table loaded",
        "Fail2ban runs",
        "The jails answer",
    ),
    BANS: ("Read bans", "Bans", "Current bans and blocks read"),
    BLOCK: ("Block addresses", "Block", "Addresses blocked or unblocked in govhost's nftables sets"),
}
