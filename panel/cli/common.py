"""Shared pieces of the CLI: booting, the acting user, and one way to report service errors."""

from __future__ import annotations

import functools
import getpass
import os
import sys
import time

import click
from marshmallow import fields
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from panel.boot import boot
from panel.config import ConfigError, Settings
from panel.errors import PanelError
from panel.services import jobs as jobs_svc
from panel.services.actor import Actor, system_actor
from panel.services.outage import describe_outage, services_down
from panel.services.request_kinds import field_limits

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


def print_page(table, result, noun: str) -> None:
    """A list command's output: its table, then which page this is ("page 2 of 7, 130 sites")."""
    console.print(table)
    console.print(f"page {result.page} of {result.pages}, {result.total} {noun}", highlight=False)


def print_swept(jobs, what: str) -> None:
    """A sweep's jobs, and the hosts it skipped (down or with a changed key), if any."""
    console.print(f"{len(jobs)} {what} job(s): {', '.join(str(j.id) for j in jobs) or '-'}", markup=False)
    for name in getattr(jobs, "skipped", ()):
        console.print(f"skipped host {name}: down or its host key changed", markup=False)


def print_move(m, what: str) -> None:
    """A move just started (panel.services.moves): which object, from and to which host, its job."""
    console.print(
        f"move {m.id}: {what} from host {m.from_host_id} to host {m.to_host_id}, job {m.job_id}", markup=False
    )


def print_moves(moves) -> None:
    """An object's moves, newest first."""
    table = Table("id", "from", "to", "status", "job", "error")
    for m in moves:
        table.add_row(
            str(m.id), str(m.from_host_id), str(m.to_host_id), m.status.value, str(m.job_id or "-"), escape(m.error)
        )
    console.print(table)


def job_wait(actor: Actor, job_id: int, *, timeout: float, interval: float = 0.5) -> dict:
    """Poll a job (run by a worker) until it ends or `timeout` seconds pass; its public view. A job
    that is still running at the deadline is left to run (the caller says so and how to follow it)."""
    deadline = time.monotonic() + timeout
    while True:
        job = jobs_svc.job_events(actor, job_id, limit=1).job
        if job["finished"] or time.monotonic() >= deadline:
            return job
        time.sleep(interval)


def _deferred_note() -> None:
    ids = jobs_svc.jobs_deferred()
    if ids:
        err_console.print(
            f"[yellow]note[/] job(s) {', '.join(map(str, ids))} saved, but the job queue is unreachable: "
            "they start by themselves when it is back (a worker queues them again)."
        )


# ---- arguments with the limits of a request kind's schema ------------------------------------------


class SchemaText(click.ParamType):
    """A text argument checked against the length of a schema's field before anything boots (a
    clear message, exit 2); the request kind's schema checks the same numbers again."""

    name = "text"

    def __init__(self, low: int | None, high: int | None, rule: tuple[str, str] | None = None) -> None:
        self.low, self.high, self.rule = low or 0, high, rule

    def convert(self, value, param, ctx):
        if self.high is not None and len(value) > self.high:
            said = f"{value[:40]!r}... has {len(value)} characters; at most {self.high} are allowed."
            if self.rule:  # the key and message the service would answer with
                said = f"{self.rule[0]}: " + self.rule[1].format(min=self.low, max=self.high, value=value[:40] + "...")
            self.fail(said, param, ctx)
        if len(value) < self.low:
            self.fail(f"give at least {self.low} characters.", param, ctx)
        return value


def schema_type(schema, name: str) -> click.ParamType:
    """The click type of a CLI argument that fills `name` of a request kind's `schema`: an integer
    range or a text length, from the schema's own validators ("local_parts[]": a list's items)."""
    low, high = field_limits(schema, name)
    field = schema._declared_fields[name.removesuffix("[]")]
    inner = getattr(field, "inner", field) if name.endswith("[]") else field
    if isinstance(inner, fields.Integer):
        return click.IntRange(low, high)
    return SchemaText(low, high, inner.metadata.get("rule_error"))
