"""Workloads: objects of one capability that run on a host and may use another capability's
services (a site on a web host uses a database). Capabilities never import each other, so the one
that owns the objects declares them in its manifest (`Manifest.workloads`) and the loader registers
a resolver here; the one that serves them (databases: who may connect) asks the core.

A resolver is function(session, org_id, ids) -> {id: Placed} of the ministry's live objects; ids
None means all of them (forms list them), otherwise only those ids (at most a page's worth).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel.errors import Invalid
from panel.models.hosts import Host, HostState


@dataclass(frozen=True)
class Placed:
    """One live workload: what it is called and the host it runs on (None before placement)."""

    id: int
    name: str
    host_id: int | None


@dataclass(frozen=True)
class WorkloadKind:
    kind: str  # "site": stored in other capabilities' link rows
    label: str  # English, marked with N_()
    resolve: Callable[[Session, int, Iterable[int] | None], dict[int, Placed]]


_KINDS: dict[str, WorkloadKind] = {}


def register(kind: str, label: str, resolve: Callable) -> WorkloadKind:
    _KINDS[kind] = WorkloadKind(kind, label, resolve)
    return _KINDS[kind]


def unregister(kind: str) -> None:
    _KINDS.pop(kind, None)


def kinds() -> list[WorkloadKind]:
    return sorted(_KINDS.values(), key=lambda k: k.kind)


def clean_kind(value, field: str = "kind") -> str:
    if value not in _KINDS:
        raise Invalid(
            "workload.kind_invalid",
            "Choose one of: {kinds}.",
            field=field,
            kinds=", ".join(sorted(_KINDS)) or "-",
        )
    return value


def workloads(session: Session, kind: str, org_id: int, ids: Iterable[int] | None = None) -> dict[int, Placed]:
    """The ministry's live workloads of one kind (those ids only, when given). An unregistered
    kind (its capability disabled) has none."""
    k = _KINDS.get(kind)
    if k is None:
        return {}
    return k.resolve(session, org_id, None if ids is None else sorted(set(ids)))


def host_addresses(session: Session, refs: Iterable[tuple[str, int, int]]) -> dict[tuple[str, int], str]:
    """(kind, id, org_id) -> the address of the host it runs on, for live, placed workloads on hosts
    that are not down (one query per kind and ministry, one for the hosts)."""
    wanted: dict[tuple[str, int], set[int]] = {}
    for kind, wid, org_id in refs:
        wanted.setdefault((kind, org_id), set()).add(wid)
    placed: dict[tuple[str, int], int] = {}
    for (kind, org_id), ids in wanted.items():
        for wid, p in workloads(session, kind, org_id, ids).items():
            if p.host_id is not None:
                placed[(kind, wid)] = p.host_id
    if not placed:
        return {}
    addresses = dict(
        session.execute(
            select(Host.id, Host.address).where(Host.id.in_(set(placed.values())), Host.state != HostState.DOWN)
        ).all()
    )
    return {ref: addresses[h] for ref, h in placed.items() if h in addresses}
