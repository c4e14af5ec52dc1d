"""The shipped systemd units (deploy/systemd) are valid for systemd and keep their hardening: a
dedicated user, no privilege gain, a read-only system but for the state directory, no capabilities;
the worker's stop drains. `systemd-analyze verify` checks every directive (on a copy whose command
points at an executable that exists here: the units name /opt/govhost/venv/bin/govhost)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
HARDENING = {
    "User": "govhost",
    "Group": "govhost",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "CapabilityBoundingSet": "",
    "ReadWritePaths": "/var/lib/govhost",
    "UMask": "0077",
}


def directives(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.mark.parametrize("unit", ["govhost-web.service", "govhost-worker.service"])
def test_unit_is_hardened_and_verifies(unit, tmp_path):
    text = (UNITS / unit).read_text()
    found = directives(text)
    assert {k: found.get(k) for k in HARDENING} == HARDENING
    if unit == "govhost-worker.service":  # systemctl stop drains: more than queue.drain_s (60 s) + 30 s
        assert found["KillMode"] == "mixed" and int(found["TimeoutStopSec"]) >= 90
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / unit
    copy.write_text(text.replace("/opt/govhost/venv/bin/govhost", sys.executable))
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr
