"""gunicorn's configuration hooks for `govhost serve` (`--config python:panel.gunicorn_conf`).

A worker that exits (a restart, a crash) leaves its request counts in PROMETHEUS_MULTIPROC_DIR,
where /metrics goes on summing them; marking it dead removes only its live-gauge files.
"""

from __future__ import annotations

import os

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
