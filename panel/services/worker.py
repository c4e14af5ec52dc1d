"""`govhost worker`: the job consumer with everything the worker process must have loaded."""

from __future__ import annotations

import functools
import importlib

from panel.config import Settings
from panel.jobs import tasks
from panel.services import schedule

# The core's modules whose import connects receivers of panel.events (notifications of requests and
# of usage over a limit) that must run in the worker, where jobs finish and move requests to done or
# failed. Capabilities' receivers are connected by the capability loader (their manifests'
# `subscribers`), which the `govhost` command runs first.
HOOK_MODULES = ("panel.services.notifications", "panel.services.requests")


def worker_run(settings: Settings, workers: int | None = None) -> None:
    """Reap dead workers' jobs, then consume, with the periodic sweeps ticking once a minute."""
    for name in HOOK_MODULES:
        importlib.import_module(name)
    tasks.run_worker(settings, workers, tick=functools.partial(schedule.schedule_tick, settings))
