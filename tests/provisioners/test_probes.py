"""provisioners.probes against a real lab host: key fetch, pinned probe, mismatch, unreachable."""

from __future__ import annotations

import subprocess
import time

import pytest

from provisioners import lab as L
from provisioners import probes
from tests.lab.conftest import own_lab_hosts
from tests.lab.suites import suite_hosts

pytestmark = pytest.mark.lab
NAME, IP = "hp3", suite_hosts("provisioners")["hp3"]


@pytest.fixture(scope="module")
def hp3():
    with own_lab_hosts({NAME: IP}) as hosts:
        yield hosts[NAME]


def test_fingerprint_is_openssh_format():
    blob = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", "-"],
        input=f"ssh-ed25519 {blob}\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert probes.fingerprint(blob) == out.split()[1]


def test_fetch_matches_ssh_keyscan(hp3):
    kind, blob, fp = probes.fetch_host_key(IP, 22, bind=L.GATEWAY)
    scan = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-t", "ed25519", IP], capture_output=True, text=True, timeout=20
    ).stdout.split()
    assert (kind, blob) == (scan[1], scan[2])
    assert (kind, blob) == tuple(L.host_exec(NAME, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2])
    assert fp.startswith("SHA256:") and len(fp) == 50


def test_pinned_probe_logs_in_from_the_lab_address_and_reads_facts(hp3):
    kind, blob, fp = probes.fetch_host_key(IP, 22, bind=L.GATEWAY)
    result = probes.probe(IP, 22, "root", str(L.lab_key_path()), (kind, blob), bind=L.GATEWAY)
    assert result.ok and result.key_matches and result.presented_fingerprint == fp
    assert result.facts["hostname"] == NAME and result.facts["os_release"]["VERSION_CODENAME"] == "bookworm"
    log = L.host_exec(NAME, "cat", "/var/log/sshd.log").stdout
    assert f"Accepted publickey for root from {L.GATEWAY} " in log


def test_mismatch_never_authenticates(hp3):
    before = L.host_exec(NAME, "cat", "/var/log/sshd.log").stdout.count("Accepted publickey")
    kind, blob, _ = probes.fetch_host_key(IP, 22, bind=L.GATEWAY)
    other = blob[:-8] + ("A" * 8 if not blob.endswith("A" * 8) else "B" * 8)
    result = probes.probe(IP, 22, "root", str(L.lab_key_path()), (kind, other), bind=L.GATEWAY)
    assert result.reachable and result.key_matches is False and not result.ok and result.facts == {}
    assert result.presented_key == (kind, blob)
    time.sleep(0.2)
    assert L.host_exec(NAME, "cat", "/var/log/sshd.log").stdout.count("Accepted publickey") == before


def test_closed_port_and_dead_link_fail_fast(hp3):
    t = time.monotonic()
    with pytest.raises(probes.ProbeError, match="cannot connect"):
        probes.fetch_host_key(IP, 2222, timeout=3, bind=L.GATEWAY)
    assert time.monotonic() - t < 2
    L.common.run("ip", "link", "set", hp3.veth, "down")
    try:
        t = time.monotonic()
        result = probes.probe(IP, 22, "root", str(L.lab_key_path()), ("ssh-ed25519", "AAAA"), timeout=3, bind=L.GATEWAY)
        took = time.monotonic() - t
    finally:
        L.common.run("ip", "link", "set", hp3.veth, "up")
    assert not result.reachable and result.key_matches is None and "cannot connect" in result.error
    assert took < 5, took
