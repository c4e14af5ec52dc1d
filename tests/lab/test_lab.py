"""The lab itself: guard, isolation, reset, failure modes, validation, cleanup."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from provisioners import lab as L
from tests.support.clients import ssh_run

from .conftest import assert_lab_route

pytestmark = pytest.mark.lab
WEB1 = L.lab_ip(11)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def test_guard_routes_lab_traffic_only_through_lab0(lab):
    for host in lab.hosts.values():
        assert_lab_route(host.ip)
    assert L.guard_present()
    try:
        _ip("link", "set", L.BRIDGE, "down")
        out = _ip("route", "get", WEB1)
        assert L.route_dev(WEB1) is None
        assert out.returncode != 0 or out.stdout.startswith("unreachable"), out
        assert "unreachable" in out.stdout + out.stderr or "No route" in out.stderr
        assert not L.port_open(WEB1, 22, timeout=1)
        with pytest.raises(L.LabError, match=L.BRIDGE):
            L.hosts_up([f"guardtest={L.lab_ip(99)}"], lab.paths)
    finally:
        L.net_up()
    assert_lab_route(WEB1)
    L.wait_port(WEB1, 22, timeout=10)


def test_hosts_are_isolated(lab, lab_host):
    web1, web2 = lab_host("web1"), lab_host("web2")
    assert ssh_run(web1, "hostname").stdout.strip() == "web1"
    assert ssh_run(web2, "hostname").stdout.strip() == "web2"
    assert ssh_run(web1, "echo isolated > /root/marker", check=True).returncode == 0
    assert ssh_run(web2, "test -e /root/marker").returncode == 1
    assert (L.upper_dir("web1") / "root/marker").read_text() == "isolated\n"
    assert not (L.upper_dir("web2") / "root/marker").exists()
    # each host sees only its own processes, with its own PID 1
    assert L.host_exec("web1", "cat", "/proc/1/cmdline").stdout.startswith("/bin/bash")
    assert "sshd" in L.host_exec("web1", "ps", "-eo", "comm").stdout
    assert ssh_run(web1, "ip -br addr show eth0").stdout.split()[2] == f"{WEB1}/24"


def test_reset_is_pristine(lab, lab_host):
    # How fast a reset is (goal: median under 0.5 s, sshd listening) is measured by bench/lab.py
    # (figure lab_reset_s), not asserted here: a timed test fails on a loaded machine.
    web1 = lab_host("web1")
    ssh_run(web1, "echo dirty > /etc/dirty && useradd tmpuser", check=True)
    for _ in range(3):
        host = lab.reset("web1")
    assert host.pid is not None
    assert not (L.upper_dir("web1") / "etc/dirty").exists()
    result = ssh_run(host, "test -e /etc/dirty || echo clean; id tmpuser; hostname")
    assert result.stdout.splitlines()[0] == "clean"
    assert result.stdout.splitlines()[-1] == "web1"


def test_reconnects_after_sshd_killed_and_reset(lab, lab_host):
    web1 = lab_host("web1")
    L.host_exec("web1", "pkill", "-KILL", "-x", "sshd")
    started = time.monotonic()
    dead = ssh_run(web1, "true", timeout=20)
    assert dead.returncode == 255 and time.monotonic() - started < 6, dead.stderr
    host = lab.reset("web1")
    assert ssh_run(host, "echo back").stdout.strip() == "back"


def test_link_down_fails_fast(lab, lab_host):
    web2 = lab_host("web2")
    try:
        _ip("link", "set", web2.veth, "down")
        started = time.monotonic()
        result = ssh_run(web2, "true", timeout=30)  # TimeoutExpired here = the hang we prevent
        elapsed = time.monotonic() - started
        assert result.returncode == 255
        assert elapsed < 10, f"ssh to a dead link took {elapsed:.1f} s"
    finally:
        _ip("link", "set", web2.veth, "up")
    lab.reset("web2")


def test_stale_control_socket_does_not_hang_after_reset(lab, lab_host):
    web1 = lab_host("web1")
    warm = ssh_run(web1, "echo warm", control_persist="60")
    assert warm.stdout.strip() == "warm", warm.stderr
    sockets = list(lab.paths.cp.glob(f"*@{web1.ip}:*"))
    assert sockets, "ControlPersist master did not create its socket in the lab cp dir"
    host = lab.reset("web1")
    assert not any(s.exists() for s in sockets), "reset left the old master's socket"
    started = time.monotonic()
    again = ssh_run(host, "echo again", control_persist="60", timeout=20)
    assert again.stdout.strip() == "again", again.stderr
    assert time.monotonic() - started < 15  # a hang waits for the 20 s timeout; a loaded machine takes 5+ s
    L.close_control_sockets(host.ip, lab.paths)


def test_warm_master_with_link_down_gives_up(lab, lab_host):
    """LAB.md: a warm ControlPersist master to a dead link hung 618 s without ServerAlive."""
    web2 = lab_host("web2")
    assert ssh_run(web2, "true", control_persist="60").returncode == 0
    try:
        _ip("link", "set", web2.veth, "down")
        started = time.monotonic()
        result = ssh_run(web2, "true", control_persist="60", timeout=40)
        assert result.returncode == 255
        assert time.monotonic() - started < 20
    finally:
        _ip("link", "set", web2.veth, "up")
    lab.reset("web2")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("Web1", "invalid host name"),
        ("1web", "invalid host name"),
        ("web_1", "invalid host name"),
        ("w" * 32, "invalid host name"),
        ("", "invalid host name"),
        (f"web1={L.SUBNET.network_address + 256 + 5}", "outside the lab network"),  # the next /24
        ("web1=8.8.8.8", "outside the lab network"),
        (f"web1={L.SUBNET.network_address}", "reserved"),
        (f"web1={L.GATEWAY}", "reserved"),
        (f"web1={L.SUBNET.broadcast_address}", "reserved"),
        ("web1=not-an-ip", "not an IPv4 address"),
    ],
)
def test_bad_names_and_addresses_are_refused(spec, message):
    with pytest.raises(L.LabError, match=message):
        L.hosts_up([spec])


def test_address_of_a_running_host_is_refused(lab):
    with pytest.raises(L.LabError, match="in use by running host web1"):
        L.hosts_up([f"intruder={WEB1}"], lab.paths)
    assert L.find_init("web1") is not None


def _leftovers(name: str, paths: L.LabPaths) -> list[str]:
    found = []
    if L.Host(name, "").netns in _ip("netns", "list").stdout.split():
        found.append("netns")
    if _ip("link", "show", "dev", L.Host(name, "").veth).returncode == 0:
        found.append("veth")
    merged = str(paths.host_dir(name) / "merged")
    if merged in Path("/proc/self/mountinfo").read_text():
        found.append("mount")
    if list(paths.cp.glob(f"*@{L.lab_ip(61)}:*")) or list(paths.cp.glob(f"*@{L.lab_ip(62)}:*")):
        found.append("control socket")
    return found


def test_teardown_mid_test_leaves_nothing(lab):
    [host] = L.hosts_up([f"tmp1={L.lab_ip(61)}"], lab.paths, fresh=True)
    try:
        assert ssh_run(host, "sleep 1000 >/dev/null 2>&1 &", control_persist="60").returncode == 0
        assert _leftovers("tmp1", lab.paths) == ["netns", "veth", "mount", "control socket"]
    finally:
        L.hosts_down(["tmp1"], lab.paths, forget=True)
    assert _leftovers("tmp1", lab.paths) == []
    assert not lab.paths.host_dir("tmp1").exists()
    assert L.route_dev(host.ip) == L.BRIDGE  # the guard and bridge stay for the others


def test_up_after_a_crash_cleans_stale_state(lab):
    """A previous run died half-way: netns, veth and mount still there, no process."""
    L.hosts_up([f"tmp2={L.lab_ip(62)}"], lab.paths, fresh=True)
    pid = L.find_init("tmp2")
    subprocess.run(["kill", "-KILL", str(pid)], check=True)  # crash: nothing cleaned
    try:
        [host] = L.hosts_up([f"tmp2={L.lab_ip(62)}"], lab.paths)
        assert host.pid not in (None, pid)
        assert ssh_run(host, "hostname").stdout.strip() == "tmp2"
    finally:
        L.hosts_down(["tmp2"], lab.paths, forget=True)
    assert _leftovers("tmp2", lab.paths) == []
