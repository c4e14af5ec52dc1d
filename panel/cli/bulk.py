"""`govhost bulk ...`: plan files, show, submit, approve, watch, resume, report, templates.

plan applies nothing: it prints what each row would do (create / update / delete / noop / conflict / invalid, every
error with its file, line and column), the budget impact and the placement preview. Generated
passwords go only to the --passwords-out file (created 0600, never overwritten) or, later, once, to
`bulk passwords`. Bad input: a message and exit status 2.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from panel.cli.common import command, console
from panel.cli.requests import acting, as_option
from panel.errors import Invalid
from panel.services import bulk as bulk_svc
from panel.services import requests as requests_svc
from panel.services import users as users_svc


@click.group()
def bulk() -> None:
    """Bulk provisioning from CSV / YAML / JSON files: plan, submit, approve, watch, report."""


def _write_private(path: str, text: str) -> None:
    """A new file only its owner reads (0600); an existing file is never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Invalid("bulk.output_exists", "{path} exists already; choose a new file.", path=path) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _view_json(view) -> dict:
    p = view.plan
    return {
        "id": p.id,
        "org_id": p.org_id,
        "digest": p.digest,
        "counts": p.counts,
        "quota": p.quota,
        "files": p.files,
        "request_id": p.request_id,
        "applied": p.applied_at is not None,
        "within_budget": view.within_budget,
        "impact": [{"resource": r.resource, "used": r.used, "asked": r.asked, "limit": r.limit} for r in view.impact],
        "placement": view.placement,
        "progress": view.progress,
        "rows": [
            {
                "row": r.seq,
                "file": r.file,
                "line": r.line,
                "kind": r.kind,
                "key": r.key,
                "action": r.action,
                "status": r.status,
                "errors": r.errors,
            }
            for r in view.rows
        ],
    }


def _print_view(view) -> None:
    p = view.plan
    counts = ", ".join(f"{n} {a}" for a, n in sorted(p.counts.items()))
    console.print(f"plan #{p.id} ({counts}) digest {p.digest}", highlight=False)
    if view.impact:
        for r in view.impact:
            mark = "" if r.ok else "  [red]over budget[/]"
            console.print(f"  {r.resource}: used {r.used} + asked {r.asked} = {r.after} of {r.limit}{mark}")
    for line in view.placement:
        console.print(f"  placement: {line}", highlight=False, markup=False)
    table = Table("file:line", "kind", "key", "action", "status", "errors")
    for r in view.rows:
        errors = "; ".join(f"{e['column']}: {e['message']} [{e['key']}]" for e in r.errors)
        table.add_row(f"{r.file}:{r.line}", r.kind, r.key, r.action, r.status, errors)
    console.print(table)
    if view.total_rows > len(view.rows):
        console.print(f"{len(view.rows)} of {view.total_rows} rows shown (errors first); see `bulk report`.")
    if p.request_id:
        console.print(f"request #{p.request_id}", highlight=False)


@bulk.command("plan")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--org", "org", required=True, metavar="SLUG|ID", help="The ministry the files are for.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--passwords-out", default=None, metavar="FILE", help="Write generated passwords here (0600).")
@as_option
@command
def plan(files, org: str, as_json: bool, passwords_out: str | None, as_user) -> None:
    """Check FILES (sites.csv, mailboxes.csv, aliases.csv, dns_records.csv, or a .yaml/.json) and
    store a plan; nothing is applied."""
    a = acting(as_user)
    org_id = users_svc.org_ref(a, org).id
    if passwords_out and Path(passwords_out).exists():
        raise Invalid("bulk.output_exists", "{path} exists already; choose a new file.", path=passwords_out)
    result = bulk_svc.bulk_plan(a, org_id=org_id, files=[(Path(f).name, Path(f).read_bytes()) for f in files])
    if result.passwords and passwords_out:
        _plan, passwords = bulk_svc.bulk_passwords_take(a, plan_id=result.plan.id)
        _write_private(passwords_out, "".join(f"{k},{v}\n" for k, v in sorted(passwords.items())))
    view = bulk_svc.bulk_show(a, result.plan.id)
    if as_json:
        click.echo(json.dumps(_view_json(view), ensure_ascii=False, indent=1))
    else:
        _print_view(view)
        if result.passwords:
            where = passwords_out or f"`govhost bulk passwords {result.plan.id} --out FILE` (once)"
            console.print(f"{len(result.passwords)} generated password(s): {where}", highlight=False)
    if view.plan.counts.get("invalid") or view.plan.counts.get("conflict"):
        sys.exit(2)


