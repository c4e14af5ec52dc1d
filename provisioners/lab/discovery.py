"""Find what a lab host left on the machine, from names alone (netns, processes, mounts):
this is what makes cleanup after a crash possible without trusting any state file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .common import netns_name, run, veth_name


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


def netns_list() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list", check=False).stdout.splitlines() if line.strip()]


def netns_pids(name: str) -> list[int]:
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
    for pid in netns_pids(name):
        ids = _nspid(pid)
        if len(ids) >= 2 and ids[-1] == "1":
            return pid
    return None


def pids_rooted_in(merged: Path) -> list[int]:
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


def mounts_under(path: Path) -> list[str]:
    prefix = str(path)
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    points = [p.replace("\\040", " ") for p in points]
    return sorted({p for p in points if p == prefix or p.startswith(prefix + "/")}, key=len, reverse=True)
