"""`govhost setup`, `govhost serve`: first start and the web server (gunicorn)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from panel.cli.common import cli_actor, command, console, settings_from
from panel.services import schema
from panel.services.setup import panel_setup


@click.command()
@click.option("--admin", "admin_username", default="admin", show_default=True)
@click.option("--demo/--no-demo", default=True, help="Create a demo ministry.")
@command
def setup(admin_username: str, demo: bool) -> None:
    """Migrate the database and create the data center, the first admin and a demo ministry."""
    schema.schema_upgrade()
    result = panel_setup(cli_actor(), admin_username=admin_username, demo=demo)
    if result.admin_created:
        console.print(
            f"admin account [bold]{admin_username}[/] created; one-time password "
            f"(at first login you enrol two-factor, then choose your own password):"
        )
        console.print(f"  [bold yellow]{result.one_time_password}[/]")
    else:
        console.print(f"admin account {admin_username} exists already (reset it with `govhost users reset-password`)")


@click.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
@click.option(
    "--with-worker/--no-worker",
    default=False,
    help="Also run the job worker (`govhost worker`) and the capabilities' processes (`govhost soc ship`).",
)
@click.pass_context
def serve(ctx: click.Context, bind: str, workers: int, with_worker: bool) -> None:
    """Run the panel with gunicorn (and, with --with-worker, the job worker beside it)."""
    settings = settings_from(ctx)
    env = dict(os.environ, GOVHOST_CONFIG=settings.source or ctx.obj["config"])
    metrics_dir, own_dir = _metrics_dir(env.get("PROMETHEUS_MULTIPROC_DIR"))
    children = []
    if with_worker:
        children.append(subprocess.Popen([sys.executable, "-m", "panel.cli.main", "worker"], env=env))
        for daemon in ctx.obj.get("daemons", ()):  # the capabilities' own processes (the SOC feed's shipper)
            children.append(subprocess.Popen([sys.executable, "-m", "panel.cli.main", *daemon], env=env))
    gunicorn = shutil.which("gunicorn") or "gunicorn"
    # No control socket: gunicorn's default one is a single path shared by every instance on the machine.
    web = subprocess.Popen(
        [
            gunicorn,
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
            "--no-control-socket",
            "--config",
            "python:panel.gunicorn_conf",
            "panel.app:create_app()",
        ],
        env=dict(env, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)),
    )
    children.append(web)
    console.print(f"govhost is listening on http://{bind}/")
    # A service manager stops us with SIGTERM, a terminal with SIGINT: either way gunicorn's master
    # (which takes its workers down) and the job worker get SIGTERM and are waited for.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        web.wait()
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                # The job worker drains first (queue.drain_s, then hands its jobs back): wait for it.
                child.wait(timeout=settings.queue.drain_s + 40)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir(given: str | None) -> tuple[Path, bool]:
    """The gunicorn workers' shared directory for request metrics (panel.services.request_metrics):
    the caller's PROMETHEUS_MULTIPROC_DIR emptied of old samples, or a fresh private one (0700,
    under the unit's PrivateTmp) removed at exit. Counts start at zero with each start, as
    Prometheus expects of a restarted target."""
    if given:
        path = Path(given)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        return path, False
    return Path(tempfile.mkdtemp(prefix="govhost-metrics-")), True


class _Stopped(Exception):
    """SIGTERM or SIGINT reached `govhost serve`."""


def _stop(signum, _frame):
    raise _Stopped(signum)
