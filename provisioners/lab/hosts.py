"""Lab hosts: per-host overlayfs + netns + veth + unshare'd PID 1 (/sbin/lab-init) in a chroot.

Everything a host leaves on the machine is named after it (netns lab-NAME, veth v-NAME, mount
<cache>/hosts/NAME/merged), so `stop_host` can clean up after a crash without any state file.
The only state is the address book, which keeps a name's address stable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from . import net, ssh
from .addresses import assign, book_locked, known_hosts, parse_spec
from .build import ensure_base
from .common import (
    BRIDGE,
    GATEWAY,
    SUBNET,
    LabError,
    LabPaths,
    check_name,
    lab_paths,
    mac_for,
    netns_name,
    require_root,
    run,
    veth_name,
)
from .discovery import Host, find_init, mounts_under, netns_pids, pids_rooted_in
from .net import net_lock

# Runs inside the new mount/pid/uts/ipc namespaces, before chroot: the host's own /proc, a
# read-only /sys, a fresh /run, and a private devpts (never the machine's /dev).
_START = r"""set -e
M=$1; hostname "$2"
mount -t proc proc "$M/proc"
mount -t sysfs -o ro sysfs "$M/sys"
mount -t tmpfs -o mode=755 tmpfs "$M/run"
mount -t tmpfs tmpfs "$M/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$M/dev/pts"
ln -sf pts/ptmx "$M/dev/ptmx"
exec chroot "$M" /sbin/lab-init
"""
_UNSHARE = ("unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "--propagation", "private")


# --- start / stop ---------------------------------------------------------------------------


def stop_host(name: str, paths: LabPaths | None = None) -> None:
    """Stop hard and clean everything named after NAME; fine on a half-dead or absent host.
    Does not wait for the kernel's pid-ns teardown (1-2 s): nothing below needs it."""
    require_root()
    paths = paths or lab_paths()
    check_name(name)
    merged = paths.host_dir(name) / "merged"
    with book_locked(paths) as book:
        ip = book.get(name)
    if ip:
        ssh.close_control_sockets(ip, paths)
    for pid in set(netns_pids(name)) | set(pids_rooted_in(merged)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for point in mounts_under(merged):
        if run("umount", point, check=False).returncode != 0:
            run("umount", "-l", point, check=False)
    # veth before netns: `ip netns del` frees the veth asynchronously.
    with net_lock():
        run("ip", "link", "del", veth_name(name), check=False)
        run("ip", "netns", "del", netns_name(name), check=False)
    if ip:
        run("ip", "neigh", "del", ip, "dev", BRIDGE, check=False)


def _drop_disk(hdir: Path) -> None:
    """Throw away the host's writable layer. Renamed first (instant; the dying host may still
    hold the old dirs), deleted in the background so a reset does not wait for rm."""
    trash = [hdir / d for d in ("upper", "work") if (hdir / d).exists()]
    for d in trash:
        d.rename(hdir / f".trash-{d.name}-{time.monotonic_ns()}")
    _empty_trash(hdir, wait=False)


def _empty_trash(hdir: Path, wait: bool) -> None:
    old = [str(p) for p in hdir.glob(".trash-*")]
    if old:  # setsid -f: detached, nothing left for this process to reap
        subprocess.run(
            [*([] if wait else ["setsid", "-f"]), "rm", "-rf", "--one-file-system", *old],
            stdin=subprocess.DEVNULL,
            check=False,
        )


def _prepare_disk(host: Host, base: Path, paths: LabPaths) -> Path:
    hdir = paths.host_dir(host.name)
    upper, work, merged = hdir / "upper", hdir / "work", hdir / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=True)
    # Per-host identity goes into the upper layer, so the shared base stays untouched.
    (upper / "etc").mkdir(exist_ok=True)
    (upper / "etc/hostname").write_text(f"{host.name}\n")
    # The base names 10.77.0.1 lab-gw; a host of another block (GOVHOST_LAB_NET) gets its own gateway.
    base_hosts = [line for line in (base / "etc/hosts").read_text().splitlines() if not line.endswith("lab-gw")]
    hosts = "\n".join(base_hosts) + f"\n{GATEWAY}\tlab-gw\n127.0.1.1\t{host.name}\n{host.ip}\t{host.name}\n"
    (upper / "etc/hosts").write_text(hosts)
    run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base},upperdir={upper},workdir={work}", str(merged))
    return merged


def _plumb(host: Host) -> None:
    """netns + veth with the host's fixed MAC, attached to lab0."""
    ns, veth = host.netns, host.veth
    # Serialized machine-wide: concurrent `ip netns add` (parallel test workers, other blocks) race on
    # the /run/netns bind mount ("Bind /proc/self/ns/net -> /run/netns/X failed").
    with net_lock():
        run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", mac_for(host.ip), "netns", ns)
    run("ip", "link", "set", veth, "master", BRIDGE, "up")
    # Static neighbours both ways (MACs are fixed per address): no ARP round while the new
    # port comes up, so the first SYN is not parked behind a lost ARP's 1 s retry.
    run("ip", "neigh", "replace", host.ip, "lladdr", mac_for(host.ip), "dev", BRIDGE, "nud", "permanent")
    run(
        "ip",
        "-n",
        ns,
        "-batch",
        "-",
        input=(
            "link set lo up\n"
            f"addr add {host.ip}/{SUBNET.prefixlen} dev eth0\n"
            "link set eth0 up\n"
            f"neigh replace {GATEWAY} lladdr {mac_for(GATEWAY)} dev eth0 nud permanent\n"
        ),
    )


