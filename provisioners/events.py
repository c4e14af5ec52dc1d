"""ansible-runner events -> small redacted events for the caller, per-host stats and an explanation.

Module arguments (`res.invocation`) never leave this module: a caller only sees which task ran on
which host, its outcome and the redacted stdout line. Failures are kept to explain the run in plain
language ("Host web1 could not be reached over SSH: ...", "Task 'Install packages' failed on ...").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .base import Event, EventSink, Result
from .redact import redactor

_HOST_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
    "runner_on_async_failed": "failed",
}
_KEPT = set(_HOST_EVENTS) | {
    "playbook_on_play_start",
    "playbook_on_task_start",
    "playbook_on_stats",
    "verbose",
    "warning",
    "error",
    "playbook_on_no_hosts_matched",
}
_STAT_KEYS = {
    "ok": "ok",
    "changed": "changed",
    "dark": "unreachable",
    "failures": "failed",
    "skipped": "skipped",
    "ignored": "ignored",
    "rescued": "rescued",
}
MAX_STDOUT = 8000
MAX_MSG = 400
# ssh's own words bury the point past MAX_MSG; an operator must read this one first.
KEY_CHANGED = (
    "its SSH host key is not the one govhost pinned (host key verification failed): nothing was sent; "
    "check the host before trusting a new key (govhost hosts rekey)"
)


def _msg(res: Any) -> str:
    if not isinstance(res, Mapping):
        return ""
    if res.get("censored"):
        return "its output is hidden (no_log), see the task in the playbook"
    # A loop's result says only "One or more items failed" (or, unreachable, "All items completed"):
    # the reason is the first failed or unreachable item's own.
    for item in res.get("results") if isinstance(res.get("results"), list) else ():
        if isinstance(item, Mapping) and (item.get("failed") or item.get("unreachable")) and _msg(item):
            return _msg(item)
    msg = res.get("msg") or res.get("stderr") or res.get("module_stderr") or res.get("reason") or ""
    return " ".join(str(msg).split())[:MAX_MSG]


class EventCollector:
    """The event_handler of one run: forwards redacted events, remembers what explains the end."""

    def __init__(self, secrets: Mapping[str, str] | Iterable[str], sink: EventSink | None):
        self.redact = redactor(secrets)
        self.sink = sink
        self.failures: list[tuple[str, str, str]] = []  # host, task, message
        self.unreachable: dict[str, str] = {}
        self.errors: list[str] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.data: dict = {}

    def handle(self, ev: dict) -> bool:
        """Called by ansible-runner for each event; False: runner writes nothing to disk."""
        kind = ev.get("event", "")
        if kind not in _KEPT:
            return False
        data = ev.get("event_data") or {}
        stdout = self.redact((ev.get("stdout") or "").strip("\r\n"))[:MAX_STDOUT]
        if kind in ("verbose", "warning", "error") and not stdout.strip():
            return False
        status = _HOST_EVENTS.get(kind)
        res = data.get("res") or {}
        if status == "ok" and isinstance(res, Mapping) and res.get("changed"):
            status = "changed"
        task = self.redact(str(data.get("task") or data.get("play") or ""))
        host = str(data.get("host") or "")
        self._remember(kind, host, task, res, data, stdout)
        if self.sink is not None:
            event: Event = {
                "counter": int(ev.get("counter") or 0),
                "event": kind,
                "host": host,
                "task": task[:250],
                "status": status,
                "stdout": stdout,
                "created": ev.get("created"),
            }
            self.sink(event)
        return False

    def _remember(self, kind: str, host: str, task: str, res: Any, data: dict, stdout: str) -> None:
        if kind == "runner_on_unreachable":
            full = str(res)  # a loop's items carry the message, not its own msg
            changed = "HOST IDENTIFICATION HAS CHANGED" in full or "Host key verification failed" in full
            self.unreachable[host] = KEY_CHANGED if changed else self.redact(_msg(res))
        elif kind in ("runner_on_failed", "runner_on_async_failed") and not data.get("ignore_errors"):
            self.failures.append((host, task, self.redact(_msg(res))))
        elif kind in ("error", "verbose") and "ERROR" in stdout:
            self.errors.append(" ".join(stdout.split())[:MAX_MSG])
        elif kind == "playbook_on_stats":
            self._stats(data)

    def _stats(self, data: dict) -> None:
        for key, name in _STAT_KEYS.items():
            for host, n in (data.get(key) or {}).items():
                self.stats.setdefault(host, dict.fromkeys(_STAT_KEYS.values(), 0))[name] = int(n)
        artifact = data.get("artifact_data") or {}
        if isinstance(artifact, Mapping):
            self.data = dict(artifact)

    def explanation(self, status: str, rc: int | None, timeout: int) -> str:
        if status == "successful":
            return ""
        if status == "canceled":
            return "The job was canceled before it finished."
        if status == "timeout":
            return f"The job did not finish within {timeout} seconds and was stopped."
        parts = [
            f"Host {h} could not be reached over SSH: {m or 'no answer'}" for h, m in sorted(self.unreachable.items())
        ]
        parts += [f"Task '{t}' failed on {h}: {m or 'no message'}" for h, t, m in self.unrescued()[:5]]
        if not parts:
            parts = self.errors[-2:] or [f"Ansible stopped with exit code {rc}."]
        return self.redact(" ".join(p if p.endswith(".") else p + "." for p in parts))[:2000]

    def unrescued(self) -> list[tuple[str, str, str]]:
        """The failures Ansible's own summary still counts: a task whose block's `rescue` handled it
        is not one (site_create.yml's certificate play). Without a summary (the run died), all."""
        if not self.stats:
            return self.failures
        failed = {host for host, counts in self.stats.items() if counts.get("failed")}
        return [f for f in self.failures if f[0] in failed]

    def result(self, status: str, rc: int | None, timeout: int) -> Result:
        if status == "successful" and (self.unrescued() or self.unreachable):
            status = "failed"  # a run that matched no host can still say rc 0
        return Result(
            status=status, rc=rc, stats=self.stats, explanation=self.explanation(status, rc, timeout), data=self.data
        )
