"""Shared pieces of the CLI: booting, the acting user, and one way to report service errors."""

from __future__ import annotations

import functools
import getpass
import os
import sys

import click
from rich.console import Console
from rich.markup import escape

from panel.boot import boot
from panel.config import ConfigError, Settings
from panel.errors import PanelError
from panel.services import jobs as jobs_svc
from panel.services.actor import Actor, system_actor
from panel.services.outage import describe_outage, services_down

console = Console()
err_console = Console(stderr=True)


def settings_from(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = boot(Settings.load(obj.get("config")))
        except ConfigError as e:
            err_console.print(f"[red]configuration error:[/] {e}")
            sys.exit(2)
    return obj["settings"]


def cli_actor() -> Actor:
    """The CLI runs on the panel server as a system user: it acts as the machine, named after it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = str(os.getuid())
    return system_actor("cli", f"cli:{who}")


def command(fn):
    """Boot, then turn service errors into a message and exit status 2 (1 for unexpected ones);
    an unreachable database is a one-line message (exit 1), not a traceback. Jobs that were saved
    while the queue was down are named: they start when the queue is back."""

    @functools.wraps(fn)
    @click.pass_context
    def wrapper(ctx, *args, **kwargs):
        settings_from(ctx)
        try:
            result = fn(*args, **kwargs)
        except PanelError as e:
            err_console.print("[red]error[/] " + escape(f"[{e.key}]: {e.text()}"))
            sys.exit(2)
        except Exception as e:
            if not services_down(e):
                raise
            err_console.print(
                "[red]error[/] "
                + escape(
                    "[service.unavailable]: the database is unreachable; nothing was changed. "
                    f"Try again when it is back ({describe_outage(e)})."
                )
            )
            sys.exit(1)
        finally:
            _deferred_note()
        return result

    return wrapper


def print_swept(jobs, what: str) -> None:
    """A sweep's jobs, and the hosts it skipped (down or with a changed key), if any."""
    console.print(f"{len(jobs)} {what} job(s): {', '.join(str(j.id) for j in jobs) or '-'}", markup=False)
    for name in getattr(jobs, "skipped", ()):
        console.print(f"skipped host {name}: down or its host key changed", markup=False)


def _deferred_note() -> None:
    ids = jobs_svc.jobs_deferred()
    if ids:
        err_console.print(
            f"[yellow]note[/] job(s) {', '.join(map(str, ids))} saved, but the job queue is unreachable: "
            "they start by themselves when it is back (a worker queues them again)."
        )
