"""`govhost cms catalogue ...`, `govhost cms plugin ...` and `govhost cms update ...`: the catalogue of
plugins and themes, their installs and mass updates (added to the `cms` group by cms.cli)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from panel.capabilities.cms import catalogue, plugins, updates
from panel.cli.common import cli_actor, command, console, print_page
from panel.errors import Invalid
from panel.services import auth as auth_svc

AS = click.option("--as", "as_user", default=None, help="Act as this user (their rights) instead of root's.")


def acting(as_user: str | None):
    return auth_svc.actor_by_username(as_user, surface="cli") if as_user else cli_actor()


@click.group("catalogue")
def catalogue_group() -> None:
    """The data center's catalogue of WordPress plugins and themes (uploads approved four-eyes)."""


@catalogue_group.command("upload")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(catalogue.KINDS), default="plugin", show_default=True)
@click.option("--note", default="", help="What it is for (shown to the approver).")
@AS
@command
def upload(path: Path, kind: str, note: str, as_user: str | None) -> None:
    """Upload a plugin or theme zip; another person must approve it (--as YOU, then --as THEM)."""
    try:
        if path.stat().st_size > catalogue.MAX_ZIP_BYTES:
            raise Invalid("cms.zip_too_large", "The zip is larger than {max} bytes.", max=catalogue.MAX_ZIP_BYTES)
        data = path.read_bytes()
    except OSError as e:
        raise Invalid("cms.zip_unreadable", "Cannot read {path}: {why}.", path=str(path), why=e.strerror) from None
    item = catalogue.catalogue_upload(acting(as_user), kind=kind, data=data, filename=path.name, note=note)
    console.print(
        f"item #{item.id}: {item.kind} {item.slug} {item.version} ({item.name}) "
        f"sha256 {item.sha256} {item.status.value}",
        markup=False,
    )


@catalogue_group.command("approve")
@click.argument("item_id", type=int)
@AS
@command
def approve(item_id: int, as_user: str | None) -> None:
    """Approve an upload (not your own): ministries may install it from then on."""
    item = catalogue.catalogue_approve(acting(as_user), item_id)
    console.print(f"item #{item.id}: {item.slug} {item.version} {item.status.value}", markup=False)


@catalogue_group.command("reject")
@click.argument("item_id", type=int)
@click.option("--reason", required=True)
@AS
@command
def reject(item_id: int, reason: str, as_user: str | None) -> None:
    """Reject an upload (not your own), saying why."""
    item = catalogue.catalogue_reject(acting(as_user), item_id, reason=reason)
    console.print(f"item #{item.id}: {item.slug} {item.version} {item.status.value}", markup=False)


@catalogue_group.command("list")
@click.option("--page", default=1, type=int)
@click.option("--status", default=None, type=click.Choice([s.value for s in catalogue.ItemStatus]))
@click.option("--slug", default=None)
@AS
@command
def list_(page: int, status: str | None, slug: str | None, as_user: str | None) -> None:
    """List the catalogue (ministries see the approved items)."""
    result = catalogue.catalogue_list(acting(as_user), page=page, status=status, slug=slug)
    table = Table("id", "kind", "slug", "version", "status", "uploaded by", "decided by", "sha256")
    for i in result.items:
        table.add_row(
            str(i.id),
            i.kind,
            i.slug,
            i.version,
            i.status.value,
            i.uploaded_by_name,
            i.decided_by_name or "-",
            i.sha256[:16],
        )
    print_page(table, result, "items")


@click.group("plugin")
def plugin_group() -> None:
    """Catalogue plugins and themes on WordPress instances."""


@plugin_group.command("install")
@click.option("--org", "org_id", required=True, type=int, help="Ministry id.")
@click.option("--instance", "instance_id", required=True, type=int)
@click.option("--item", "item_id", required=True, type=int, help="An approved catalogue item's id.")
@click.option("--no-activate", is_flag=True, help="Unpack it only.")
@AS
@command
def install(org_id: int, instance_id: int, item_id: int, no_activate: bool, as_user: str | None) -> None:
    """Install an approved catalogue item on an instance (a request)."""
    req = plugins.plugin_install(
        acting(as_user), org_id=org_id, instance_id=instance_id, item_id=item_id, activate=not no_activate
    )
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)


@plugin_group.command("list")
@click.argument("instance_id", type=int)
@AS
@command
def items(instance_id: int, as_user: str | None) -> None:
    """The catalogue items on an instance, with the versions the host reported."""
    table = Table("kind", "slug", "version", "active", "state", "last error")
    for row in plugins.instance_items(acting(as_user), instance_id):
        table.add_row(
            row.kind, row.slug, row.version or "-", "yes" if row.active else "no", row.state.value, row.last_error[:80]
        )
    console.print(table)


@click.group("update")
def update_group() -> None:
    """Mass updates of catalogue plugins and themes as plans (one approval, per-site results)."""


@update_group.command("plan")
@click.option("--org", "org_id", required=True, type=int, help="Ministry id (the data center's own: every ministry).")
@click.option("--item", "item_id", required=True, type=int, help="The approved catalogue version to move to.")
@click.option("--instance", "instance_ids", type=int, multiple=True, help="Only these instances (repeat).")
@AS
@command
def plan(org_id: int, item_id: int, instance_ids: tuple[int, ...], as_user: str | None) -> None:
    """File a plan: every instance in scope with an older version (or those named) to the item's version."""
    req = updates.update_plan(acting(as_user), org_id=org_id, item_id=item_id, instance_ids=list(instance_ids) or None)
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)
    _plan_table(updates.plan_targets(acting(as_user), req.id))


@update_group.command("show")
@click.argument("request_id", type=int)
@AS
@command
def show_plan(request_id: int, as_user: str | None) -> None:
    """A plan's sites: from which version to which, and what happened to each."""
    _plan_table(updates.plan_targets(acting(as_user), request_id))


def _plan_table(rows) -> None:
    table = Table("site", "from", "to", "status", "now", "detail")
    for r in rows:
        table.add_row(r.fqdn, r.from_version, r.to_version, r.status.value, r.version_after or "-", r.detail[:100])
    console.print(table)


def add_to(group: click.Group) -> None:
    group.add_command(catalogue_group)
    group.add_command(plugin_group)
    group.add_command(update_group)
