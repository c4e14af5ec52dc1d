"""Per-route request metrics under real gunicorn with two workers (issue 21): each worker counts in
its own files of PROMETHEUS_MULTIPROC_DIR, and /metrics, whichever worker answers it, reports the
sum; /metrics stays behind its token there too."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from panel.models.tenants import Role
from tests.core.test_serve_signals import _free_port
from tests.support.surfaces import api_headers

ROUTE_KEY = ("govhost_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))


def _get(port: int, path: str, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 (http to 127.0.0.1, built above)
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _healthz_by_pid(metrics_dir: Path) -> dict[int, float]:
    """What each worker's own counter file holds for GET /healthz 200 (read as prometheus-client does)."""
    counts = {}
    for f in metrics_dir.glob("counter_*.db"):
        pid = int(f.stem.rsplit("_", 1)[1])
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(f)):
            _name, sample, labels, *_ = json.loads(key)
            if sample == "govhost_http_requests_total" and labels == dict(ROUTE_KEY[1]):
                counts[pid] = counts.get(pid, 0) + value
    return counts


def _samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_request_counts_add_up_across_gunicorn_workers(booted, make, tmp_path):
    raw = dataclasses.asdict(booted)
    raw.pop("source")
    raw["secret_keys"] = list(raw["secret_keys"])
    raw["dns"]["nameservers"] = list(raw["dns"]["nameservers"])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale")  # a previous run's file: serve empties the dir
    auditor = api_headers(make.make_user(Role.AUDITOR), "read")
    port = _free_port()
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    cmd = [sys.executable, "-m", "panel.cli.main", "--config", str(cfg), "serve", "--bind", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5).close()
                break
            except OSError:
                assert proc.poll() is None, "govhost serve exited before serving"
                assert time.monotonic() < deadline, "govhost serve did not answer within 60 s"
                time.sleep(0.3)
        assert not (metrics_dir / "counter_1.db").exists()
        # Parallel requests until both workers have answered some (the kernel picks who accepts).
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):
                statuses = list(pool.map(lambda _i: _get(port, "/healthz")[0], range(40)))
                assert statuses == [200] * 40
                sent += 40
                if len(_healthz_by_pid(metrics_dir)) >= 2:
                    break
        by_pid = _healthz_by_pid(metrics_dir)
        assert len(by_pid) == 2 and all(v > 0 for v in by_pid.values()), by_pid
        assert sum(by_pid.values()) == sent

        assert _get(port, "/metrics")[0] == 401
        ministry = api_headers(make.make_user(Role.WEBMASTER, make.make_org("M")), "read")
        assert _get(port, "/metrics", ministry)[0] == 403
        # Every scrape (answered by either worker) reports all the requests of both.
        for _ in range(6):
            status, body = _get(port, "/metrics", auditor)
            assert status == 200
            got = _samples(body)
            assert got[ROUTE_KEY] == sent, (got.get(ROUTE_KEY), sent, by_pid)
            hist = ("govhost_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))
            assert got[hist] == sent
            assert "govhost_queue_up" in body  # the database and queue figures come along
        refused = ("govhost_http_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "401")))
        assert _samples(_get(port, "/metrics", auditor)[1])[refused] == 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
