"""`govhost serve` stops its gunicorn (master and workers) on SIGTERM and on SIGINT."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_gunicorn(booted, tmp_path, sig):
    raw = dataclasses.asdict(booted)
    raw.pop("source")
    raw["secret_keys"] = list(raw["secret_keys"])
    raw["dns"]["nameservers"] = list(raw["dns"]["nameservers"])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    port = _free_port()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "panel.cli.main",
            "--config",
            str(cfg),
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            # One worker: the signal's path (serve -> gunicorn's master -> its workers) is the same
            # with one as with two, and each worker builds the app again (about 2.5 s of CPU;
            # tests/core/test_metrics_gunicorn.py runs two, where their number is the point).
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the signal reaches `serve` alone, as from a service manager
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5) as r:
                    assert r.status == 200
                break
            except OSError:
                assert proc.poll() is None, "govhost serve exited before serving"
                assert time.monotonic() < deadline, "govhost serve did not answer within 60 s"
                time.sleep(0.3)
        gunicorn = _descendants(proc.pid)
        assert len(gunicorn) >= 2, gunicorn  # the master and its worker
        proc.send_signal(sig)
        assert proc.wait(timeout=40) is not None
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in gunicorn) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in gunicorn if _alive(p)], "gunicorn processes outlived govhost serve"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
