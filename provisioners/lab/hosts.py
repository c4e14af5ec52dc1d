"""Lab hosts: per-host overlayfs + netns + veth + unshare'd PID 1 (/sbin/lab-init) in a chroot.

Everything a host leaves on the machine is named after it (netns lab-NAME, veth v-NAME, mount
<cache>/hosts/NAME/merged), so `stop_host` can clean up after a crash without any state file.
The only state is the address book, which keeps a name's address stable.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import net, ssh
from .build import ensure_base
from .common import (BRIDGE, FIRST_HOST_OCTET, SUBNET, LabError, LabPaths, check_ip, check_name,
                     lab_paths, mac_for, netns_name, require_root, run, veth_name)

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


@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    pid: int | None = None  # PID (machine's view) of the host's PID 1, when running

    @property
    def netns(self) -> str:
        return netns_name(self.name)

    @property
    def veth(self) -> str:
        return veth_name(self.name)


# --- address book --------------------------------------------------------------------------

@contextmanager
def _book(paths: LabPaths) -> Iterator[dict[str, str]]:
    """The name -> address map, locked for read-modify-write across processes."""
    paths.run.mkdir(parents=True, exist_ok=True)
    with open(paths.run / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        book = json.loads(paths.state.read_text()) if paths.state.exists() else {}
        before = dict(book)
        yield book
        if book != before:
            tmp = paths.state.with_suffix(".tmp")
            tmp.write_text(json.dumps(book, indent=1, sort_keys=True))
            tmp.replace(paths.state)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`name` or `name=10.77.0.X` -> (name, ip or None), both validated."""
    name, _, ip = spec.partition("=")
    return check_name(name), (check_ip(ip) if ip else None)


def default_names(count: int, prefix: str = "web") -> list[str]:
    return [f"{prefix}{i}" for i in range(1, count + 1)]


def assign(specs: Iterable[str], paths: LabPaths | None = None) -> list[Host]:
    """Resolve specs to hosts. A name keeps the address it had; new names get the lowest free
    address from .11 up; an explicit address moves off a stopped host, never a running one."""
    paths = paths or lab_paths()
    parsed = [parse_spec(s) for s in specs]
    names = [n for n, _ in parsed]
    if len(set(names)) != len(names):
        raise LabError(f"duplicate host names in {names}")
    with _book(paths) as book:
        for name, ip in parsed:
            if ip is None:
                continue
            for other, other_ip in list(book.items()):
                if other_ip == ip and other != name:
                    if other not in names and find_init(other):
                        raise LabError(f"address {ip} is in use by running host {other}")
                    del book[other]
            book[name] = ip
        for name, ip in parsed:
            if ip is None and name not in book:
                book[name] = _free_ip(book)
        return [Host(n, book[n]) for n in names]


def _free_ip(book: dict[str, str]) -> str:
    used = set(book.values())
    for octet in range(FIRST_HOST_OCTET, SUBNET.broadcast_address.packed[-1]):
        ip = str(SUBNET.network_address + octet)
        if ip not in used:
            return ip
    raise LabError("no free address left in the lab network")


def known_hosts(paths: LabPaths | None = None) -> list[Host]:
    """Every host the lab knows: address book plus anything left on the machine (netns, dirs)."""
    paths = paths or lab_paths()
    with _book(paths) as book:
        names = set(book)
    names |= {ns[4:] for ns in _netns_list() if ns.startswith("lab-")}
    if paths.hosts.is_dir():
        names |= {d.name for d in paths.hosts.iterdir() if d.is_dir()}
    return [Host(n, book.get(n, "?"), find_init(n)) for n in sorted(names)]


# --- discovery ------------------------------------------------------------------------------

def _netns_list() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list", check=False).stdout.splitlines()
            if line.strip()]


def _netns_pids(name: str) -> list[int]:
    out = run("ip", "netns", "pids", netns_name(name), check=False)
    return [int(p) for p in out.stdout.split()] if out.returncode == 0 else []


def _nspid(pid: int) -> list[str]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return line.split()[1:]
    except OSError:
        pass
    return []


def find_init(name: str) -> int | None:
    """PID of the host's PID 1: the process in its netns that is PID 1 of a nested pid ns."""
    for pid in _netns_pids(name):
        ids = _nspid(pid)
        if len(ids) >= 2 and ids[-1] == "1":
            return pid
    return None


