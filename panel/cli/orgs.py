"""`govhost orgs ...`: organizations from the panel server (root rights, or a user's with --as)."""

from __future__ import annotations

import click
from rich.table import Table

from panel.cli.common import command, console, print_page
from panel.cli.users import acting, as_option
from panel.services import tenants

KINDS = click.Choice(["datacenter", "ministry", "department"])


@click.group()
def orgs() -> None:
    """Ministries, their departments, and the data center."""


@orgs.command("list")
@click.option("--search", "-q", default="", help="Part of a name or short name.")
@click.option("--page", default=1, type=click.IntRange(1, 10**6))
@as_option
@command
def list_(search: str, page: int, as_user: str | None) -> None:
    """List the organizations you can see."""
    result = tenants.org_list(acting(as_user), page, 50, q=search)
    table = Table("id", "slug", "name", "name (km)", "kind", "parent", "active")
    for o in result.items:
        table.add_row(
            str(o.id), o.slug, o.name, o.name_km, o.kind.value, str(o.parent_id or ""), "yes" if o.is_active else "no"
        )
    print_page(table, result, "organizations")


@orgs.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--name-km", default="")
@click.option("--kind", type=KINDS, default="ministry", show_default=True)
@click.option("--parent", default=None, metavar="SLUG|ID", help="The ministry of a department.")
@as_option
@command
def create(slug: str, name: str, name_km: str, kind: str, parent: str | None, as_user: str | None) -> None:
    """Create an organization (data-center admins)."""
    a = acting(as_user)
    parent_id = tenants.org_find(a, parent).id if parent else None
    org = tenants.org_create(a, slug=slug, name=name, name_km=name_km, kind=kind, parent_id=parent_id)
    console.print(f"created {org.kind.value} {org.slug} (id {org.id})", highlight=False)


@orgs.command("show")
@click.argument("ref", metavar="SLUG|ID")
@as_option
@command
def show(ref: str, as_user: str | None) -> None:
    """An organization and its members."""
    a = acting(as_user)
    org = tenants.org_find(a, ref)
    console.print(f"{org.name} ({org.slug}, id {org.id}) {org.name_km}", highlight=False)
    console.print(
        f"kind {org.kind.value}; parent {org.parent_id or '-'}; {'active' if org.is_active else 'inactive'}",
        highlight=False,
    )
    members = tenants.org_members(a, org.id, 1, 200)
    table = Table("user", "roles")
    for u in members.items:
        table.add_row(u.username, ", ".join(tenants.roles_in(u, org.id)))
    console.print(table)


@orgs.command("update")
@click.argument("ref", metavar="SLUG|ID")
@click.option("--name", default=None)
@click.option("--name-km", default=None)
@click.option("--parent", default=None, metavar="SLUG|ID", help="Move a department to another ministry.")
@as_option
@command
def update(ref: str, name: str | None, name_km: str | None, parent: str | None, as_user: str | None) -> None:
    """Rename an organization, or move a department."""
    a = acting(as_user)
    org = tenants.org_find(a, ref)
    parent_id = tenants.org_find(a, parent).id if parent else None
    org = tenants.org_update(a, id=org.id, name=name, name_km=name_km, parent_id=parent_id)
    console.print(f"saved {org.slug} (id {org.id})", highlight=False)


@orgs.command("deactivate")
@click.argument("ref", metavar="SLUG|ID")
@as_option
@command
def deactivate(ref: str, as_user: str | None) -> None:
    """Deactivate an organization (its departments first)."""
    a = acting(as_user)
    org = tenants.org_deactivate(a, id=tenants.org_find(a, ref).id)
    console.print(f"deactivated {org.slug} (id {org.id})", highlight=False)
