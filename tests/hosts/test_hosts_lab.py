"""Register, probe, key change, rekey and unreachable hosts, against real lab hosts."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from panel import db
from panel.errors import Conflict, Forbidden, Invalid
from panel.models.audit import AuditEntry
from panel.models.hosts import Host, HostState
from panel.services import hosts as svc
from provisioners import lab as L
from tests.hosts.conftest import PROBE_HOSTS, change_host_key, keyscan, openssh_fingerprint

pytestmark = pytest.mark.lab


def _audit(prefix: str) -> list[AuditEntry]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.seq)))


def _reload(host_id: int) -> Host:
    with db.unit_of_work() as s:
        s.expire_all()
        return s.get(Host, host_id)


def test_register_pins_the_hosts_own_key(booted, make, operator, lab_target):
    hp = lab_target("hp1")
    kind, blob = keyscan(hp.ip)
    on_host = L.host_exec("hp1", "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
    host = svc.host_register(make.actor_of(operator, "cli"), name="hp1", address=hp.ip, roles=["web", "dns"])
    assert (host.host_key_type, host.host_key) == (kind, blob) == tuple(on_host[:2])
    assert host.fingerprint == openssh_fingerprint(kind, blob)
    assert host.roles == {"web", "dns"} and host.state == HostState.ACTIVE
    entry = _audit("host.register")[-1]
    assert entry.object_id == str(host.id) and json.loads(entry.summary)["fingerprint"] == host.fingerprint
    assert blob not in entry.summary  # the fingerprint is enough in the log
    with pytest.raises(Conflict) as e:
        svc.host_register(make.actor_of(operator, "cli"), name="hp1", address=PROBE_HOSTS["hp2"])
    assert e.value.key == "host.name_taken" and e.value.field == "name"
    with pytest.raises(Conflict) as e:
        svc.host_register(make.actor_of(operator, "cli"), name="other", address=hp.ip)
    assert e.value.key == "host.address_taken"


def test_register_with_expected_fingerprint(booted, make, operator, lab_target):
    hp = lab_target("hp1")
    a = make.actor_of(operator, "cli")
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(Conflict) as e:
        svc.host_register(a, name="hp1", address=hp.ip, fingerprint=wrong)
    assert e.value.key == "host.fingerprint_mismatch"
    assert svc.host_list(a).total == 0
    right = openssh_fingerprint(*keyscan(hp.ip))
    assert svc.host_register(a, name="hp1", address=hp.ip, fingerprint=right).fingerprint == right


def test_probe_collects_facts(booted, make, operator, lab_target):
    hp = lab_target("hp1")
    a = make.actor_of(operator, "cli")
    host = svc.host_register(a, name="hp1", address=hp.ip, roles=["web"])
    result = svc.host_probe(a, host.id)
    assert result.ok, result.error
    assert result.facts["hostname"] == "hp1"
    assert result.facts["os_release"]["ID"] == "debian"
    assert result.facts["php_versions"] and result.facts["python"].startswith("3.")
    assert result.facts["kernel"] == L.host_exec("hp1", "uname", "-r").stdout.strip()
    stored = _reload(host.id)
    assert stored.facts == result.facts and stored.last_probe_ok is True and stored.last_probe_at is not None


def test_changed_key_is_refused_marked_down_and_recorded(booted, make, operator, admin, lab_target):
    hp = lab_target("hp2")
    op = make.actor_of(operator, "cli")
    host = svc.host_register(op, name="hp2", address=hp.ip, roles=["mail"])
    pinned = host.fingerprint
    change_host_key("hp2")
    new_fp = openssh_fingerprint(*keyscan(hp.ip))
    assert new_fp != pinned

    result = svc.host_probe(op, host.id)
    assert result.reachable and result.key_matches is False and not result.ok
    assert result.presented_fingerprint == new_fp and result.facts == {}
    stored = _reload(host.id)
    assert stored.state == HostState.DOWN and stored.key_mismatch_at is not None and stored.last_probe_ok is False
    assert stored.fingerprint == pinned  # never re-pinned by a probe
    event = _audit("host.key_changed")[-1]
    summary = json.loads(event.summary)
    assert event.object_type == "security"
    assert (summary["pinned_fingerprint"], summary["presented_fingerprint"]) == (pinned, new_fp)
    # nothing ran on the host: no login was accepted from us after the key change
    log = L.host_exec("hp2", "cat", "/var/log/sshd.log").stdout
    assert log.count("Accepted publickey") == 0, log

    with pytest.raises(Conflict) as e:
        svc.host_update(op, host.id, state="active")
    assert e.value.key == "host.key_untrusted"
    with pytest.raises(Forbidden):
        svc.host_rekey(op, host.id)
    adm = make.actor_of(admin, "cli")
    with pytest.raises(Conflict):
        svc.host_rekey(adm, host.id, fingerprint=pinned)
    rekeyed = svc.host_rekey(adm, host.id, fingerprint=new_fp)
    assert rekeyed.fingerprint == new_fp and rekeyed.key_mismatch_at is None and rekeyed.state == HostState.DOWN
    assert json.loads(_audit("host.rekeyed")[-1].summary)["old_fingerprint"] == pinned
    assert svc.host_update(op, host.id, state="active").state == HostState.ACTIVE
    assert svc.host_probe(op, host.id).ok


def test_unreachable_host_is_quick_and_keeps_its_state(booted, make, operator, lab_target):
    hp = lab_target("hp1")
    a = make.actor_of(operator, "cli")
    host = svc.host_register(a, name="hp1", address=hp.ip)
    svc.host_update(a, host.id, state="draining")
    L.common.run("ip", "link", "set", L.Host("hp1", hp.ip).veth, "down")
    try:
        started = time.monotonic()
        result = svc.host_probe(a, host.id)
        took = time.monotonic() - started
    finally:
        L.common.run("ip", "link", "set", L.Host("hp1", hp.ip).veth, "up")
    assert not result.reachable and result.key_matches is None and result.error
    assert took < 8, took
    stored = _reload(host.id)
    assert stored.last_probe_ok is False and stored.state == HostState.DRAINING and stored.key_mismatch_at is None
    with pytest.raises(Invalid) as e:
        svc.host_register(a, name="gone", address=L.lab_ip(234))  # nothing listens there
    assert e.value.key == "host.unreachable" and e.value.field == "address"


def test_list_filters_by_role_and_state(booted, make, operator, lab_target):
    a = make.actor_of(operator, "cli")
    one = svc.host_register(a, name="hp1", address=PROBE_HOSTS["hp1"], roles=["web", "dns"])
    two = svc.host_register(a, name="hp2", address=PROBE_HOSTS["hp2"], roles=["mail"])
    svc.host_update(a, two.id, state="draining", roles=["mail", "dns"], capacities={"sites": 5})
    assert [h.name for h in svc.host_list(a, role="web").items] == ["hp1"]
    assert [h.name for h in svc.host_list(a, role="dns").items] == ["hp1", "hp2"]
    assert [h.name for h in svc.host_list(a, state="draining").items] == ["hp2"]
    assert svc.host_list(a, role="mail", state="active").total == 0
    assert svc.host_list(a).total == 2
    svc.host_delete(a, one.id)
    assert [h.name for h in svc.host_list(a).items] == ["hp2"]
    assert [e.action for e in _audit("host.")][-3:] == ["host.register", "host.update", "host.delete"]
