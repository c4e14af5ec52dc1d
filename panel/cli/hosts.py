"""`govhost hosts register|list|show|probe|set-state|rekey|delete`: the host inventory."""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table

from panel.cli.common import cli_actor, command, console, err_console
from panel.models.hosts import HostRole, HostState
from panel.services import hosts as hosts_svc

_ROLES = ", ".join(r.value for r in HostRole)


@click.group()
def hosts() -> None:
    """Managed hosts and their pinned SSH host keys."""


@hosts.command("register")
@click.argument("name")
@click.argument("address")
@click.option("--port", default=22, show_default=True, type=int, help="SSH port.")
@click.option("--user", "ssh_user", default="root", show_default=True, help="SSH user.")
@click.option("--os", "os_", default="linux", show_default=True, help="linux or windows.")
@click.option("--roles", default="", help=f"Comma-separated: {_ROLES}.")
@click.option("--max-sites", default=100, show_default=True, type=int)
@click.option("--max-mailboxes", default=1000, show_default=True, type=int)
@click.option("--max-databases", default=100, show_default=True, type=int)
@click.option("--fingerprint", default=None, help="Refuse any key but this one (SHA256:... from the console).")
@command
def register(name, address, port, ssh_user, os_, roles, max_sites, max_mailboxes, max_databases, fingerprint):
    """Register NAME at ADDRESS: read its SSH host key and pin it."""
    host = hosts_svc.host_register(
        cli_actor(),
        name=name,
        address=address,
        port=port,
        os=os_,
        roles=roles,
        max_sites=max_sites,
        max_mailboxes=max_mailboxes,
        max_databases=max_databases,
        ssh_user=ssh_user,
        fingerprint=fingerprint,
    )
    console.print(f"registered [bold]{host.name}[/] ({host.address}:{host.port}) id {host.id}")
    console.print(f"pinned {host.host_key_type} key {host.fingerprint}", markup=False)


@hosts.command("list")
@click.option("--role", default=None, help=f"Only hosts with this role ({_ROLES}).")
@click.option("--state", default=None, help="active, draining or down.")
@click.option("--page", default=1, show_default=True, type=int)
@command
def list_(role, state, page):
    """List hosts."""
    result = hosts_svc.host_list(cli_actor(), page=page, per_page=50, role=role, state=state)
    table = Table("id", "name", "address", "roles", "state", "fingerprint", "last probe")
    for h in result.items:
        probe = (
            "-"
            if h.last_probe_at is None
            else f"{h.last_probe_at:%Y-%m-%d %H:%M} " + ("ok" if h.last_probe_ok else "FAILED")
        )
        table.add_row(
            str(h.id),
            h.name,
            f"{h.address}:{h.port}",
            ",".join(sorted(h.roles)),
            h.state.value + (" (key changed)" if h.key_mismatch_at else ""),
            h.fingerprint,
            probe,
        )
    console.print(table)
    console.print(f"page {result.page} of {result.pages}, {result.total} hosts")


def _show(host) -> None:
    rows = [
        ("name", host.name),
        ("address", f"{host.address}:{host.port}"),
        ("ssh user", host.ssh_user),
        ("os", host.os.value),
        ("roles", ",".join(sorted(host.roles))),
        ("state", host.state.value),
        ("capacity", f"sites {host.max_sites}, mailboxes {host.max_mailboxes}, databases {host.max_databases}"),
        ("host key", f"{host.host_key_type} {host.fingerprint}"),
        ("key changed", str(host.key_mismatch_at or "-")),
        ("last probe", f"{host.last_probe_at or '-'} ok={host.last_probe_ok}"),
    ]
    rows += [(f"fact {k}", str(v)) for k, v in sorted((host.facts or {}).items())]
    for label, value in rows:
        console.print(f"{label:>14}: {value}", markup=False, highlight=False)


@hosts.command("show")
@click.argument("name")
@command
def show(name):
    """Show one host, its pinned key and its facts."""
    _show(hosts_svc.host_find(cli_actor(), name))


@hosts.command("probe")
@click.argument("name")
@command
def probe(name):
    """Probe NAME with its pinned key (exit 2 if refused or unreachable)."""
    a = cli_actor()
    result = hosts_svc.host_probe(a, hosts_svc.host_find(a, name).id)
    if result.ok:
        facts = result.facts
        console.print(
            "[green]ok[/] "
            + escape(
                f"{name}: {facts.get('os_release', {}).get('PRETTY_NAME', '')}, "
                f"kernel {facts.get('kernel', '')}, "
                f"php {','.join(facts.get('php_versions', [])) or '-'}"
            )
        )
        return
    if result.reachable and result.key_matches is False:
        err_console.print(
            "[red]REFUSED[/] "
            + escape(
                f"[host.key_changed]: {name} presented another host key "
                f"{result.presented_fingerprint}; it is marked down and the event is recorded."
            )
        )
    else:
        err_console.print("[red]probe failed[/] " + escape(f"[host.unreachable]: {result.error}"))
    sys.exit(2)


@hosts.command("set-state")
@click.argument("name")
@click.argument("state", type=click.Choice([s.value for s in HostState]))
@command
def set_state(name, state):
    """Set NAME active, draining or down."""
    a = cli_actor()
    host = hosts_svc.host_update(a, hosts_svc.host_find(a, name).id, state=state)
    console.print(f"{host.name} is {host.state.value}")


@hosts.command("set")
@click.argument("name")
@click.option("--roles", default=None, help=f"Comma-separated: {_ROLES} (replaces the roles).")
@click.option("--max-sites", type=int, default=None)
@click.option("--max-mailboxes", type=int, default=None)
@click.option("--max-databases", type=int, default=None)
@command
def set_(name, roles, max_sites, max_mailboxes, max_databases):
    """Change roles or capacity of NAME."""
    a = cli_actor()
    host = hosts_svc.host_update(
        a,
        hosts_svc.host_find(a, name).id,
        roles=roles,
        max_sites=max_sites,
        max_mailboxes=max_mailboxes,
        max_databases=max_databases,
    )
    _show(host)


@hosts.command("rekey")
@click.argument("name")
@click.option("--fingerprint", default=None, help="The fingerprint the rebuilt host shows on its console.")
@command
def rekey(name, fingerprint):
    """Pin the key NAME presents now (admin; only after verifying a rebuild)."""
    a = cli_actor()
    host = hosts_svc.host_rekey(a, hosts_svc.host_find(a, name).id, fingerprint=fingerprint)
    console.print(
        f"pinned {host.host_key_type} key {host.fingerprint} for {host.name}; state {host.state.value}", markup=False
    )


@hosts.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Remove this host from the inventory?")
@command
def delete(name):
    """Remove NAME from the inventory (refused while objects live on it)."""
    a = cli_actor()
    host = hosts_svc.host_delete(a, hosts_svc.host_find(a, name).id)
    console.print(f"removed {host.name}")
