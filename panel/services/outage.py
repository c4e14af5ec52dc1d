"""Telling the surfaces that a backing service (database, queue) is unreachable, so they answer
503 / a one-line CLI message instead of a 500 and a traceback."""

from __future__ import annotations

from panel.jobs import resilience


def services_down(error: BaseException) -> bool:
    return resilience.is_transient(error)


def describe_outage(error: BaseException) -> str:
    return resilience.describe(error)
