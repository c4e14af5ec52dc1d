"""Shared constants, paths, validation and a subprocess helper for the lab."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUBNET = ipaddress.IPv4Network("10.77.0.0/24")
GATEWAY = "10.77.0.1"
BRIDGE = "lab0"
GUARD_TABLE = "177"
GUARD_PREF = "100"
FIRST_HOST_OCTET = 11
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")

DEFAULT_CACHE_DIR = "/var/cache/govhost/lab"
DEFAULT_RUN_DIR = "/run/govhost-lab"


class LabError(RuntimeError):
    """Any lab failure a caller can report as-is (bad name, missing guard, host did not start)."""


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
        return self.cache / "hosts"

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
    run = run_dir or os.environ.get("GOVHOST_LAB_RUN") or DEFAULT_RUN_DIR
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
    """Root-side veth name; interface names are capped at 15 bytes, names at 31."""
    if len(name) <= 13:
        return f"v-{name}"
    return f"v-{name[:7]}{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def netns_name(name: str) -> str:
    return f"lab-{name}"


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
