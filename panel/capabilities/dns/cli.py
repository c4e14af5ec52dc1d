"""`govhost dns ...`: zones, records, plan/apply (with --dry-run), claims, suffixes, server setup."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from panel.capabilities.dns import claims
from panel.capabilities.dns import service as svc
from panel.cli.common import command, console, job_wait, print_page
from panel.cli.users import acting, as_option


@click.group()
def dns() -> None:
    """DNS zones and records on govhost's BIND server."""


@dns.command("zones")
@click.option("--page", default=1, show_default=True)
@as_option
@command
def zones(page: int, as_user: str | None) -> None:
    """List zones."""
    result = svc.zone_list(acting(as_user), page=page)
    table = Table("id", "zone", "org", "status", "serial", "applied")
    for z in result.items:
        table.add_row(
            str(z.id),
            z.name,
            str(z.org_id),
            z.status.value,
            str(z.serial),
            z.applied_at.isoformat(timespec="seconds") if z.applied_at else "-",
        )
    print_page(table, result, "zones")


@dns.command("records")
@click.argument("zone")
@click.option("--page", default=1, show_default=True)
@as_option
@command
def records(zone: str, page: int, as_user: str | None) -> None:
    """List the records govhost wants in ZONE (id or name)."""
    z = svc.zone_by_name(acting(as_user), zone)
    result = svc.record_list(acting(as_user), zone_id=z.id, page=page)
    table = Table("id", "name", "type", "ttl", "data", "source", "state", "applied")
    for r in result.items:
        table.add_row(
            str(r.id), r.name, r.rtype, str(r.ttl), r.data, r.source, r.state.value, "yes" if r.applied_at else "no"
        )
    print_page(table, result, "records")


@dns.command("add")
@click.argument("zone")
@click.argument("name")
@click.argument("rtype")
@click.argument("data")
@click.option("--ttl", type=int, default=None)
@as_option
@command
def add(zone: str, name: str, rtype: str, data: str, ttl: int | None, as_user: str | None) -> None:
    """Add a record (sent to BIND by `dns apply`)."""
    z = svc.zone_by_name(acting(as_user), zone)
    r = svc.record_create(acting(as_user), zone_id=z.id, name=name, rtype=rtype, data=data, ttl=ttl)
    console.print(f"record {r.id}: {r.name} {r.ttl} {r.rtype} {r.data}")


@dns.command("delete")
@click.argument("record_id", type=int)
@as_option
@command
def delete(record_id: int, as_user: str | None) -> None:
    """Remove a record (from BIND at the next `dns apply`)."""
    svc.record_delete(acting(as_user), record_id=record_id)
    console.print(f"record {record_id} removed")


def _show(out) -> None:
    for line in out.add:
        console.print(f"[green]+ {line}[/]", highlight=False)
    for line in out.remove:
        console.print(f"[red]- {line}[/]", highlight=False)
    for line in out.unmanaged:
        console.print(f"= {line}  (not made by govhost: kept)", highlight=False)
    console.print(f"{out.zone}: {len(out.add)} to add, {len(out.remove)} to remove, {out.unchanged} unchanged")


@dns.command("plan")
@click.argument("zone")
@click.option("--dry-run", is_flag=True, help="Show only (plan never sends anything).")
@click.option("--force", is_flag=True, help="Also remove records govhost did not make (staff).")
@as_option
@command
def plan(zone: str, dry_run: bool, force: bool, as_user: str | None) -> None:
    """Compare what govhost wants with what BIND serves."""
    z = svc.zone_by_name(acting(as_user), zone)
    _show(svc.dns_plan(acting(as_user), z.id, force=force))


@dns.command("apply")
@click.argument("zone")
@click.option("--dry-run", is_flag=True, help="Show the change without sending it.")
@click.option("--force", is_flag=True, help="Also remove records govhost did not make (staff).")
@click.option("--timeout", default=300, type=click.IntRange(1, 86400), help="Seconds to wait for the job at most.")
@as_option
@command
def apply(zone: str, dry_run: bool, force: bool, timeout: int, as_user: str | None) -> None:
    """Send the change as one signed update by a job (a worker runs it), wait for its end and print
    the outcome: exit 0 if it succeeded, 1 if it failed or is still running at the timeout."""
    a = acting(as_user)
    z = svc.zone_by_name(a, zone)
    if dry_run:
        _show(svc.dns_plan(a, z.id, force=force))
        console.print("dry run: nothing sent")
        return
    job = svc.dns_apply(a, z.id, force=force)
    console.print(f"job {job.id} submitted ({job.kind})", highlight=False)
    d = job_wait(a, job.id, timeout=timeout)
    if not d["finished"]:
        console.print(f"job {job.id} still {d['status']} after {timeout} s: govhost jobs watch {job.id}", markup=False)
        sys.exit(1)
    console.print(f"job {job.id} {d['status']}: {d['explanation'] or '-'}", markup=False, highlight=False)
    sys.exit(0 if d["status"] == "successful" else 1)


@dns.command("claim")
@click.argument("org_id", type=int)
@click.argument("domain")
@as_option
@command
def claim(org_id: int, domain: str, as_user: str | None) -> None:
    """Start a claim on DOMAIN for organization ORG_ID; prints the TXT record to publish."""
    c = claims.claim_create(acting(as_user), org_id=org_id, domain=domain)
    if c.verified_at:
        console.print(f"claim {c.id}: {c.domain} verified ({c.method.value})")
    else:
        console.print(f'claim {c.id}: publish TXT {claims.challenge_name(c.domain)} "{c.token}" then verify')


@dns.command("verify")
@click.argument("claim_id", type=int)
@as_option
@command
def verify(claim_id: int, as_user: str | None) -> None:
    """Check a claim's TXT token."""
    c = claims.claim_verify(acting(as_user), claim_id)
    console.print(f"claim {c.id}: {c.domain} verified")


@dns.command("suffixes")
@click.argument("org_id", type=int)
@click.argument("suffix", nargs=-1)
@click.option("--set", "replace", is_flag=True, help="Replace the list with the given suffixes.")
@as_option
@command
def suffixes(org_id: int, suffix: tuple[str, ...], replace: bool, as_user: str | None) -> None:
    """Show (or with --set replace) the suffixes ORG_ID may claim."""
    rows = (
        claims.suffix_set(acting(as_user), org_id=org_id, suffixes=list(suffix))
        if replace
        else claims.suffix_list(acting(as_user), org_id=org_id)
    )
    for r in rows:
        console.print(r.suffix)


@dns.command("server-setup")
@click.option("--host-id", type=int, default=None, help="Default: settings dns.primary_host.")
@click.option("--secondary", multiple=True, help="IP of a secondary (NOTIFY + AXFR with the key).")
@as_option
@command
def server_setup(host_id: int | None, secondary: tuple[str, ...], as_user: str | None) -> None:
    """Submit the job that installs BIND with govhost's TSIG key (the secret is never printed)."""
    job = svc.dns_server_setup(acting(as_user), host_id=host_id, secondaries=secondary)
    console.print(f"job {job.id} submitted ({job.kind})")
