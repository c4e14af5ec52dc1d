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
class HostRole:
    """A role hosts are tagged with so the capability places its objects on them ("web")."""

    name: str  # stored in host_roles rows
    label: str  # English, marked with N_(): "Web (nginx, PHP)"


@dataclass(frozen=True)
class HostCapacity:
    """The most of a resource one host holds ("sites"), set per host by operators."""

    resource: str  # stored in host_capacities rows
    label: str  # English, marked with N_(): "Most sites"
    default: int  # a new host's value, and that of a host registered before the capability was enabled
    role: str = ""  # the host role whose hosts hold it


@dataclass(frozen=True)
class Sweep:
    """A periodic job submission run by the worker's once-a-minute tick (as the system actor)."""

    name: str  # "sites.renew"; also the key of its ScheduledRun row
    run: str  # "module:function", called as function(actor) -> sweep result
    every_minutes: int = 60
    every_setting: str = ""  # "mail.usage_interval_minutes": the interval comes from the settings


@dataclass(frozen=True)
class Provide:
    """A service the capability offers other capabilities by name (see panel.services.providers)."""

    name: str  # "databases.app_database": begins with the capability's name
    run: str  # "module:function" in the package


@dataclass(frozen=True)
class Workload:
    """A kind of the capability's objects that runs on a host and may use other capabilities'
    services (a site, which may use a database): see panel.services.workloads."""

    kind: str  # "site"
    label: str  # English, marked with N_()
    resolve: str  # "module:function", function(session, org_id, ids) -> {id: workloads.Placed}


@dataclass(frozen=True)
class Manifest:
    """name: the package name and the prefix of its routes, commands and config section.
    requires: capabilities that must be enabled (and are loaded) first.
    models / kinds / jobs: modules whose import defines tables, registers request kinds, registers
        job kinds. subscribers: modules whose import connects receivers to panel.events signals.
    web / api / cli: "module:attribute" of the Flask blueprint, the flask-smorest blueprint and the
        click group. dashboard: "module:function", function(actor) -> dashboard.Contribution.
    public_pages: the web endpoints that deliberately need no login (every other one does).
    settings: "module:Class" of its config section (a frozen dataclass, every key with a default),
        registered under the capability's name: `mail:` in config.yaml, `settings.mail` in code.
    quotas: budget resources. host_roles / host_capacities: what hosts are tagged with and how much
    each holds (stored per host, shown and set on the host pages, API and CLI). sweeps: periodic
    sweeps. playbooks: files under playbooks/ its jobs run. connection: how its jobs reach hosts
    ("ssh"; "winrm" for Windows capabilities).
    steps: "module:attribute" of its playbooks' job steps ({step label: task names}; see
        panel.services.job_steps).
    bulk: the row kinds of bulk provisioning files it accepts (a CSV per kind, a key in the YAML).
    daemon: the `govhost` command (words) of a long-running process the capability needs beside the
        job worker ("soc ship"); `govhost serve --with-worker` starts it too.
    provides: services other capabilities call by name through panel.services.providers (a
        capability never imports another); a caller lists the provider's capability in `requires`.
    workloads: kinds of its objects that run on hosts and that other capabilities may link to.
    moves: "module:attribute" of its movers, a tuple of panel.services.moves.Mover: objects that
        move to another host as jobs (the core runs the move; host drains use them)."""

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
    settings: str = ""  # "settings:MailSettings"
    quotas: tuple[Quota, ...] = ()
    host_roles: tuple[HostRole, ...] = ()
    host_capacities: tuple[HostCapacity, ...] = ()
    sweeps: tuple[Sweep, ...] = ()
    playbooks: tuple[str, ...] = ()
    connection: str = "ssh"
    steps: str = ""  # "steps:STEPS"
    bulk: str = ""  # "module:attribute": the tuple of services.bulk.RowKind its files may hold
    daemon: tuple[str, ...] = ()
    provides: tuple[Provide, ...] = ()
    workloads: tuple[Workload, ...] = ()
    moves: str = ""  # "moves:MOVERS"

    def module_name(self, part: str) -> str:
        """The dotted module of a part ("web:bp" -> "panel.capabilities.sites.web")."""
        return f"{self.package}.{part.partition(':')[0]}"
