"""Shared constants, paths, validation and a subprocess helper for the lab."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NET = "10.77.0.0/24"
PRIVATE_BLOCKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # RFC 1918
GUARD_TABLE = "177"  # shared by every block: each adds its own rule and route, table 177 ends unreachable
GUARD_PREF = "100"
FIRST_HOST_OCTET = 11
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")

DEFAULT_CACHE_DIR = "/var/cache/govhost/lab"
DEFAULT_RUN_DIR = "/run/govhost-lab"


class LabError(RuntimeError):
    """Any lab failure a caller can report as-is (bad name, missing guard, host did not start)."""


def lab_net(raw: str | None = None) -> ipaddress.IPv4Network:
    """The lab's address block: GOVHOST_LAB_NET (default 10.77.0.0/24), so two checkouts on one
    machine can each test on a block of their own. A private IPv4 /24 (suites use fixed host
    numbers .10 to .247 in it); the routing guard keeps all of it on this machine."""
    raw = (raw if raw is not None else os.environ.get("GOVHOST_LAB_NET", "")).strip() or DEFAULT_NET
    try:
        net = ipaddress.IPv4Network(raw)
    except ValueError:
        raise LabError(f"GOVHOST_LAB_NET={raw!r} is not an IPv4 network such as {DEFAULT_NET}") from None
    if net.prefixlen != 24:
        raise LabError(f"GOVHOST_LAB_NET={raw!r} must be a /24 (the test suites use fixed host numbers in it)")
    if not any(net.subnet_of(ipaddress.IPv4Network(block)) for block in PRIVATE_BLOCKS):
        raise LabError(f"GOVHOST_LAB_NET={raw!r} must be a private block (10/8, 172.16/12 or 192.168/16)")
    return net


SUBNET = lab_net()
GATEWAY = str(SUBNET.network_address + 1)
DEFAULT_BLOCK = str(SUBNET) == DEFAULT_NET
# What names a block's things on the machine: the default block keeps the historic names (lab0,
# lab-NAME, /run/govhost-lab); another block's bridge, netns, veths, host disks, address book and
# run dir carry its network (lab-10.78.0, lab-10.78.0-web1, ...), so two blocks never share one.
BLOCK = "" if DEFAULT_BLOCK else str(SUBNET.network_address).rsplit(".", 1)[0]
BRIDGE = "lab0" if DEFAULT_BLOCK else f"lab-{BLOCK}"
NETNS_PREFIX = "lab-" if DEFAULT_BLOCK else f"lab-{BLOCK}-"
# known_hosts pattern for every address of the block (all hosts share the base image's host keys).
HOSTS_PATTERN = str(SUBNET.network_address).rsplit(".", 1)[0] + ".*"


def lab_ip(host_number: int) -> str:
    """Address number N of the lab block (lab_ip(11) is 10.77.0.11 in the default block)."""
    if not 2 <= host_number <= 254:
        raise LabError(f"lab host number {host_number} is outside 2..254")
    return str(SUBNET.network_address + host_number)


@dataclass(frozen=True)
class LabPaths:
    """Where the lab keeps things. cache: tarballs, base rootfs, key, per-host overlays
    (persistent, large). run: state, control sockets, locks (small, gone after a reboot)."""

    cache: Path
    run: Path

    @property
    def key(self) -> Path:
        return self.cache / "lab_ed25519"

    @property
    def hosts(self) -> Path:
        return self.cache / ("hosts" if DEFAULT_BLOCK else f"hosts-{BLOCK}")

    @property
    def cp(self) -> Path:
        return self.run / "cp"

    @property
    def state(self) -> Path:
        return self.run / "hosts.json"

    def host_dir(self, name: str) -> Path:
        return self.hosts / name


def lab_paths(
    cache_dir: str | os.PathLike[str] | None = None, run_dir: str | os.PathLike[str] | None = None
) -> LabPaths:
    """Resolve paths: explicit argument > environment > default."""
    cache = cache_dir or os.environ.get("GOVHOST_LAB_DIR") or DEFAULT_CACHE_DIR
    run = (
        run_dir
        or os.environ.get("GOVHOST_LAB_RUN")
        or (DEFAULT_RUN_DIR if DEFAULT_BLOCK else f"{DEFAULT_RUN_DIR}-{BLOCK}")
    )
    return LabPaths(Path(cache), Path(run))


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise LabError(f"invalid host name {name!r}: must match {NAME_RE.pattern}")
    return name


def check_ip(ip: str) -> str:
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        raise LabError(f"invalid address {ip!r}: not an IPv4 address") from None
    if addr not in SUBNET:
        raise LabError(f"address {ip} is outside the lab network {SUBNET}")
    if addr in (SUBNET.network_address, SUBNET.broadcast_address, ipaddress.IPv4Address(GATEWAY)):
        raise LabError(f"address {ip} is reserved (network, gateway or broadcast)")
    return str(addr)


def mac_for(ip: str) -> str:
    """Fixed MAC per address: a reset host keeps its MAC, so neighbours' ARP entries stay right
    (a random MAC black-holed a reset host for 30-40 s)."""
    return "02:4c:" + ":".join(f"{int(o):02x}" for o in ip.split("."))


def veth_name(name: str) -> str:
    """Root-side veth name; interface names are capped at 15 bytes, names at 31. Outside the
    default block the name is a hash of block and name (blocks must not share a veth name)."""
    if not DEFAULT_BLOCK:
        return "v" + hashlib.sha256(f"{SUBNET} {name}".encode()).hexdigest()[:14]
    if len(name) <= 13:
        return f"v-{name}"
    return f"v-{name[:7]}{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def netns_name(name: str) -> str:
    return f"{NETNS_PREFIX}{name}"


def run(
    *args: str, check: bool = True, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command (argv list, never a shell string); LabError with its stderr on failure."""
    proc = subprocess.run(args, capture_output=True, text=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (netns, overlayfs, unshare)")
