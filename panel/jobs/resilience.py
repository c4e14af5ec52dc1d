"""Living through outages of the database or the queue: which errors are transient, retry with
backoff, and logs that say it once per interval (with the job id) instead of a traceback per poll.

A worker must never abort a playbook that is making progress because PostgreSQL restarted, and must
never flood its log while Redis is down; both are the same two tools below.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import exc as sa_exc

from panel import logs

T = TypeVar("T")
REPEAT_INTERVAL_S = 30.0

current_job = logs.job_id  # the job a worker thread runs now, on its log lines


def is_transient(error: BaseException) -> bool:
    """Database or queue unreachable (connection refused or dropped, server restarting, SQLite busy):
    worth retrying. A constraint violation or a bug is not."""
    if isinstance(error, sa_exc.DBAPIError):
        return bool(error.connection_invalidated) or isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError))
    if isinstance(error, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    name = type(error).__module__ + "." + type(error).__name__
    return name.startswith("redis.exceptions.") and ("Connection" in name or "Timeout" in name or "Busy" in name)


def describe(error: BaseException) -> str:
    """One line: the error's class and its first line (no traceback, no SQL parameters)."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class Throttle:
    """Logs a message at most once per `interval_s` per key, counting what it held back."""

    def __init__(self, interval_s: float = REPEAT_INTERVAL_S):
        self.interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def log(self, logger: logging.Logger, level: int, key: str, msg: str, *args) -> bool:
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(key, (float("-inf"), 0))
            if now - last < self.interval_s:
                self._last[key] = (last, held + 1)
                return False
            self._last[key] = (now, 0)
        if held:
            msg += f" ({held} more like this in the last {self.interval_s:.0f} s)"
        logger.log(level, msg, *args)
        return True

    def clear(self, key: str) -> bool:
        """The condition ended; True if it had been logged (so the caller can say it healed)."""
        with self._lock:
            return self._last.pop(key, None) is not None


throttle = Throttle()


def retry_transient(
    fn: Callable[[], T],
    what: str,
    *,
    deadline_s: float | None = None,
    stop: Callable[[], bool] | None = None,
    log: logging.Logger | None = None,
) -> T:
    """Call fn until it succeeds; transient errors are retried with backoff (0.2 s doubling to 5 s),
    logged once per interval. Gives up (re-raises) after `deadline_s` or when `stop()` is true."""
    log = log or logging.getLogger("govhost.jobs")
    start, delay, key = time.monotonic(), 0.2, f"retry:{what}"
    while True:
        try:
            result = fn()
        except Exception as e:
            if not is_transient(e):
                raise
            out_of_time = deadline_s is not None and time.monotonic() - start >= deadline_s
            if out_of_time or (stop is not None and stop()):
                raise
            throttle.log(log, logging.WARNING, key, "%s: %s; retrying", what, describe(e))
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if throttle.clear(key):
            log.info("%s: working again after %.1f s", what, time.monotonic() - start)
        return result


@contextlib.contextmanager
def job_context(job_id: int) -> Iterator[None]:
    """Log lines (and audit entries) of the job carry its id, and the request id of the web request
    or command that submitted it once the claim has read it (logs.request_id)."""
    token, req = current_job.set(job_id), logs.request_id.set("")
    try:
        yield
    finally:
        current_job.reset(token)
        logs.request_id.reset(req)


class _QuietRepeats(logging.Filter):
    """Huey logs every failed queue read with a traceback (tens a second while Redis is down): keep
    one line per interval, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith("huey"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        key = f"{record.name}:{record.msg}:{type(error).__name__}"
        now = time.monotonic()
        with throttle._lock:
            last, held = throttle._last.get(key, (float("-inf"), 0))
            if now - last < throttle.interval_s:
                throttle._last[key] = (last, held + 1)
                return False
            throttle._last[key] = (now, 0)
        if error is not None:
            record.msg = f"{record.getMessage()}: {describe(error)}"
            record.args, record.exc_info, record.exc_text = (), None, None
        if held:
            record.msg = f"{record.msg} ({held} more like this)"
        return True


def configure_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Worker logging: timestamp, level, logger, pid, job id and request id on every line (text, or
    one JSON object a line: log.format); repeats held back."""
    handler = logs.handler(fmt, _QuietRepeats())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
