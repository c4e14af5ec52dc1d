"""`govhost soc ship` as the real process it runs as beside the worker: it delivers what the panel
appends (to rsyslog over TLS) within the poll interval, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from panel import capabilities
from panel.capabilities.soc import ship
from panel.models.tenants import Role
from tests.capabilities.soc.conftest import syslog_destination
from tests.conftest import settings_dict

ROOT = Path(__file__).resolve().parents[3]


def test_the_ship_command_delivers_and_stops_on_sigterm(booted, make, admin, siem, pki, tmp_path):
    assert ("soc", "ship") in capabilities.daemons()  # what `govhost serve --with-worker` starts
    syslog_destination(admin, siem, pki)
    raw = settings_dict(tmp_path, booted.database.url)
    raw["data_dir"] = booted.data_dir
    config = tmp_path / "ship.yaml"
    config.write_text(yaml.safe_dump(raw))
    log = tmp_path / "ship.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "panel.cli.main", "--config", str(config), "soc", "ship"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        )
    try:
        # the destination's own creation entry; the process starts first (20+ s at load 25 on 2 cores)
        siem.wait_for(ship.head_seq(), timeout=90)
        make.make_user(Role.WEBMASTER, make.make_org(), username="erin")
        from panel.services import auth as auth_svc
        from tests.support.factories import PASSWORD

        auth_svc.login_password("erin", PASSWORD)
        got = siem.wait_for(ship.head_seq(), timeout=10)
        assert got[-1].event["event"]["code"] == "govhost.auth.login"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=20)
    assert rc in (0, -signal.SIGTERM), log.read_text()
