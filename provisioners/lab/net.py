"""The lab network: the routing guard, the lab0 bridge, and route checks.

The guard comes first and stays: a policy rule sends every packet for the lab block (10.77.0.0/24,
or GOVHOST_LAB_NET) to table 177, whose only fallback is `unreachable default`. With the bridge
missing or down, lab traffic gets "No route to host" instead of leaving by the machine's default
route. Every block adds its own rule and route to the shared table 177 and removes only its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
import time
from collections.abc import Iterator

from .common import BRIDGE, GATEWAY, GUARD_PREF, GUARD_TABLE, SUBNET, LabError, mac_for, require_root, run

_RULE = ("to", str(SUBNET), "lookup", GUARD_TABLE)


def _has(argv: tuple[str, ...], needle: str) -> bool:
    return needle in run(*argv, check=False).stdout


def guard_present() -> bool:
    """All three parts of the guard are in place (rule, table fallback, main-table blackhole)."""
    return (
        _has(("ip", "rule", "show", "pref", GUARD_PREF), f"to {SUBNET} lookup {GUARD_TABLE}")
        and _has(("ip", "route", "show", "table", GUARD_TABLE), "unreachable default")
        and _has(("ip", "route", "show", "exact", str(SUBNET)), "unreachable")
    )


def foreign_routes() -> list[str]:
    """Routes of the machine (any table) into the lab block that are not the lab's own: a block
    that overlaps a real network would take its addresses away from it, so the lab refuses it."""
    kinds = ("unreachable", "blackhole", "prohibit", "local", "broadcast", "unicast", "throw", "multicast")
    found = []
    for line in run("ip", "-o", "-4", "route", "show", "table", "all", check=False).stdout.splitlines():
        words = line.split()
        if not words:
            continue
        kind, dst = (words[0], words[1]) if words[0] in kinds and len(words) > 1 else ("unicast", words[0])
        if dst == "default":
            continue
        try:
            net = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        ours = ("dev" in words and words[words.index("dev") + 1] == BRIDGE) or (
            kind == "unreachable" and net == SUBNET  # the guard's main-table line
        )
        if net.overlaps(SUBNET) and not ours:
            found.append(" ".join(words))
    return found


def guard_up() -> None:
    require_root()
    clash = foreign_routes()
    if clash:
        raise LabError(
            f"lab block {SUBNET} overlaps this machine's route '{clash[0]}': set GOVHOST_LAB_NET to another /24"
        )
    if not _has(("ip", "route", "show", "table", GUARD_TABLE), "unreachable default"):
        run("ip", "route", "add", "unreachable", "default", "table", GUARD_TABLE)
    if not _has(("ip", "rule", "show", "pref", GUARD_PREF), f"to {SUBNET} lookup {GUARD_TABLE}"):
        run("ip", "rule", "add", *_RULE, "pref", GUARD_PREF)
    # Second line of defence, in case someone deletes the rule: main table blackhole that the
    # kernel's connected route on lab0 (metric 0) wins over while lab0 is up.
    run("ip", "route", "replace", "unreachable", str(SUBNET), "metric", "4000")


def bridge_present() -> bool:
    """lab0 exists, is administratively up (its flags; a bridge without ports reports oper state
    UNKNOWN) and carries the gateway address."""
    link = run("ip", "-o", "link", "show", "dev", BRIDGE, check=False)
    if link.returncode != 0 or "<" not in link.stdout:
        return False
    flags = link.stdout.split("<", 1)[1].split(">", 1)[0].split(",")
    addr = run("ip", "-br", "addr", "show", "dev", BRIDGE, check=False).stdout
    return "UP" in flags and f"{GATEWAY}/{SUBNET.prefixlen}" in addr


@contextlib.contextmanager
def net_lock() -> Iterator[None]:
    """One network change at a time on the machine: parallel test workers and other blocks' sessions
    share table 177, and two `ip link add` of one bridge race (the second fails)."""
    os.makedirs("/run/lock", exist_ok=True)
    with open("/run/lock/govhost-lab-net.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def net_up() -> None:
    """Guard, then bridge; idempotent, and repairs a bridge that was set down (the kernel drops
    the table-177 route with the link, so it is re-added every time)."""
    with net_lock():
        _net_up()


def _net_up() -> None:
    guard_up()
    if run("ip", "link", "show", "dev", BRIDGE, check=False).returncode != 0:
        # Fixed MAC: a bridge otherwise takes the lowest port MAC, changing as hosts come and go,
        # and hosts pin the gateway's MAC (see hosts._plumb).
        run(
            "ip",
            "link",
            "add",
            BRIDGE,
            "address",
            mac_for(GATEWAY),
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        )
    run("ip", "link", "set", BRIDGE, "address", mac_for(GATEWAY))  # also fixes an older lab0
    if f"{GATEWAY}/" not in run("ip", "-br", "addr", "show", "dev", BRIDGE).stdout:
        run("ip", "addr", "add", f"{GATEWAY}/{SUBNET.prefixlen}", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    run("ip", "route", "replace", str(SUBNET), "dev", BRIDGE, "src", GATEWAY, "table", GUARD_TABLE)


def net_ready() -> bool:
    return guard_present() and bridge_present()


def require_net() -> None:
    if not guard_present():
        raise LabError(f"routing guard missing (rule to {SUBNET} lookup {GUARD_TABLE}): run `lab net-up`")
    if not bridge_present():
        raise LabError(f"bridge {BRIDGE} missing or down: run `lab net-up`")


def net_down(remove_guard: bool = False) -> None:
    """Delete the bridge. The guard stays unless asked: without the bridge it is what keeps
    lab-addressed traffic on this machine."""
    require_root()
    run("ip", "route", "flush", "table", GUARD_TABLE, "dev", BRIDGE, check=False)
    run("ip", "link", "del", BRIDGE, check=False)
    if remove_guard:
        while run("ip", "rule", "del", *_RULE, "pref", GUARD_PREF, check=False).returncode == 0:
            pass
        run("ip", "route", "del", "unreachable", str(SUBNET), "metric", "4000", check=False)
        # Table 177's fallback goes only with the last block's rule (other blocks still need it).
        if f"lookup {GUARD_TABLE}" not in run("ip", "rule", "show", check=False).stdout:
            run("ip", "route", "flush", "table", GUARD_TABLE, check=False)


def route_dev(ip: str) -> str | None:
    """Device `ip route get IP` picks, or None when the kernel says unreachable / no route."""
    proc = run("ip", "route", "get", ip, check=False)
    words = proc.stdout.split()
    if proc.returncode != 0 or not words or words[0] in ("unreachable", "prohibit", "blackhole"):
        return None
    return words[words.index("dev") + 1] if "dev" in words else None


def assert_pinned(ip: str) -> None:
    """Refuse to talk to IP unless the kernel would send it through lab0."""
    dev = route_dev(ip)
    if dev != BRIDGE:
        raise LabError(f"route to {ip} goes via {dev or 'nowhere'}, not {BRIDGE}: refusing")


def port_open(ip: str, port: int = 22, timeout: float = 0.5) -> bool:
    """One TCP connect from the lab gateway address; True when the peer answered."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.bind((GATEWAY, 0))
            s.connect((ip, port))
            return True
        except OSError:
            return False


def wait_port(ip: str, port: int = 22, timeout: float = 30.0) -> float:
    """Poll until IP:PORT accepts; returns seconds waited. Refused connects return at once, so a
    short sleep between tries keeps the poll cheap without adding latency."""
    assert_pinned(ip)
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        # Short connect timeout: a SYN dropped while the new bridge port comes up would
        # otherwise cost the kernel's 1 s retransmit; a fresh connect retries at once.
        if port_open(ip, port, timeout=0.1):
            return time.monotonic() - start
        time.sleep(0.01)
    raise LabError(f"{ip}:{port} did not answer within {timeout:.0f} s")
