"""Services one capability offers another, looked up by name (capabilities never import each other).

A capability lists what it offers in its manifest (`provides=(Provide("databases.app_database",
"kinds:app_database"),)`); the loader registers each function here under its name, and another
capability calls it with `providers.call("databases.app_database", ...)`. The name is the contract:
it starts with the offering capability's name, its function's docstring says what it takes and
returns (plain values and ids, never the offering capability's rows, so the caller needs none of its
models), and the caller declares the offering capability in its manifest's `requires` so it is
always loaded first. Calls run in the caller's unit of work: a provider joins its transaction and
does no network I/O itself (it may submit jobs, which run after commit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panel.errors import Conflict

_registry: dict[str, tuple[str, Callable[..., Any]]] = {}


def register(name: str, function: Callable[..., Any], capability: str) -> None:
    """Offer `function` as `name` (the loader calls this for each manifest's `provides`)."""
    if not name.startswith(f"{capability}."):
        raise ValueError(f"provider {name!r} of capability {capability} must start with {capability}.")
    old = _registry.get(name)
    if old is not None and old != (capability, function):
        raise ValueError(f"provider {name} is already offered by {old[0]}")
    _registry[name] = (capability, function)


def unregister(name: str) -> None:
    _registry.pop(name, None)


def names() -> list[str]:
    return sorted(_registry)


def get(name: str) -> Callable[..., Any]:
    """The function offered as `name`; a clear error when its capability is not enabled."""
    try:
        return _registry[name][1]
    except KeyError:
        raise Conflict(
            "provider.missing",
            "This needs {provider}, which no enabled capability offers.",
            provider=name,
        ) from None


def call(name: str, /, *args: Any, **kwargs: Any) -> Any:
    return get(name)(*args, **kwargs)