@bulk.command("show")
@click.argument("plan_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.option("--only", type=click.Choice(bulk_svc.ACTIONS), default=None, help="Only rows of this action.")
@as_option
@command
def show(plan_id: int, as_json: bool, only, as_user) -> None:
    """A plan: counts, budget impact, placement, rows (errors first), progress."""
    view = bulk_svc.bulk_show(acting(as_user), plan_id, only=only)
    if as_json:
        click.echo(json.dumps(_view_json(view), ensure_ascii=False, indent=1))
    else:
        _print_view(view)


@bulk.command("submit")
@click.argument("plan_id", type=int)
@as_option
@command
def submit(plan_id: int, as_user) -> None:
    """One request for the whole plan; its approval is of the plan's digest."""
    req = bulk_svc.bulk_submit(acting(as_user), plan_id)
    console.print(f"request #{req.id} {req.status.value}: {req.summary}", highlight=False)


@bulk.command("approve")
@click.argument("plan_id", type=int)
@click.option("--comment", default="")
@as_option
@command
def approve(plan_id: int, comment: str, as_user) -> None:
    """Approve a submitted plan (its request); the work starts if nothing changed since the plan."""
    a = acting(as_user)
    view = bulk_svc.bulk_show(a, plan_id, rows_limit=1)
    if view.plan.request_id is None:
        raise Invalid("bulk.not_submitted", "The plan is not submitted yet.")
    req = requests_svc.request_approve(a, view.plan.request_id, comment=comment)
    console.print(f"request #{req.id} {req.status.value}", highlight=False)


@bulk.command("apply")
@click.argument("plan_id", type=int)
@as_option
@command
def apply(plan_id: int, as_user) -> None:
    """Resume after a failure: run again only the batches that failed."""
    bulk_svc.bulk_resume(acting(as_user), plan_id=plan_id)
    console.print(f"plan #{plan_id}: failed batches started again", highlight=False)


@bulk.command("watch")
@click.argument("plan_id", type=int)
@click.option("--timeout", default=3600, type=click.IntRange(1, 86400), help="Seconds to wait at most.")
@as_option
@command
def watch(plan_id: int, timeout: int, as_user) -> None:
    """Progress bars until every row is done or failed (exit 1 if any failed or the timeout passed first)."""
    a = acting(as_user)
    deadline = time.monotonic() + timeout
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}")) as bar:
        view = bulk_svc.bulk_show(a, plan_id, rows_limit=1)
        total = sum(view.plan.counts.get(a, 0) for a in bulk_svc.WORK)
        done_t = bar.add_task("done", total=total)
        failed_t = bar.add_task("failed", total=total)
        while True:
            view = bulk_svc.bulk_show(a, plan_id, rows_limit=1)
            done, failed = view.progress.get("done", 0), view.progress.get("failed", 0)
            bar.update(done_t, completed=done)
            bar.update(failed_t, completed=failed)
            if done + failed >= total or time.monotonic() > deadline:
                break
            time.sleep(1)
    if failed:
        console.print(f"{failed} row(s) failed: `govhost bulk report {plan_id}`, then `govhost bulk apply {plan_id}`")
        sys.exit(1)
    if done < total:  # the timeout passed with work under way: not a success
        console.print(f"{total - done} row(s) still running after {timeout} s: `govhost bulk watch {plan_id}` again")
        sys.exit(1)


@bulk.command("report")
@click.argument("plan_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("--out", default=None, metavar="FILE", help="Write here instead of standard output.")
@as_option
@command
def report(plan_id: int, fmt: str, out: str | None, as_user) -> None:
    """Per row: file, line, kind, key, action, status, object id, request, job, error key and message."""
    rows = bulk_svc.bulk_report(acting(as_user), plan_id)
    text = bulk_svc.report_csv(rows) if fmt == "csv" else json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@bulk.command("passwords")
@click.argument("plan_id", type=int)
@click.option("--out", required=True, metavar="FILE", help="A new file, created readable by you only (0600).")
@as_option
@command
def passwords(plan_id: int, out: str, as_user) -> None:
    """The generated passwords of your plan, once."""
    if Path(out).exists():
        raise Invalid("bulk.output_exists", "{path} exists already; choose a new file.", path=out)
    _plan, taken = bulk_svc.bulk_passwords_take(acting(as_user), plan_id=plan_id)
    _write_private(out, "".join(f"{k},{v}\n" for k, v in sorted(taken.items())))
    console.print(f"{len(taken)} password(s) written to {out}", highlight=False, markup=False)


@bulk.command("template")
@click.argument("kind")
@command
def template(kind: str) -> None:
    """The CSV template of KIND (sites, mailboxes, aliases, dns_records ...)."""
    click.echo(bulk_svc.bulk_template(kind), nl=False)


@bulk.command("schema")
@command
def schema() -> None:
    """The JSON Schema of the hierarchical YAML/JSON file."""
    click.echo(json.dumps(bulk_svc.bulk_json_schema(), indent=1))
