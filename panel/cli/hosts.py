"""`govhost hosts register|list|show|probe|set-state|set|roles|rekey|delete`: the host inventory."""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table

from panel.cli.common import cli_actor, command, console, err_console, print_page
from panel.models.hosts import HostState
from panel.services import drain as drain_svc
from panel.services import hosts as hosts_svc

# Roles and capacities are what the enabled capabilities declare (`govhost hosts capacities`).
_CAPACITY_HELP = "RESOURCE=N: the most of RESOURCE this host holds (see `govhost hosts roles`); repeatable."


def _capacities(pairs) -> str | None:
    return ",".join(pairs) if pairs else None


@click.group()
def hosts() -> None:
    """Managed hosts and their pinned SSH host keys."""


@hosts.command("register")
@click.argument("name")
@click.argument("address")
@click.option("--port", default=None, type=int, help="Port (default 22 for SSH, 5986 for WinRM).")
@click.option("--user", "ssh_user", default="root", show_default=True, help="SSH user.")
@click.option("--os", "os_", default="linux", show_default=True, help="linux or windows.")
@click.option("--roles", default="", help="Comma-separated roles (see `govhost hosts roles`).")
@click.option("--capacity", "capacity", multiple=True, help=_CAPACITY_HELP + " Not given: the declared default.")
@click.option("--fingerprint", default=None, help="Refuse any key but this one (SHA256:... from the console).")
@click.option("--transport", default="ssh", show_default=True, help="ssh, or winrm (HTTPS, Windows Server 2019).")
@click.option("--winrm-auth", default="", help="WinRM: certificate or kerberos.")
@click.option("--winrm-cert", type=click.File("r"), default=None, help="WinRM: client certificate PEM file.")
@click.option("--winrm-key", type=click.File("r"), default=None, help="WinRM: its private key PEM file.")
@click.option("--winrm-user", default="", help="WinRM Kerberos account, user@REALM.")
@click.option(
    "--winrm-password-file", type=click.File("r"), default=None, help="WinRM Kerberos: a file holding the password."
)
@command
def register(name, address, port, ssh_user, os_, roles, capacity, fingerprint, transport, **winrm_opts):
    """Register NAME at ADDRESS: read its SSH host key and pin it (WinRM: no key; HTTPS checked by the CA)."""
    winrm = _winrm(**winrm_opts)
    host = hosts_svc.host_register(
        cli_actor(),
        name=name,
        address=address,
        port=port,
        os=os_,
        roles=roles,
        capacities=_capacities(capacity),
        ssh_user=ssh_user,
        fingerprint=fingerprint,
        transport=transport,
        winrm=winrm,
    )
    console.print(f"registered [bold]{host.name}[/] ({host.address}:{host.port}) id {host.id}")
    if host.transport.value == "winrm":
        console.print(f"reached over WinRM/HTTPS ({host.winrm_auth}); no SSH key to pin", markup=False)
    else:
        console.print(f"pinned {host.host_key_type} key {host.fingerprint}", markup=False)


def _winrm(winrm_auth, winrm_cert, winrm_key, winrm_user, winrm_password_file) -> dict | None:
    """The WinRM options given (secrets from files, never on the command line), or None."""
    given = {
        "auth": winrm_auth,
        "cert_pem": winrm_cert.read() if winrm_cert else "",
        "key_pem": winrm_key.read() if winrm_key else "",
        "user": winrm_user,
        "password": winrm_password_file.read().rstrip("\r\n") if winrm_password_file else "",
    }
    return given if any(given.values()) else None


@hosts.command("list")
@click.option("--role", default=None, help="Only hosts with this role.")
@click.option("--state", default=None, help="active, draining, maintenance or down.")
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
    print_page(table, result, "hosts")


def _show(host) -> None:
    rows = [
        ("name", host.name),
        ("address", f"{host.address}:{host.port}"),
        ("ssh user", host.ssh_user),
        ("os", host.os.value),
        ("roles", ",".join(sorted(host.roles))),
        ("state", host.state.value),
        ("capacity", ", ".join(f"{c.resource} {hosts_svc.capacity(host, c.resource)}" for c in hosts_svc.capacities())),
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
    """Set NAME active, draining, maintenance (its jobs wait) or down (jobs refused)."""
    a = cli_actor()
    host = hosts_svc.host_update(a, hosts_svc.host_find(a, name).id, state=state)
    console.print(f"{host.name} is {host.state.value}")


@hosts.command("set")
@click.argument("name")
@click.option("--roles", default=None, help="Comma-separated roles (replaces the roles).")
@click.option("--capacity", "capacity", multiple=True, help=_CAPACITY_HELP)
@command
def set_(name, roles, capacity):
    """Change roles or capacities of NAME."""
    a = cli_actor()
    host = hosts_svc.host_update(a, hosts_svc.host_find(a, name).id, roles=roles, capacities=_capacities(capacity))
    _show(host)


@hosts.command("roles")
@command
def roles_():
    """The host roles and capacities the enabled capabilities declare, with their defaults."""
    table = Table("role", "label", "capacities (default)")
    for r in hosts_svc.roles():
        caps = [f"{c.resource} ({c.default})" for c in hosts_svc.capacities() if c.role == r.name]
        table.add_row(r.name, r.label, ", ".join(caps) or "-")
    for c in hosts_svc.capacities():
        if c.role not in hosts_svc.ROLES:
            table.add_row("-", "", f"{c.resource} ({c.default})")
    console.print(table)


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


@hosts.command("drain")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Plan only: where each object would go; nothing changes.")
@click.option("--limit", type=int, default=200, show_default=True, help="Most objects moved by this call (1-1000).")
@command
def drain(name, dry_run, limit):
    """Set NAME draining and move what it holds (sites, mail domains) to other hosts, one move job each."""
    a = cli_actor()
    report = drain_svc.host_drain(a, hosts_svc.host_find(a, name).id, dry_run=dry_run, limit=limit)
    table = Table("kind", "id", "name", "to", "move", "stays because")
    for i in report.items:
        table.add_row(i.kind, str(i.id), escape(i.name), escape(i.to_host), str(i.move_id or "-"), escape(i.error))
    console.print(table)
    what = "would move" if dry_run else "moving"
    console.print(
        escape(f"{report.host} is {report.state}: {what} {report.moving}, {len(report.items) - report.moving} stay")
        + (f", {report.left} left for the next call" if report.left else "")
    )
