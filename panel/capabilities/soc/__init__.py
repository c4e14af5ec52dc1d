"""The Security Operation Center feed: every audit chain entry as a structured security event
(ECS + OCSF, with its chain position), shipped by its own process to the SOC's SIEM over syslog/TLS,
HTTPS JSON or a local JSON-lines file; see docs/soc.md."""

from panel.capabilities.base import Manifest, Sweep
from panel.services.request_kinds import N_

MANIFEST = Manifest(
    name="soc",
    package=__name__,
    label=N_("Security operation center"),
    models="models",
    kinds="kinds",
    jobs="jobs",
    subscribers=("subscribers",),
    web="web:bp",
    api="api:blp",
    cli="cli:soc",
    settings="settings:SocSettings",
    daemon=("soc", "ship"),
    # fail2ban bans on protected hosts become host.ban / host.unban events at the next read
    sweeps=(Sweep("soc.bans", "hostguard:bans_collect", every_minutes=2),),
    steps="steps:STEPS",
    playbooks=("soc_protect.yml", "soc_block.yml", "soc_bans.yml"),
)