def _launch(host: Host, merged: Path, paths: LabPaths) -> None:
    """Start PID 1 detached (setsid -f): the host outlives the command that started it."""
    console = paths.host_dir(host.name) / "console.log"
    with open(console, "w") as log:
        subprocess.run(
            [
                "setsid",
                "-f",
                "ip",
                "netns",
                "exec",
                host.netns,
                *_UNSHARE,
                "sh",
                "-c",
                _START,
                "lab-start",
                str(merged),
                host.name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            check=True,
        )


def start_host(host: Host, base: Path, paths: LabPaths, fresh: bool = False) -> None:
    """Clean any leftovers of the name, then bring the host up (does not wait for sshd)."""
    net.require_net()
    stop_host(host.name, paths)
    hdir = paths.host_dir(host.name)
    if fresh:
        _drop_disk(hdir)
    else:
        shutil.rmtree(hdir / "work", ignore_errors=True)  # overlay wants a clean workdir
    merged = _prepare_disk(host, base, paths)
    _plumb(host)
    _launch(host, merged, paths)


def wait_ready(host: Host, paths: LabPaths, timeout: float = 30.0) -> None:
    try:
        net.wait_port(host.ip, 22, timeout)
    except LabError as exc:
        console = paths.host_dir(host.name) / "console.log"
        tail = console.read_text()[-400:] if console.exists() else ""
        raise LabError(f"host {host.name} ({host.ip}): {exc}; console: {tail!r}") from None


# --- public use cases -----------------------------------------------------------------------


def hosts_up(
    specs: Iterable[str], paths: LabPaths | None = None, fresh: bool = False, timeout: float = 60.0, log=print
) -> list[Host]:
    """Start hosts (`name` or `name=<lab address>`) and wait until ssh answers on each."""
    specs = list(specs)
    for spec in specs:  # bad names/addresses are refused before anything is touched
        parse_spec(spec)
    require_root()
    paths = paths or lab_paths()
    net.require_net()
    hosts = assign(specs, paths)
    base = ensure_base(paths, log=log)
    ssh.write_known_hosts(base, paths)
    ssh.ensure_cp_dir(paths)
    for host in hosts:
        start_host(host, base, paths, fresh=fresh)
    for host in hosts:
        wait_ready(host, paths, timeout)
    return [Host(h.name, h.ip, find_init(h.name)) for h in hosts]


def hosts_down(names: Iterable[str] | None = None, paths: LabPaths | None = None, forget: bool = False) -> list[str]:
    """Stop the named hosts (all known ones when None); their disks stay unless forget."""
    paths = paths or lab_paths()
    names = list(names) if names is not None else [h.name for h in known_hosts(paths)]
    for name in names:
        stop_host(name, paths)
        if forget:
            shutil.rmtree(paths.host_dir(name), ignore_errors=True)
            with book_locked(paths) as book:
                book.pop(name, None)
    return names


def host_reset(name: str, paths: LabPaths | None = None, timeout: float = 30.0) -> Host:
    """Back to pristine: kill, drop the writable layer, start again, wait for ssh."""
    paths = paths or lab_paths()
    return hosts_up([check_name(name)], paths, fresh=True, timeout=timeout)[0]


def host_get(name: str, paths: LabPaths | None = None) -> Host:
    paths = paths or lab_paths()
    with book_locked(paths) as book:
        if check_name(name) not in book:
            raise LabError(f"unknown lab host {name!r}")
        return Host(name, book[name], find_init(name))


def host_exec_argv(name: str, *cmd: str, paths: LabPaths | None = None) -> list[str]:
    """argv that runs CMD inside the host (all its namespaces, its root and cwd)."""
    host = host_get(name, paths)
    if host.pid is None:
        raise LabError(f"lab host {name} is not running")
    return ["nsenter", "-t", str(host.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", *(cmd or ("/bin/bash", "-l"))]


def host_exec(
    name: str,
    *cmd: str,
    paths: LabPaths | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run CMD inside the host from outside (no ssh) and capture its output."""
    return run(*host_exec_argv(name, *cmd, paths=paths), input=input, check=check, timeout=timeout)


def upper_dir(name: str, paths: LabPaths | None = None) -> Path:
    """The host's writable layer: every file it changed, seen from outside."""
    return (paths or lab_paths()).host_dir(check_name(name)) / "upper"


def lab_net_down(paths: LabPaths | None = None, remove_guard: bool = False) -> list[str]:
    """Stop every host (everyone's: the bridge is shared), then remove the bridge (the guard
    stays unless asked). Returns the names stopped."""
    stopped = hosts_down(None, paths)
    ssh.close_control_sockets(None, paths)
    net.net_down(remove_guard=remove_guard)
    return stopped
