"""fail2ban on a real lab host, installed by govhost's playbook (role fail2ban): another lab host
fails SSH logins, the protected host bans it with nftables, the panel's read of the bans turns it
into a govhost.host.ban event that reaches a feed destination; a SOC address block goes into
govhost's nftables set and is lifted again."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.soc import containment, hostguard, ship
from panel.capabilities.soc import service as svc
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.tenants import Role
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.capabilities.soc.conftest import assert_ran, host_sh, run_pending_jobs, wait_until
from tests.support.factories import make_lab_host

pytestmark = pytest.mark.lab


def _host_row(lab_host) -> Host:
    return make_lab_host(lab_host.name, lab_host.ip)


_sh, _ok, _wait = host_sh, assert_ran, wait_until


def test_failed_ssh_logins_are_banned_and_the_event_arrives(booted, soc_f2b_lab, make, dc, tmp_path):
    target, attacker = soc_f2b_lab["socf1"], soc_f2b_lab["socx1"]
    host = _host_row(target)
    admin = make.actor_of(make.make_user(Role.ADMIN, dc, username="dcadmin"), "cli")
    soc = make.actor_of(make.make_user(Role.SOC, dc, username="soc1"), "api")
    soc2 = make.actor_of(make.make_user(Role.SOC, dc, username="soc2"), "api")
    feed = tmp_path / "feed.jsonl"
    dest = svc.destination_create(admin, data=svc.DestinationIn("agent", "file", str(feed)))

    hostguard.hosts_protect(admin, host_ids=[host.id], ignoreip=[L.GATEWAY])
    _ok(run_pending_jobs(booted), "soc.hosts_protect")
    assert "sshd" in _sh("socf1", "fail2ban-client status")
    assert "blocked4" in _sh("socf1", "nft list table inet govhost")
    system = system_actor("worker", "test")
    _ok((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")

    # another lab host tries user names over SSH until the jail bans it (maxretry 5)
    probe = (
        f"timeout 8 ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        f"-o ConnectTimeout=3 nosuch@{target.ip} true"
    )
    for _ in range(8):
        _sh("socx1", probe)
    try:
        _wait(lambda: attacker.ip in _sh("socf1", "fail2ban-client status sshd"), 30)
    except AssertionError:  # what an operator would look at
        print(_sh("socf1", "tail -20 /var/log/sshd.log; tail -30 /var/log/fail2ban.log; cat /etc/fail2ban/jail.d/*"))
        raise
    assert attacker.ip in _sh("socf1", "nft list ruleset")  # fail2ban's nftables action holds it
    refused = _sh("socx1", f"timeout 4 bash -c '</dev/tcp/{target.ip}/22' && echo open || echo closed")
    assert refused.strip() == "closed"
    assert _sh("socf1", f"timeout 4 bash -c '</dev/tcp/{target.ip}/22' && echo open || echo closed").strip() == "open"

    # the panel reads the bans: one host.ban entry, a feed event with the address as source.ip
    _ok((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    with db.unit_of_work() as s:
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "host.ban"))
        assert json.loads(entry.summary)["address"] == attacker.ip
    ship.drain(dest.id)
    events = [json.loads(line) for line in feed.read_text().splitlines()]
    (ban,) = [e for e in events if e["event"]["code"] == "govhost.host.ban"]
    assert ban["source"]["ip"] == attacker.ip and ban["govhost"]["audit"]["summary"]["jail"] == "sshd"
    assert ban["host"]["name"] == "socf1" and "socf1" in ban["message"] and attacker.ip in ban["govhost"]["message_km"]
    # reading again reports nothing new
    _ok((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    with db.unit_of_work() as s:
        assert len(list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(("host.ban", "host.unban")))))) == 1

    # the SOC blocks a network by hand (nftables), then lifts the block; the panel's own address is refused
    with pytest.raises(Exception, match="managed host"):
        containment.contain_address_block(soc, address=target.ip, reason="x")
    held = containment.contain_address_block(soc, address="198.51.100.0/24", reason="botnet C2 range", minutes=60)
    assert run_pending_jobs(booted) == []  # four-eyes (the shipped policy): nothing until a second person approves
    containment.contain_approve(soc2, held.id)
    _ok(run_pending_jobs(booted), "soc.address_block")
    assert "198.51.100.0/24" in _sh("socf1", "nft list set inet govhost blocked4")
    _ok((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    containment.contain_address_block(soc, address="198.51.100.0/24", reason="range cleaned", unblock=True)
    _ok(run_pending_jobs(booted), "soc.address_block")
    assert "198.51.100.0" not in _sh("socf1", "nft list set inet govhost blocked4")
    _ok((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    with db.unit_of_work() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(("host.ban", "host.unban")))))
        seen = [(r.action, json.loads(r.summary)["jail"], json.loads(r.summary)["address"]) for r in rows]
        assert seen[1:] == [("host.ban", "govhost-block", "198.51.100.0/24"),
                            ("host.unban", "govhost-block", "198.51.100.0/24")]  # fmt: skip
        contained = [json.loads(r.summary)["action"] for r in s.scalars(
            select(AuditEntry).where(AuditEntry.action == "soc.contain"))]  # fmt: skip
        assert contained == ["address_block", "address_unblock"]


def test_blocks_and_bans_outlive_a_restart_of_the_host(booted, soc_f2b_lab, make, dc):
    """The SOC's blocks are saved on the host and fail2ban's start puts them back (fail2ban's own
    bans come back from its database): after the lab host restarts (new network namespace, so the
    kernel's nftables state is really gone; same disk) and fail2ban starts as an enabled service does
    at boot, and after the firewall table is dropped and fail2ban restarted."""
    target = soc_f2b_lab["socf1"]
    host = _host_row(target)
    admin = make.actor_of(make.make_user(Role.ADMIN, dc, username="dcadmin"), "cli")
    soc1 = make.actor_of(make.make_user(Role.SOC, dc, username="soc1"), "api")
    soc2 = make.actor_of(make.make_user(Role.SOC, dc, username="soc2"), "api")
    hostguard.hosts_protect(admin, host_ids=[host.id], ignoreip=[L.GATEWAY])
    _ok(run_pending_jobs(booted), "soc.hosts_protect")
    for address, minutes in (("198.51.100.0/24", 120), ("203.0.113.5", 0)):
        held = containment.contain_address_block(soc1, address=address, reason="botnet", minutes=minutes)
        containment.contain_approve(soc2, held.id)
        _ok(run_pending_jobs(booted), "soc.address_block")
    _sh("socf1", "fail2ban-client set sshd banip 192.0.2.77")
    system = system_actor("worker", "test")
    _ok((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    with db.unit_of_work() as s:
        seen = len(list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(("host.ban", "host.unban"))))))

    def blocks() -> str:
        return _sh("socf1", "nft list set inet govhost blocked4 2>&1")

    def restored() -> bool:
        now = blocks()
        return "198.51.100.0/24" in now and "203.0.113.5" in now

    assert restored()
    L.hosts_up([f"socf1={target.ip}"], fresh=False)  # a restart: same disk, nothing else kept
    L.close_control_sockets(target.ip)
    assert "198.51.100" not in blocks() and "No such file" in blocks()  # the kernel forgot everything
    _sh("socf1", "service fail2ban start </dev/null >/dev/null 2>&1")  # what boot does for the enabled service
    _wait(restored, 30)
    assert "timeout" in _sh("socf1", "nft list set inet govhost blocked4 | grep -F 198.51.100.0/24")
    _wait(lambda: "192.0.2.77" in _sh("socf1", "fail2ban-client status sshd"), 30)
    assert "ip saddr @blocked4 drop" in _sh("socf1", "nft list chain inet govhost input")

    # the firewall alone dropped and fail2ban restarted: the same
    _sh("socf1", "nft delete table inet govhost; service fail2ban restart </dev/null >/dev/null 2>&1")
    _wait(restored, 30)

    # the panel's next read finds what it knew: no new ban or unban events
    _ok((hostguard.bans_collect(system), run_pending_jobs(booted))[1], "soc.bans_collect")
    with db.unit_of_work() as s:
        assert len(list(s.scalars(select(AuditEntry).where(AuditEntry.action.in_(("host.ban", "host.unban")))))) == seen
