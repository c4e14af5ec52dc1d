"""Process start-up shared by the web app, the CLI and the worker: settings -> database, keys, queue."""

from __future__ import annotations

from pathlib import Path

from panel import db, security
from panel.config import Settings, validate
from panel.jobs import queue

_booted: Settings | None = None


def boot(settings: Settings | None = None) -> Settings:
    global _booted
    settings = validate(settings or Settings.load())
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    db.configure(settings.database.url)
    security.configure(settings.secret_keys)
    queue.configure(settings)
    _booted = settings
    return settings


def current() -> Settings:
    if _booted is None:
        raise RuntimeError("govhost is not booted")
    return _booted