def _pids_rooted_in(merged: Path) -> list[int]:
    """Processes chrooted into the host's tree: found even if the netns is already gone."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.readlink(f"/proc/{entry.name}/root").startswith(str(merged)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    points = [p.replace("\\040", " ") for p in points]
    return sorted({p for p in points if p == prefix or p.startswith(prefix + "/")},
                  key=len, reverse=True)


# --- start / stop ---------------------------------------------------------------------------

def stop_host(name: str, paths: LabPaths | None = None) -> None:
    """Stop hard and clean everything named after NAME; fine on a half-dead or absent host.
    Does not wait for the kernel's pid-ns teardown (1-2 s): nothing below needs it."""
    require_root()
    paths = paths or lab_paths()
    check_name(name)
    merged = paths.host_dir(name) / "merged"
    with _book(paths) as book:
        ip = book.get(name)
    if ip:
        ssh.close_control_sockets(ip, paths)
    for pid in set(_netns_pids(name)) | set(_pids_rooted_in(merged)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for point in _mounts_under(merged):
        if run("umount", point, check=False).returncode != 0:
            run("umount", "-l", point, check=False)
    # veth before netns: `ip netns del` frees the veth asynchronously.
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
        subprocess.run([*([] if wait else ["setsid", "-f"]), "rm", "-rf", "--one-file-system",
                        *old], stdin=subprocess.DEVNULL, check=False)


def _prepare_disk(host: Host, base: Path, paths: LabPaths) -> Path:
    hdir = paths.host_dir(host.name)
    upper, work, merged = hdir / "upper", hdir / "work", hdir / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=True)
    # Per-host identity goes into the upper layer, so the shared base stays untouched.
    (upper / "etc").mkdir(exist_ok=True)
    (upper / "etc/hostname").write_text(f"{host.name}\n")
    hosts = (base / "etc/hosts").read_text() + f"127.0.1.1\t{host.name}\n{host.ip}\t{host.name}\n"
    (upper / "etc/hosts").write_text(hosts)
    run("mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir={base},upperdir={upper},workdir={work}", str(merged))
    return merged


def _plumb(host: Host) -> None:
    """netns + veth with the host's fixed MAC, attached to lab0."""
    ns, veth = host.netns, host.veth
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
        "address", mac_for(host.ip), "netns", ns)
    run("ip", "link", "set", veth, "master", BRIDGE, "up")
    run("ip", "-n", ns, "-batch", "-", input=(
        "link set lo up\n"
        f"addr add {host.ip}/{SUBNET.prefixlen} dev eth0\n"
        "link set eth0 up\n"))


def _launch(host: Host, merged: Path, paths: LabPaths) -> None:
    """Start PID 1 detached (setsid -f): the host outlives the command that started it."""
    console = paths.host_dir(host.name) / "console.log"
    with open(console, "w") as log:
        subprocess.run(["setsid", "-f", "ip", "netns", "exec", host.netns,
                        "unshare", "--mount", "--pid", "--uts", "--ipc", "--fork",
                        "--propagation", "private", "sh", "-c", _START, "lab-start",
                        str(merged), host.name],
                       stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True)


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

def hosts_up(specs: Iterable[str], paths: LabPaths | None = None, fresh: bool = False,
             timeout: float = 60.0, log=print) -> list[Host]:
    """Start hosts (`name` or `name=10.77.0.X`) and wait until ssh answers on each."""
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


def hosts_down(names: Iterable[str] | None = None, paths: LabPaths | None = None,
               forget: bool = False) -> list[str]:
    """Stop the named hosts (all known ones when None); their disks stay unless forget."""
    paths = paths or lab_paths()
    names = list(names) if names is not None else [h.name for h in known_hosts(paths)]
    for name in names:
        stop_host(name, paths)
        if forget:
            shutil.rmtree(paths.host_dir(name), ignore_errors=True)
            with _book(paths) as book:
                book.pop(name, None)
    return names


def host_reset(name: str, paths: LabPaths | None = None, timeout: float = 30.0) -> Host:
    """Back to pristine: kill, drop the writable layer, start again, wait for ssh."""
    paths = paths or lab_paths()
    return hosts_up([check_name(name)], paths, fresh=True, timeout=timeout)[0]


def host_get(name: str, paths: LabPaths | None = None) -> Host:
    paths = paths or lab_paths()
    with _book(paths) as book:
        if check_name(name) not in book:
            raise LabError(f"unknown lab host {name!r}")
        return Host(name, book[name], find_init(name))


def host_exec_argv(name: str, *cmd: str, paths: LabPaths | None = None) -> list[str]:
    """argv that runs CMD inside the host (all its namespaces, its root and cwd)."""
    host = host_get(name, paths)
    if host.pid is None:
        raise LabError(f"lab host {name} is not running")
    return ["nsenter", "-t", str(host.pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
            *(cmd or ("/bin/bash", "-l"))]


def host_exec(name: str, *cmd: str, paths: LabPaths | None = None, input: str | None = None,
              check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run CMD inside the host from outside (no ssh) and capture its output."""
    return run(*host_exec_argv(name, *cmd, paths=paths), input=input, check=check,
               timeout=timeout)


def upper_dir(name: str, paths: LabPaths | None = None) -> Path:
    """The host's writable layer: every file it changed, seen from outside."""
    return (paths or lab_paths()).host_dir(check_name(name)) / "upper"


def lab_net_down(paths: LabPaths | None = None, remove_guard: bool = False) -> None:
    """Stop every host, then remove the bridge (the guard stays unless asked)."""
    hosts_down(None, paths)
    ssh.close_control_sockets(None, paths)
    net.net_down(remove_guard=remove_guard)
