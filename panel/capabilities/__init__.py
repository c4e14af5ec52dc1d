"""The capabilities the panel runs, and the loader that plugs them into the core.

`ENABLED` is the one list that names capabilities: a new capability is its package, its playbooks
and roles, its tests folder, its docs page and one line here. The core never imports a capability;
the composition roots (the app factory, the `govhost` command, Alembic's env, the test suite) call
`load()`, which reads each manifest in dependency order and registers its models, request kinds,
job kinds, event subscribers, sweeps, providers and movers (panel.services.providers) in the core's
registries; `web_blueprints()`, `api_blueprints()`, `cli_groups()` and `dashboard_cards()` hand the
surfaces to the app and command.
An entry is a package name under panel.capabilities or a full dotted package path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from panel import config
from panel.capabilities.base import HostCapacity, HostRole, Manifest, Provide, Quota, Sweep, Workload
from panel.jobs import capabilities as job_kinds
from panel.services import bulk, hosts, job_steps, moves, providers, quotas, request_kinds, schedule, workloads

ENABLED: tuple[str, ...] = ("dns", "sites", "mail", "soc", "colocation", "databases", "cms")

__all__ = [
    "ENABLED",
    "HostCapacity",
    "HostRole",
    "Manifest",
    "Provide",
    "Quota",
    "Sweep",
    "Workload",
    "load",
    "manifests",
    "plug",
    "unplug",
]


class LoadError(Exception):
    """A manifest names a capability that is not enabled, or the requirements form a cycle."""


@dataclass(frozen=True)
class Plugged:
    """What plugging a manifest in registered, so the manifest test can check it and unplug undo it."""

    manifest: Manifest
    kinds: tuple[str, ...]
    job_kinds: tuple[str, ...]
    registered: tuple = ()  # the RequestKind and job Capability objects, to register again after unplug


_plugged: dict[str, Plugged] = {}
_unplugged: dict[str, Plugged] = {}  # modules stay imported, so plugging back re-registers these


def manifest_of(entry: str) -> Manifest:
    package = entry if "." in entry else f"{__name__}.{entry}"
    return importlib.import_module(package).MANIFEST


def manifests(enabled: tuple[str, ...] | None = None) -> list[Manifest]:
    """The enabled manifests, each after the ones it requires."""
    found = {m.name: m for m in map(manifest_of, ENABLED if enabled is None else enabled)}
    ordered: list[Manifest] = []

    def visit(m: Manifest, path: tuple[str, ...]) -> None:
        if m in ordered:
            return
        if m.name in path:
            raise LoadError(f"capabilities require each other in a cycle: {' -> '.join((*path, m.name))}")
        for need in m.requires:
            if need not in found:
                raise LoadError(f"capability {m.name} requires {need}, which is not enabled")
            visit(found[need], (*path, m.name))
        ordered.append(m)

    for m in found.values():
        visit(m, ())
    return ordered


def resolve(m: Manifest, part: str):
    """Import a part ("module" -> the module, "module:attr" -> the attribute)."""
    module = importlib.import_module(m.module_name(part))
    _, _, attr = part.partition(":")
    return getattr(module, attr) if attr else module


def plug(m: Manifest) -> Plugged:
    """Register one capability in the core's registries (once; again is a no-op)."""
    if m.name in _plugged:
        return _plugged[m.name]
    if m.name in _unplugged:
        return _replug(_unplugged.pop(m.name))
    _register_resources(m)
    kinds_before, jobs_before = set(request_kinds.names()), set(job_kinds.kinds())
    for part in (m.models, m.kinds, m.jobs, *m.subscribers):
        if part:
            resolve(m, part)
    for sw in m.sweeps:
        schedule.register(schedule.Sweep(sw.name, _interval(sw), resolve(m, sw.run)))
    _register_providers(m)
    _register_workloads(m)
    _register_steps(m)
    rows = tuple(resolve(m, m.bulk)) if m.bulk else ()
    for row_kind in rows:
        bulk.register(row_kind)
    kinds = tuple(sorted(set(request_kinds.names()) - kinds_before))
    jobs = tuple(sorted(set(job_kinds.kinds()) - jobs_before))
    registered = (*map(request_kinds.get, kinds), *map(job_kinds.get, jobs), *rows)
    plugged = _plugged[m.name] = Plugged(m, kinds, jobs, registered)
    return plugged


