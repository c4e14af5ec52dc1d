"""`govhost jobs list|show|watch|cancel|retry|run` and `govhost worker`."""

from __future__ import annotations

import sys
import time

import click
from rich.live import Live
from rich.table import Table

from panel.cli.common import cli_actor, command, console, print_page, settings_from
from panel.services import hosts as hosts_svc
from panel.services import jobs as jobs_svc
from panel.services import worker as worker_svc

FINAL_STYLE = {"successful": "green", "failed": "red", "error": "red", "canceled": "yellow"}
EVENT_STYLE = {"ok": "green", "changed": "yellow", "failed": "red", "unreachable": "red", "skipped": "dim"}


@click.group()
def jobs() -> None:
    """Background jobs (Ansible runs) and their progress."""


@jobs.command("list")
@click.option("--status", default=None, help="Only jobs in this status.")
@click.option("--page", default=1, show_default=True)
@command
def list_(status: str | None, page: int) -> None:
    """Newest jobs first."""
    actor = cli_actor()
    result = jobs_svc.job_list(actor, page=page, per_page=50, status=status)
    table = Table("id", "kind", "status", "hosts", "org", "created", "explanation")
    for job in result.items:
        d = jobs_svc.job_public(actor, job)
        table.add_row(
            str(d["id"]),
            d["kind"],
            d["status"],
            ", ".join(d["hosts"]),
            str(d["org_id"] or "-"),
            d["created_at"][:19],
            (d["explanation"] or "")[:60],
        )
    print_page(table, result, "jobs")


@jobs.command()
@click.argument("job_id", type=int)
@command
def show(job_id: int) -> None:
    """One job with its outcome and events."""
    actor = cli_actor()
    progress = jobs_svc.job_events(actor, job_id)
    _print_job(progress.job)
    console.print(_events_table(progress.events))


def _print_job(d: dict) -> None:
    style = FINAL_STYLE.get(d["status"], "cyan")
    console.print(f"job {d['id']} [bold]{d['kind']}[/] on {', '.join(d['hosts']) or '-'}: [{style}]{d['status']}[/]")
    for key in ("explanation", "traceback"):
        if d.get(key):
            console.print(f"{key}: {d[key]}", markup=False, highlight=False)


def _events_table(events: list[dict]) -> Table:
    table = Table("#", "host", "task", "status")
    for e in events:
        if e["status"]:
            style = EVENT_STYLE.get(e["status"], "")
            table.add_row(str(e["counter"]), e["host"], e["task"], f"[{style}]{e['status']}[/]")
    return table


@jobs.command()
@click.argument("job_id", type=int)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between polls.")
@command
def watch(job_id: int, interval: float) -> None:
    """Follow a job live until it ends; exit status 0 only if it succeeded."""
    actor = cli_actor()
    after, events = 0, []
    progress = jobs_svc.job_events(actor, job_id)
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            events += progress.events
            after = progress.last_counter
            live.update(_live_view(progress.job, events))
            if progress.job["finished"]:
                break
            time.sleep(max(0.2, interval))
            progress = jobs_svc.job_events(actor, job_id, after_counter=after)
    console.print()
    _print_job(progress.job)
    sys.exit(0 if progress.job["status"] == "successful" else 1)


def _live_view(job: dict, events: list[dict]) -> Table:
    done = [e for e in events if e["status"]]
    counts = {s: sum(1 for e in done if e["status"] == s) for s in EVENT_STYLE}
    current = next((e["task"] for e in reversed(events) if e["event"] == "playbook_on_task_start"), "")
    title = (
        f"job {job['id']} {job['kind']} [{FINAL_STYLE.get(job['status'], 'cyan')}]{job['status']}[/] "
        + " ".join(f"{k}={v}" for k, v in counts.items() if v)
        + (f" · {current}" if current else "")
    )
    table = _events_table(events[-15:])
    table.title = title
    return table


@jobs.command()
@click.argument("job_id", type=int)
@command
def cancel(job_id: int) -> None:
    """Cancel a pending job now, or stop a running one."""
    job = jobs_svc.job_cancel(cli_actor(), job_id)
    console.print(f"job {job.id}: {'cancel requested' if job.status.value == 'running' else job.status.value}")


@jobs.command()
@click.argument("job_id", type=int)
@command
def retry(job_id: int) -> None:
    """Run a failed, errored or canceled job again as a new job."""
    job = jobs_svc.job_retry(cli_actor(), job_id)
    console.print(f"job {job.id} queued (retry of {job.retry_of_id})")


@jobs.command()
@click.argument("kind")
@click.option("--host", "hosts", multiple=True, help="Host name (repeat for several).")
@command
def run(kind: str, hosts: tuple[str, ...]) -> None:
    """Start a data-center job such as host.ping or host.bootstrap on hosts (core.noop needs none)."""
    actor = cli_actor()
    host_ids = [hosts_svc.host_find(actor, name).id for name in hosts]
    job = jobs_svc.job_submit(actor, kind=kind, org_id=None, host_ids=host_ids, params={})
    console.print(f"job {job.id} queued: govhost jobs watch {job.id}")


@jobs.command("workers")
@command
def workers_(limit: int = 200) -> None:
    """The worker registry: hostname, pid, version, last heartbeat, state."""
    table = Table("id", "hostname", "pid", "version", "started", "heartbeat", "state")
    for w in jobs_svc.worker_list(cli_actor()):
        style = {"alive": "green", "gone": "red"}.get(w["state"], "yellow")
        table.add_row(w["id"], w["hostname"], str(w["pid"]), w["version"], w["started_at"][:19],
                      w["heartbeat_at"][:19], f"[{style}]{w['state']}[/]")  # fmt: skip
    console.print(table)


@jobs.command("worker-drain")
@click.argument("worker_id")
@click.option("--undo", is_flag=True, help="Lift the drain: the worker takes jobs again.")
@command
def worker_drain(worker_id: str, undo: bool) -> None:
    """Drain WORKER_ID (see `jobs workers`): it finishes its running jobs and takes no new ones."""
    w = jobs_svc.worker_drain(cli_actor(), worker_id, drain=not undo)
    console.print(f"{w.id}: " + ("takes jobs again" if undo else "draining (finishes its jobs, takes no new ones)"))


@click.command()
@click.option("--workers", type=int, default=None, help="Worker threads (default: queue.workers).")
@click.pass_context
def worker(ctx: click.Context, workers: int | None) -> None:
    """Run the job worker: reap jobs of dead workers, then run queued jobs until stopped."""
    settings = settings_from(ctx)
    worker_svc.worker_run(settings, workers)
