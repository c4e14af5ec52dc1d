"""`govhost quotas show|set`: a ministry's budget and its limits."""

from __future__ import annotations

import click
from rich.table import Table

from panel.cli.common import command, console
from panel.cli.requests import acting, as_option
from panel.services import quotas as quotas_svc
from panel.services import users as users_svc


@click.group()
def quotas() -> None:
    """Quota budgets of ministries."""


@quotas.command("show")
@click.argument("org", metavar="SLUG|ID")
@click.option("--history", is_flag=True, help="Also list the latest limit changes.")
@as_option
@command
def show(org: str, history: bool, as_user) -> None:
    a = acting(as_user)
    org_id = users_svc.org_ref(a, org).id
    table = Table("resource", "used", "limit")
    for row in quotas_svc.quota_usage(a, org_id):
        table.add_row(row.resource, str(row.used), str(row.limit))
    console.print(table)
    if history:
        for h in quotas_svc.quota_history(a, org_id, per_page=50).items:
            console.print(
                f"{h.created_at:%Y-%m-%d %H:%M} {h.resource} {h.old} -> {h.new} asked by {h.requested_by}"
                f", approved by {h.approved_by}" + (f" (request #{h.request_id})" if h.request_id else ""),
                highlight=False,
            )


@quotas.command("set")
@click.argument("org", metavar="SLUG|ID")
@click.argument("resource")  # the enabled capabilities' resources: checked by the service
@click.argument("limit", type=click.IntRange(min=0))
@click.option("--reason", default="")
@as_option
@command
def set_(org: str, resource: str, limit: int, reason: str, as_user) -> None:
    a = acting(as_user)
    change = quotas_svc.quota_set(a, org_id=users_svc.org_ref(a, org).id, resource=resource, limit=limit, reason=reason)
    console.print(f"{resource}: {change.old} -> {change.new}", highlight=False)
