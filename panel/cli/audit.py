"""`govhost audit list|verify|export`: the hash-chained audit log from the panel server."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from panel.cli.common import command, console, err_console, print_page
from panel.cli.users import acting, as_option
from panel.services import audit as audit_svc


@click.group()
def audit() -> None:
    """Browse, verify and export the audit log."""


@audit.command("list")
@click.option("--action", default="", help="Action prefix, e.g. org. or site.create")
@click.option("--actor", "who", default="", help="Actor name.")
@click.option("--page", default=1, type=click.IntRange(1, 10**6))
@as_option
@command
def list_(action: str, who: str, page: int, as_user: str | None) -> None:
    """Entries, newest first."""
    result = audit_svc.audit_list(acting(as_user), audit_svc.AuditFilter(action=action, actor=who), page=page)
    table = Table("seq", "when", "actor", "action", "object", "org", "surface", "summary")
    for e in result.items:
        table.add_row(
            str(e.seq),
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor_name,
            e.action,
            f"{e.object_type} {e.object_id}",
            str(e.org_id or ""),
            e.surface,
            e.summary[:80],
        )
    print_page(table, result, "entries")


def _report(result) -> None:
    if result.ok:
        console.print(f"[green]ok[/]: {result.checked} entries verified")
        return
    err_console.print(
        f"[red]BROKEN[/] at entry {result.seq}: {escape(result.problem)}", highlight=False, soft_wrap=True
    )
    err_console.print(f"{result.checked} entries verified before it")
    sys.exit(1)


@audit.command("verify")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Verify an export (JSON lines) offline instead of the database.",
)
@as_option
@command
def verify(path: Path | None, as_user: str | None) -> None:
    """Check the chain; exits 1 and names the first edited, deleted, inserted or reordered entry."""
    if path is None:
        _report(audit_svc.audit_verify(acting(as_user)))
        return
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            _report(audit_svc.verify_export(fh))
    except OSError as e:
        err_console.print(f"[red]error[/]: cannot read {path}: {e.strerror}")
        sys.exit(2)


@audit.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (default: standard output).",
)
@as_option
@command
def export(output: Path | None, as_user: str | None) -> None:
    """Every entry as a JSON line with its chain, then a head line: verifiable offline."""
    a = acting(as_user)
    if output is None:
        n = audit_svc.audit_export(a, sys.stdout.write)
    else:
        with output.open("w", encoding="utf-8") as fh:
            n = audit_svc.audit_export(a, fh.write)
    err_console.print(f"exported {n} entries")
