"""`lab ...` commands (mounted by the panel as `govhost lab ...`). Thin: parse, call, print."""

from __future__ import annotations

import functools
import os
import sys
import time

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import addresses, hosts, net, pebble, ssh
from .build import build as build_rootfs
from .common import HOSTS_PATTERN as HOSTS_PATTERN  # re-exported: the panel's `govhost lab` reaches the lab here
from .common import LabError, lab_paths

console = Console()


def _lab_errors(fn):
    """LabError -> red message + exit 2, like every other govhost CLI error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LabError as exc:
            console.print(f"[red]lab: {escape(str(exc))}[/red]")
            sys.exit(2)

    return wrapper


@click.group()
def lab() -> None:
    """Real Debian hosts in network namespaces on 10.77.0.0/24, bridge lab0 (GOVHOST_LAB_NET picks another /24)."""


@lab.command("build")
@click.option("--force", is_flag=True, help="Rebuild even if the cached tarball exists.")
@_lab_errors
def build_cmd(force: bool) -> None:
    """Build (or reuse) the rootfs tarball."""
    start = time.monotonic()
    path = build_rootfs(force=force, log=console.print)
    console.print(f"[green]{path}[/green] ({path.stat().st_size / 2**20:.0f} MiB, {time.monotonic() - start:.1f} s)")


@lab.command("net-up")
@_lab_errors
def net_up_cmd() -> None:
    """Install the routing guard, then the lab bridge (lab0)."""
    net.net_up()
    console.print(f"[green]guard + {net.BRIDGE} up[/green] ({net.GATEWAY}/{net.SUBNET.prefixlen})")


@lab.command("net-down")
@click.option("--remove-guard", is_flag=True, help="Also remove the routing guard.")
@_lab_errors
def net_down_cmd(remove_guard: bool) -> None:
    """Stop EVERY host of the block (shared machine: others' too) and remove its bridge; the guard stays."""
    stopped = hosts.lab_net_down(remove_guard=remove_guard)
    console.print(f"stopped: {', '.join(stopped) or 'nothing'}")
    console.print(f"{net.BRIDGE} removed" + (" and guard removed" if remove_guard else "; guard kept"))


@lab.command("up")
@click.argument("specs", nargs=-1)
@click.option("-n", "--count", default=1, show_default=True, help="Without names: start web1..webN.")
@click.option("--fresh", is_flag=True, help="Drop the hosts' disks first (pristine).")
@click.option(
    "--net/--no-net", "net_", default=True, show_default=True, help="Bring the guard and lab0 up first if missing."
)
@_lab_errors
def up_cmd(specs: tuple[str, ...], count: int, fresh: bool, net_: bool) -> None:
    """Start hosts: NAME or NAME=ADDRESS in the lab block (default web1..webN)."""
    if net_ and not net.net_ready():
        net.net_up()
    start = time.monotonic()
    started = hosts.hosts_up(specs or addresses.default_names(count), fresh=fresh, log=console.print)
    for h in started:
        console.print(f"[green]{h.name}[/green] {h.ip} pid {h.pid}")
    console.print(f"ready in {time.monotonic() - start:.2f} s")


@lab.command("down")
@click.argument("names", nargs=-1)
@click.option("--forget", is_flag=True, help="Also drop disks and addresses.")
@_lab_errors
def down_cmd(names: tuple[str, ...], forget: bool) -> None:
    """Stop hosts (all when no NAMES); no waiting for the kernel's teardown."""
    stopped = hosts.hosts_down(names or None, forget=forget)
    console.print(f"stopped: {', '.join(stopped) or 'nothing'}")


@lab.command("reset")
@click.argument("name")
@_lab_errors
def reset_cmd(name: str) -> None:
    """Pristine again: kill, drop the disk, start, wait for ssh."""
    start = time.monotonic()
    host = hosts.host_reset(name)
    console.print(f"[green]{host.name}[/green] reset in {time.monotonic() - start:.2f} s")


@lab.command("status")
@_lab_errors
def status_cmd() -> None:
    """Network guard, bridge, and every known host."""
    guard = "[green]yes[/green]" if net.guard_present() else "[red]NO[/red]"
    bridge = "[green]up[/green]" if net.bridge_present() else "[red]down/missing[/red]"
    console.print(
        f"block: {net.SUBNET}   guard: {guard}   {net.BRIDGE}: {bridge}   disks: {lab_paths().hosts}/NAME/upper"
    )
    table = Table("host", "address", "PID 1", "ssh")
    for h in addresses.known_hosts():
        ssh_ok = h.pid is not None and h.ip != "?" and net.port_open(h.ip, 22, 0.3)
        table.add_row(h.name, h.ip, str(h.pid or "-"), "[green]open[/green]" if ssh_ok else "[dim]-[/dim]")
    console.print(table)


@lab.command("pebble")
@click.option("--dir", "state_dir", required=True, help="Folder for its config, certificates, log and PID.")
@click.option("--port", default=14000, show_default=True, help="ACME directory port on the lab gateway.")
@click.option("--mgmt-port", default=15000, show_default=True, help="Management port (root CA download).")
@click.option("--dns", "dns_server", required=True, help="Lab host whose BIND resolves the names to validate.")
@click.option("--stop", is_flag=True, help="Stop the Pebble started from --dir instead.")
@_lab_errors
def pebble_cmd(state_dir: str, port: int, mgmt_port: int, dns_server: str, stop: bool) -> None:
    """Run Pebble (a local ACME server) on the lab gateway as a CA for lab sites. Idempotent."""
    if stop:
        console.print("pebble stopped" if pebble.pebble_down(state_dir) else "pebble was not running")
        return
    p = pebble.pebble_up(state_dir, port=port, mgmt_port=mgmt_port, dns_server=dns_server)
    console.print(f"pebble {'started' if p.started else 'running'} (pid {p.pid}): {p.directory}; root CA {p.roots}")


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@_lab_errors
def exec_cmd(name: str, cmd: tuple[str, ...]) -> None:
    """Run CMD inside host NAME via nsenter (a login shell without CMD)."""
    argv = hosts.host_exec_argv(name, *cmd)
    os.execvp(argv[0], argv)  # noqa: S606 - replace the CLI with nsenter/ssh: the user's terminal


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
@_lab_errors
def ssh_cmd(name: str, cmd: tuple[str, ...]) -> None:
    """ssh root@NAME with the lab key, bound to the lab gateway address (10.77.0.1)."""
    host = hosts.host_get(name)
    net.assert_pinned(host.ip)
    argv = ssh.ssh_command(host.ip, *cmd, strict=False)
    os.execvp(argv[0], argv)  # noqa: S606 - replace the CLI with nsenter/ssh: the user's terminal
