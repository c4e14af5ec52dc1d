"""Health and metrics for load balancers, systemd and Prometheus (issue 21).

- `alive()`: the process answers (no database, no queue: a liveness probe must not restart a web
  process because PostgreSQL is down).
- `ready()`: the database answers, its schema is at the migrations' head (an upgrade half done is
  not ready), and the queue answers. Each check is run on its own, outside any transaction.
- `metrics_text()`: Prometheus text exposition of the shared state every web process sees alike
  (jobs by kind and status, their run times, approval-to-live times, queue depth, jobs waiting for
  a host, workers by state, host reachability): read from the database and the queue, so any web
  process answers the same; then this server's per-route request metrics (request_metrics).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import case, func, select

from panel import db
from panel.boot import current as current_settings
from panel.errors import Forbidden
from panel.jobs import queue, resilience, supervise
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus, Worker
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from panel.services import request_metrics, schema
from panel.services.actor import Actor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JOB_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)  # seconds a job ran
LIVE_BUCKETS = (10, 30, 60, 300, 900, 1800, 3600, 14400, 86400)  # seconds from approval to done
SETTLE_S = 300  # a finish this old is in the histograms' kept totals; younger ones are read each scrape


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def alive() -> dict:
    return {"status": "ok"}


def _database() -> str:
    with db.unit_of_work() as s:
        db.now(s)
    return ""


def _migrations() -> str:
    head = ScriptDirectory.from_config(schema.alembic_config()).get_current_head()
    with db.engine().connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        raise RuntimeError(f"schema at {current}, migrations at {head}: run govhost db upgrade")
    return ""


def _queue() -> str:
    queue.ping()
    return ""


CHECKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("database", _database),
    ("migrations", _migrations),
    ("queue", _queue),
)


def ready() -> list[Check]:
    """Every check, each on its own (a failing database does not hide the queue's state)."""
    out = []
    for name, fn in CHECKS:
        try:
            out.append(Check(name, True, fn()))
        except Exception as e:
            out.append(Check(name, False, resilience.describe(e) if not isinstance(e, RuntimeError) else str(e)))
        finally:
            db.remove()
    return out


# ---- metrics ---------------------------------------------------------------------------------


def _esc(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Text:
    def __init__(self):
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_: str, samples: list[tuple[dict, float]]) -> None:
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            inner = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
            self.lines.append(f"{name}{{{inner}}} {value}" if inner else f"{name} {value}")

    def histogram(self, name: str, help_: str, buckets: tuple, rows: list[tuple[dict, tuple]]) -> None:
        """rows: (labels, (count, sum, count <= each bucket...)) as _histogram_rows returns them."""
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
        for labels, (count, total, *under) in rows:
            for le, n in [*zip((str(float(b)) for b in buckets), under, strict=True), ("+Inf", count)]:
                inner = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted({**labels, "le": le}.items()))
                self.lines.append(f"{name}_bucket{{{inner}}} {int(n or 0)}")
            inner = ",".join(f'{k}="{_esc(v)}"' for k, v in sorted(labels.items()))
            self.lines += [f"{name}_sum{{{inner}}} {round(float(total or 0), 3)}", f"{name}_count{{{inner}}} {count}"]


def _histogram_rows(session, labels: tuple, seconds, where: tuple, buckets: tuple) -> list[tuple]:
    """One grouped query: per label set the count, the sum of `seconds` and the count under each
    bucket bound, over the rows `where` selects."""
    under = [func.sum(case((seconds <= b, 1), else_=0)) for b in buckets]
    stmt = select(*labels, func.count(), func.sum(seconds), *under).where(*where).group_by(*labels)
    return [(tuple(row[: len(labels)]), tuple(row[len(labels) :])) for row in session.execute(stmt)]


class Cumulative:
    """A Prometheus histogram over every row that ever finished, without reading them all on every
    scrape: rows whose finish is older than SETTLE_S are added once to totals this process keeps
    (each scrape reads only those that settled since the last one, by the indexed finish column),
    and the few of the last SETTLE_S are read again on each scrape. A process's first scrape reads
    the settled rows once. A finish committed more than SETTLE_S after its stamp would be missed;
    the transaction that stamps it does no network I/O, so it commits well within that."""

    def __init__(self, labels: tuple, seconds, finished, where: tuple, buckets: tuple):
        self.labels, self.seconds, self.finished, self.where, self.buckets = labels, seconds, finished, where, buckets
        self.settled: dict[tuple, list[float]] = {}
        self.upto: dt.datetime | None = None
        self.bind: object = None  # the engine the totals were read from (tests configure several)
        self.lock = threading.Lock()

    def _read(self, session, after, upto) -> list[tuple]:
        where = (*self.where, self.finished.is_not(None))
        if after is not None:
            where += (self.finished > after,)
        if upto is not None:
            where += (self.finished <= upto,)
        return _histogram_rows(session, self.labels, self.seconds, where, self.buckets)

    @staticmethod
    def _add(into: dict, rows: list[tuple]) -> None:
        for labels, values in rows:
            acc = into.setdefault(labels, [0.0] * len(values))
            for i, v in enumerate(values):
                acc[i] += float(v or 0)

    def rows(self, session, now: dt.datetime) -> list[tuple]:
        """(labels, (count, sum, count under each bound...)) of every row finished by `now`."""
        upto = now - dt.timedelta(seconds=SETTLE_S)
        with self.lock:
            if self.bind is not session.get_bind():
                self.settled, self.upto, self.bind = {}, None, session.get_bind()
            if self.upto is None or upto > self.upto:
                self._add(self.settled, self._read(session, self.upto, upto))
                self.upto = upto
            out = {labels: list(values) for labels, values in self.settled.items()}
            settled_upto = self.upto
        # bounded on both sides so that the finish index is used (a stamp more than SETTLE_S ahead of
        # the database's clock, from a skewed worker, is counted once it has settled)
        self._add(out, self._read(session, settled_upto, now + dt.timedelta(seconds=SETTLE_S)))
        return sorted(out.items(), key=lambda item: tuple(str(v) for v in item[0]))


