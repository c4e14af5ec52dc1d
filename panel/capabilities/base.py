"""The manifest: everything the core needs to know about one capability, in one frozen dataclass.

A capability package (`panel/capabilities/<name>/`) defines `MANIFEST = Manifest(...)` in its
`__init__.py` and is named once in `panel.capabilities.ENABLED`; the loader reads the manifest and
registers the rest. Parts are named as "module" or "module:attribute" relative to the package, and
imported only when the loader plugs the capability in, so reading a manifest imports nothing else
(no import cycles, and the manifest test can read every manifest without loading the app).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """A budget resource the capability's request kinds draw from."""

    resource: str  # stored in quota rows: "sites", "mailboxes"
    label: str  # English, marked with N_(); the surfaces translate it
    default: int  # the allowance of a ministry with no limit row of its own
    watched: bool = False  # shown on a ministry's dashboard


@dataclass(frozen=True)
class Sweep:
    """A periodic job submission run by the worker's once-a-minute tick (as the system actor)."""

    name: str  # "sites.renew"; also the key of its ScheduledRun row
    run: str  # "module:function", called as function(actor) -> sweep result
    every_minutes: int = 60
    every_setting: str = ""  # "sites.usage_interval_minutes": the interval comes from the settings


@dataclass(frozen=True)
class Manifest:
    """name: the package name and the prefix of its routes, commands and config section.
    requires: capabilities that must be enabled (and are loaded) first.
    models / kinds / jobs: modules whose import defines tables, registers request kinds, registers
        job kinds. subscribers: modules whose import connects receivers to panel.events signals.
    web / api / cli: "module:attribute" of the Flask blueprint, the flask-smorest blueprint and the
        click group. dashboard: "module:function", function(actor) -> dashboard.Contribution.
    public_pages: the web endpoints that deliberately need no login (every other one does).
    quotas: budget resources. sweeps: periodic sweeps. playbooks: files under playbooks/ its jobs
    run. connection: how its jobs reach hosts ("ssh"; "winrm" for Windows capabilities)."""

    name: str
    package: str  # the capability's package (`__name__` in its __init__.py)
    label: str  # English, marked with N_()
    requires: tuple[str, ...] = ()
    models: str = ""
    kinds: str = ""
    jobs: str = ""
    subscribers: tuple[str, ...] = ()
    web: str = ""
    api: str = ""
    cli: str = ""
    dashboard: str = ""
    public_pages: tuple[str, ...] = ()  # web endpoints served without a login ("sites.ca_pem")
    quotas: tuple[Quota, ...] = ()
    sweeps: tuple[Sweep, ...] = ()
    playbooks: tuple[str, ...] = ()
    connection: str = "ssh"

    def module_name(self, part: str) -> str:
        """The dotted module of a part ("web:bp" -> "panel.capabilities.sites.web")."""
        return f"{self.package}.{part.partition(':')[0]}"
