"""`govhost lab ...`: the lab's own commands (provisioners.lab.cli) plus `demo`, which starts the demo
host and registers it in the panel with its key pinned, and with --pebble starts the demo's ACME
server. The quick start runs it through `govhost demo up`."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import click
from rich.markup import escape

from panel.cli.common import cli_actor, command, console, settings_from
from panel.errors import PanelError
from panel.services import hosts as hosts_svc
from panel.services import providers
from provisioners.lab import cli as lab_cli

lab = click.Group("lab", commands=dict(lab_cli.lab.commands), help=lab_cli.lab.help)


def _lab_keys(lab_dir: str) -> list[tuple[str, str]]:
    """The lab image's own host keys, from the known_hosts file the lab writes when it starts hosts."""
    path = Path(lab_dir, lab_cli.ssh.known_hosts_path().name)
    if not path.exists():
        return []
    keys = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == lab_cli.HOSTS_PATTERN:
            keys.append((parts[1], parts[2]))
    return keys


@lab.command("demo")
@click.option("--address", default=None, help="Lab address of the demo host (default: lab.demo_address).")
@click.option("--probe/--no-probe", default=True, show_default=True, help="Probe it afterwards (facts).")
@click.option(
    "--pebble/--no-pebble",
    default=False,
    show_default=True,
    help="Also run Pebble as the ACME server of sites.acme_directory (state beside sites.acme_ca_bundle).",
)
@command
def demo(address: str | None, probe: bool, pebble: bool) -> None:
    """Build or reuse the lab, start the demo host (lab.demo_host) and register it. Idempotent."""
    ctx = click.get_current_context()
    settings = settings_from(ctx)
    name = settings.lab.demo_host
    address = address or settings.lab.demo_address
    if not name or not address:
        raise click.UsageError("lab.demo_host or lab.demo_address is empty in the configuration: no demo host")
    os.environ["GOVHOST_LAB_DIR"] = settings.lab.dir  # the lab tool reads its folder from here
    actor = cli_actor()
    try:
        host = hosts_svc.host_demo_ensure(actor, name=name, address=address, trusted_keys=_lab_keys(settings.lab.dir))
    except PanelError as err:
        if err.key not in ("host.unreachable", "host.demo_untrusted"):
            raise
        ctx.invoke(lab_cli.build_cmd, force=False)
        ctx.invoke(lab_cli.up_cmd, specs=(f"{name}={address}",), fresh=False)
        host = hosts_svc.host_demo_ensure(actor, name=name, address=address, trusted_keys=_lab_keys(settings.lab.dir))
    console.print(
        f"demo host [bold]{host.name}[/] {host.address} roles {','.join(sorted(host.roles))}, state {host.state.value}"
    )
    console.print(f"pinned {host.host_key_type} key {host.fingerprint}", markup=False)
    if probe:
        result = hosts_svc.host_probe(actor, host.id)
        if result.ok:
            console.print("probe ok: " + escape(result.facts.get("os_release", {}).get("PRETTY_NAME", "")))
        else:
            console.print(
                "[yellow]probe failed[/]: "
                + escape(result.error)
                + escape(
                    f" (is ansible.ssh_key = {settings.ansible.ssh_key} the lab key {settings.lab.dir}/lab_ed25519?)"
                )
            )
    if pebble:
        _pebble(ctx, address)


def _pebble(ctx: click.Context, dns_address: str) -> None:
    """Pebble where the ACME server that an enabled capability offers points (provider
    `sites.acme_server`: the lab gateway), its files beside that server's CA bundle."""
    acme = providers.call("sites.acme_server")
    url = urllib.parse.urlsplit(acme["directory"])
    if url.scheme != "https" or not url.port or not acme["ca_bundle"]:
        raise click.UsageError("--pebble needs sites.acme_directory (https://GATEWAY:PORT/dir) and acme_ca_bundle")
    ctx.invoke(
        lab_cli.pebble_cmd,
        state_dir=str(Path(acme["ca_bundle"]).parent),
        port=url.port,
        mgmt_port=url.port + 1000,
        dns_server=dns_address,
        stop=False,
    )
