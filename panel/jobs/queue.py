"""The Huey instance, chosen by the settings: SqliteHuey (embedded default) or RedisHuey."""

from __future__ import annotations

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from panel.config import Settings

_huey: Huey | None = None


def configure(settings: Settings) -> Huey:
    global _huey
    if settings.queue.backend == "redis":
        _huey = RedisHuey("govhost", url=settings.queue.redis_url)
    else:
        _huey = SqliteHuey("govhost", filename=settings.queue.sqlite_path)
    return _huey


def huey() -> Huey:
    if _huey is None:
        raise RuntimeError("job queue not configured")
    return _huey
