"""Fixtures for tests that need real lab hosts (see docs/lab.md).

`lab` (session): builds/reuses the rootfs, brings up the guard + lab0, starts web1, web2, ns1
pristine, and always tears them down. `lab_host("web1")` (per test) resets a host to pristine
and returns it. Every fixture checks that the kernel routes the host through lab0.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioners import lab as L
from tests.lab.suites import suite_hosts

LAB_HOSTS = {n: ip for n, ip in suite_hosts("lab").items() if n in ("web1", "web2", "ns1")}


def lab_unavailable() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "lab tests need root (netns, overlayfs, unshare)"
    for tool in ("unshare", "nsenter", "ip", "setsid", "ssh", "zstd", "tar"):
        if not shutil.which(tool):
            return f"lab tests need `{tool}`"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "lab tests need overlayfs (modprobe overlay)"
    if not L.tarball_path().exists() and not shutil.which("debootstrap"):
        return "no cached lab rootfs and no debootstrap to build one (apt-get install debootstrap)"
    return None


def assert_lab_route(ip: str) -> None:
    dev = L.route_dev(ip)
    assert dev == L.BRIDGE, f"ip route get {ip} says dev {dev}, expected {L.BRIDGE}"


@contextlib.contextmanager
def own_lab_hosts(hosts: dict[str, str]) -> Iterator[dict[str, L.Host]]:
    """Start lab hosts that belong to one test suite (names and addresses no other suite uses),
    pristine, routed through lab0; always stop and forget them afterwards."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    try:
        L.build()
        L.net_up()
        started = L.hosts_up([f"{n}={ip}" for n, ip in hosts.items()], fresh=True)
        for host in started:
            assert_lab_route(host.ip)
        yield {h.name: h for h in started}
    finally:
        for ip in hosts.values():
            L.close_control_sockets(ip)
        L.hosts_down(list(hosts), forget=True)


@dataclass
class Lab:
    hosts: dict[str, L.Host]
    paths: L.LabPaths

    def reset(self, name: str) -> L.Host:
        host = L.host_reset(name, self.paths)
        assert_lab_route(host.ip)
        self.hosts[name] = host
        return host


def _session_lock(paths: L.LabPaths, timeout: float = 900.0):
    """One lab test session per machine at a time: engineers share lab0 and the host names."""
    paths.run.mkdir(parents=True, exist_ok=True)
    fh = open(paths.run / "pytest-session.lock", "w")  # noqa: SIM115 - held for the session
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() > deadline:
                fh.close()
                pytest.fail("another lab test session held the lab for 15 minutes")
            time.sleep(0.5)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    paths = L.lab_paths()
    lock = _session_lock(paths)
    try:
        L.build(paths)
        L.net_up()
        specs = [f"{n}={ip}" for n, ip in LAB_HOSTS.items()]
        started = L.hosts_up(specs, paths, fresh=True)
        for host in started:
            assert_lab_route(host.ip)
        yield Lab({h.name: h for h in started}, paths)
    finally:
        L.hosts_down(list(LAB_HOSTS), paths)
        # Only this suite's masters: the control dir is the block's, shared by the gate's sessions
        # side by side, and closing all of them cut another session's job mid-run ("Data could
        # not be sent to remote host" on the mail host, twice in gate runs).
        for ip in LAB_HOSTS.values():
            L.close_control_sockets(ip, paths)
        lock.close()


@pytest.fixture
def lab_host(lab: Lab) -> Callable[[str], L.Host]:
    """lab_host("web1") -> the host, reset to pristine for this test."""

    def get(name: str) -> L.Host:
        return lab.reset(name)

    return get