def job_runs() -> Cumulative:
    return Cumulative(
        (Job.kind, Job.status), db.seconds_between(Job.started_at, Job.finished_at), Job.finished_at,
        (Job.started_at.is_not(None),), JOB_BUCKETS,
    )  # fmt: skip


def approvals_to_live() -> Cumulative:
    return Cumulative(
        (Request.kind,), db.seconds_between(Request.decided_at, Request.finished_at), Request.finished_at,
        (Request.status == RequestStatus.DONE, Request.decided_at.is_not(None)), LIVE_BUCKETS,
    )  # fmt: skip


HISTOGRAMS = {"job_runs": job_runs(), "to_live": approvals_to_live()}  # this process's totals


def require_metrics_reader(actor: Actor) -> None:
    if not actor.has_staff(Role.ADMIN, Role.OPERATOR, Role.AUDITOR):
        raise Forbidden("metrics.forbidden", "Metrics are for data-center staff.")


def metrics_text(actor: Actor) -> str:
    require_metrics_reader(actor)
    out = _Text()
    lease_s = current_settings().queue.lease_s
    with db.unit_of_work() as s:
        now = db.now(s)
        by_kind = s.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)).all()
        waiting = s.scalar(select(func.count()).where(Job.status == JobStatus.PENDING, supervise.waiting_for_host()))
        oldest = s.scalar(select(func.min(Job.created_at)).where(Job.status == JobStatus.PENDING))
        durations = s.execute(
            select(Job.kind, Job.status, Job.started_at, Job.finished_at).where(
                Job.finished_at >= now - dt.timedelta(hours=1), Job.started_at.is_not(None)
            )
        ).all()
        workers = list(s.scalars(select(Worker).where(Worker.stopped_at.is_(None))))
        job_runs = HISTOGRAMS["job_runs"].rows(s, now)
        to_live = HISTOGRAMS["to_live"].rows(s, now)
        hosts = s.execute(select(Host.name, Host.state, Host.last_probe_ok)).all()
    out.metric(
        "govhost_jobs",
        "gauge",
        "Jobs by kind and status.",
        [({"kind": k, "status": st.value}, n) for k, st, n in by_kind],
    )
    out.metric("govhost_jobs_waiting_for_host", "gauge", "Pending jobs waiting for another job on their host.",
               [({}, waiting or 0)])  # fmt: skip
    age = (now - _aware(oldest)).total_seconds() if oldest else 0
    out.metric("govhost_queue_oldest_pending_seconds", "gauge", "Age of the oldest pending job.", [({}, round(age, 3))])
    try:
        depth = queue.length()
        out.metric("govhost_queue_depth", "gauge", "Messages waiting in the job queue.", [({}, depth)])
        out.metric("govhost_queue_up", "gauge", "1 if the job queue answers.", [({}, 1)])
    except Exception:
        out.metric("govhost_queue_up", "gauge", "1 if the job queue answers.", [({}, 0)])
    sums: dict[tuple[str, str], list[float]] = {}
    for kind, status, started, finished in durations:
        sums.setdefault((kind, status.value), []).append((_aware(finished) - _aware(started)).total_seconds())
    out.metric(
        "govhost_job_duration_seconds_sum_1h",
        "gauge",
        "Total run time of jobs that finished in the last hour, by kind and outcome.",
        [({"kind": k, "status": st}, round(sum(v), 3)) for (k, st), v in sorted(sums.items())],
    )
    out.metric(
        "govhost_job_finished_1h",
        "gauge",
        "Jobs that finished in the last hour, by kind and outcome.",
        [({"kind": k, "status": st}, len(v)) for (k, st), v in sorted(sums.items())],
    )
    out.histogram(
        "govhost_job_run_seconds",
        "Run time of finished jobs (started to finished), by kind and outcome.",
        JOB_BUCKETS,
        [({"kind": k, "status": JobStatus(st).value}, v) for (k, st), v in job_runs],
    )
    out.histogram(
        "govhost_request_approval_to_live_seconds",
        "Time from a request's approval to its work being in place (requests done), by kind.",
        LIVE_BUCKETS,
        [({"kind": k}, v) for (k,), v in to_live],
    )
    states: dict[str, int] = {"active": 0, "stopping": 0, "silent": 0}
    for w in workers:
        silent = (now - _aware(w.heartbeat_at)).total_seconds() > lease_s
        states["silent" if silent else "stopping" if w.stopping_at else "active"] += 1
    out.metric("govhost_workers", "gauge", "Registered workers by state (silent: no heartbeat for a lease).",
               [({"state": k}, v) for k, v in states.items()])  # fmt: skip
    out.metric(
        "govhost_host_reachable",
        "gauge",
        "1 if the host's last probe succeeded, 0 if it failed, -1 if never probed.",
        [({"host": name, "state": st.value}, -1 if ok is None else int(ok)) for name, st, ok in hosts],
    )
    return "\n".join(out.lines) + "\n" + request_metrics.exposition()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