def _register_resources(m: Manifest) -> None:
    """Settings section, quota resources, host roles and host capacities: names the core stores."""
    if m.settings:
        config.section_register(m.name, resolve(m, m.settings))
    for q in m.quotas:
        quotas.resource_register(q.resource, q.label, q.default, watched=q.watched)
    for r in m.host_roles:
        hosts.role_register(r.name, r.label)
    for c in m.host_capacities:
        hosts.capacity_register(c.resource, c.label, c.default, c.role)


def _register_steps(m: Manifest) -> None:
    if m.steps:
        job_steps.register(m.name, resolve(m, m.steps))


def _register_providers(m: Manifest) -> None:
    for p in m.provides:
        providers.register(p.name, resolve(m, p.run), m.name)


def _register_workloads(m: Manifest) -> None:
    for w in m.workloads:
        workloads.register(w.kind, w.label, resolve(m, w.resolve))
    for mover in resolve(m, m.moves) if m.moves else ():
        moves.register(mover)


def _replug(p: Plugged) -> Plugged:
    _register_resources(p.manifest)
    _register_providers(p.manifest)
    for obj in p.registered:
        if isinstance(obj, bulk.RowKind):
            bulk.register(obj)
        else:
            (request_kinds.register if isinstance(obj, request_kinds.RequestKind) else job_kinds.register)(obj)
    for sw in p.manifest.sweeps:
        schedule.register(schedule.Sweep(sw.name, _interval(sw), resolve(p.manifest, sw.run)))
    _register_workloads(p.manifest)
    _register_steps(p.manifest)
    _plugged[p.manifest.name] = p
    return p


def unplug(name: str) -> None:
    """Take a capability's registrations out again (the toy capability's test cleans up with it)."""
    p = _plugged.pop(name, None)
    if p is None:
        return
    _unplugged[name] = p
    for kind in p.kinds:
        request_kinds.unregister(kind)
    for kind in p.job_kinds:
        job_kinds.unregister(kind)
    for sw in p.manifest.sweeps:
        schedule.unregister(sw.name)
    for pr in p.manifest.provides:
        providers.unregister(pr.name)
    for w in p.manifest.workloads:
        workloads.unregister(w.kind)
    for mover in resolve(p.manifest, p.manifest.moves) if p.manifest.moves else ():
        moves.unregister(mover.kind)
    job_steps.unregister(name)
    for obj in p.registered:
        if isinstance(obj, bulk.RowKind):
            bulk.unregister(obj.name)
    for q in p.manifest.quotas:
        quotas.resource_unregister(q.resource)
    for r in p.manifest.host_roles:
        hosts.role_unregister(r.name)
    for c in p.manifest.host_capacities:
        hosts.capacity_unregister(c.resource)
    if p.manifest.settings:
        config.section_unregister(name)


def _interval(sw: Sweep):
    if not sw.every_setting:
        return lambda settings: sw.every_minutes
    section, _, key = sw.every_setting.partition(".")
    return lambda settings: getattr(getattr(settings, section), key)


def load(enabled: tuple[str, ...] | None = None) -> list[Plugged]:
    """Plug every enabled capability in, in dependency order."""
    return [plug(m) for m in manifests(enabled)]


def plugged() -> list[Plugged]:
    return list(_plugged.values())


def _surfaces(field: str) -> list:
    return [resolve(p.manifest, getattr(p.manifest, field)) for p in plugged() if getattr(p.manifest, field)]


def web_blueprints() -> list:
    return _surfaces("web")


def api_blueprints() -> list:
    return _surfaces("api")


def cli_groups() -> list:
    return _surfaces("cli")


def daemons() -> list[tuple[str, ...]]:
    """The `govhost` commands of the plugged capabilities' long-running processes."""
    return [p.manifest.daemon for p in plugged() if p.manifest.daemon]


def dashboard_cards() -> list:
    """The capabilities' dashboard functions, each function(actor) -> list of cards."""
    return _surfaces("dashboard")


def register_settings(enabled: tuple[str, ...] | None = None) -> None:
    """Register the enabled capabilities' settings sections, and nothing else (a settings module
    imports only the core's config). Run when this module is first imported, so a program that
    reads its config file before calling `load()` (`create_app(Settings.load(path))`) knows them."""
    for m in manifests(enabled):
        if m.settings:
            config.section_register(m.name, resolve(m, m.settings))


register_settings()
