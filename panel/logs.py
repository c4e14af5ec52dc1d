"""Log lines of every process (web, worker, CLI), as text or as JSON (`log.format`), and the request
id that links them: the web takes it from X-Request-ID (nginx's $request_id) or makes one, the
audit entries of that request carry it, a job submitted in it keeps it (`jobs.trace_id`), and the
worker puts it on every line it logs for the job and on the audit entries the job writes.

JSON lines: {"ts", "level", "logger", "pid", "msg", "request_id"?, "job_id"?, "exc"?} plus a
record's `fields` (the web's request line: method, route, path, status, ms)."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("govhost_request_id", default="")
job_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("govhost_job_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(request)s%(job)s%(message)s"
FORMATS = ("text", "json")


class ContextFields(logging.Filter):
    """The job id and request id of the current context on every record (text: `req=X job=N `)."""

    def filter(self, record: logging.LogRecord) -> bool:
        job, req = job_id.get(), request_id.get()
        record.job_id, record.request_id = job, req
        record.job = f"job={job} " if job is not None else ""
        record.request = f"req={req} " if req else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, UTC timestamps with milliseconds."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process or os.getpid(),
            "msg": record.getMessage(),
        }
        req = getattr(record, "request_id", None) or request_id.get()
        job = getattr(record, "job_id", None)
        if job is None:
            job = job_id.get()
        if req:
            out["request_id"] = req
        if job is not None:
            out["job_id"] = job
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def handler(fmt: str, *filters: logging.Filter) -> logging.Handler:
    h = logging.StreamHandler()
    h.setFormatter(formatter(fmt))
    h.addFilter(ContextFields())
    for f in filters:
        h.addFilter(f)
    return h


def configure_web(fmt: str) -> None:
    """The web process (gunicorn's worker): `govhost.*` loggers to stderr in the chosen format, once
    per process, the request lines in JSON only; gunicorn keeps its own access and error logs."""
    log = logging.getLogger("govhost")
    if any(getattr(h, "_govhost", False) for h in log.handlers):
        return
    h = handler(fmt)
    h._govhost = True  # type: ignore[attr-defined]
    log.addHandler(h)
    log.setLevel(logging.INFO)
    if fmt != "json":  # text: gunicorn's access log has a line per request already
        logging.getLogger("govhost.web.request").setLevel(logging.WARNING)
