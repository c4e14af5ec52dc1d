"""The capabilities the panel runs, and the loader that plugs them into the core.

`ENABLED` is the one list that names capabilities: a new capability is its package, its playbooks
and roles, its tests folder, its docs page and one line here. The core never imports a capability;
the composition roots (the app factory, the `govhost` command, Alembic's env, the test suite) call
`load()`, which reads each manifest in dependency order and registers its models, request kinds,
job kinds, event subscribers and sweeps in the core's registries; `web_blueprints()`,
`api_blueprints()`, `cli_groups()` and `dashboard_cards()` hand the surfaces to the app and command.
An entry is a package name under panel.capabilities or a full dotted package path.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from panel.capabilities.base import Manifest, Quota, Sweep
from panel.jobs import capabilities as job_kinds
from panel.services import quotas, request_kinds, schedule

ENABLED: tuple[str, ...] = ("dns", "sites", "mail")

__all__ = ["ENABLED", "Manifest", "Quota", "Sweep", "load", "manifests", "plug", "unplug"]


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
    for q in m.quotas:
        quotas.resource_register(q.resource, q.label, q.default, watched=q.watched)
    kinds_before, jobs_before = set(request_kinds.names()), set(job_kinds.kinds())
    for part in (m.models, m.kinds, m.jobs, *m.subscribers):
        if part:
            resolve(m, part)
    for sw in m.sweeps:
        schedule.register(schedule.Sweep(sw.name, _interval(sw), resolve(m, sw.run)))
    kinds = tuple(sorted(set(request_kinds.names()) - kinds_before))
    jobs = tuple(sorted(set(job_kinds.kinds()) - jobs_before))
    registered = (*map(request_kinds.get, kinds), *map(job_kinds.get, jobs))
    plugged = _plugged[m.name] = Plugged(m, kinds, jobs, registered)
    return plugged


def _replug(p: Plugged) -> Plugged:
    for q in p.manifest.quotas:
        quotas.resource_register(q.resource, q.label, q.default, watched=q.watched)
    for obj in p.registered:
        (request_kinds.register if isinstance(obj, request_kinds.RequestKind) else job_kinds.register)(obj)
    for sw in p.manifest.sweeps:
        schedule.register(schedule.Sweep(sw.name, _interval(sw), resolve(p.manifest, sw.run)))
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
    for q in p.manifest.quotas:
        quotas.resource_unregister(q.resource)


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


def dashboard_cards() -> list:
    """The capabilities' dashboard functions, each function(actor) -> list of cards."""
    return _surfaces("dashboard")
