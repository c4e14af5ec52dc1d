"""Per-route request counts and latencies of the web processes (prometheus-client), for /metrics.

Under gunicorn every worker is a process of its own. `govhost serve` gives them one fresh directory
in PROMETHEUS_MULTIPROC_DIR (set before any worker starts: prometheus-client picks its storage when
it is first imported); each worker writes its samples to its own memory-mapped files there and
/metrics sums all the files, so whichever worker answers the scrape reports the whole server. A
worker that exited keeps its counts (gunicorn's child_exit hook, panel.gunicorn_conf, marks it
dead). Without the variable (the development server, tests) the counts are this process's own.

Labels stay few: `route` is the URL rule (`/api/v1/sites/<int:site_id>`), never the path; methods
outside the usual ones count as "other".
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

disable_created_metrics()  # no `_created` series: the multiprocess files cannot give them anyway
_registry = CollectorRegistry(auto_describe=False)  # ours, not prometheus-client's global one
REQUESTS = Counter(
    "govhost_http_requests",
    "HTTP requests answered, by method, route (URL rule) and status.",
    ("method", "route", "status"),
    registry=_registry,
)
LATENCY = Histogram(
    "govhost_http_request_duration_seconds",
    "Time from the request's first hook to its response, by method and route.",
    ("method", "route"),
    buckets=BUCKETS,
    registry=_registry,
)
_children: dict[tuple[str, str, int], tuple] = {}  # labels() looks its child up by a lock; once per key


def observe(method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"
    key = (method, route, status)
    pair = _children.get(key)
    if pair is None:
        pair = _children[key] = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
    pair[0].inc()
    pair[1].observe(seconds)


def exposition() -> str:
    """Prometheus text of the request metrics: every worker's, summed, when they share a directory."""
    path = os.environ.get(ENV)
    if path:
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=path)
        return generate_latest(registry).decode()
    return generate_latest(_registry).decode()
