"""`govhost lab demo`: starts the demo host, registers it once, re-pins only lab-image keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.models.audit import AuditEntry
from panel.models.hosts import Host, HostState
from panel.services import hosts as svc
from provisioners import lab as L
from tests.hosts.conftest import change_host_key, keyscan, openssh_fingerprint
from tests.lab.suites import suite_hosts

pytestmark = pytest.mark.lab
NAME, IP = "hpdemo", suite_hosts("hosts")["hpdemo"]


@pytest.fixture
def demo_cli(cli, monkeypatch, probe_lab):
    monkeypatch.setenv("GOVHOST_LAB__DEMO_HOST", NAME)
    monkeypatch.setenv("GOVHOST_ANSIBLE__SSH_KEY", str(L.lab_key_path()))
    monkeypatch.setenv("GOVHOST_LAB_DIR", str(L.lab_paths().cache))  # the command sets it; restore after
    L.hosts_down([NAME], forget=True)
    yield lambda: cli("lab", "demo", "--address", IP)
    L.hosts_down([NAME], forget=True)


def _hosts() -> list[Host]:
    with db.unit_of_work() as s:
        s.expire_all()
        return list(s.scalars(select(Host)))


def test_demo_starts_registers_and_is_idempotent(demo_cli):
    first = demo_cli()
    assert first.exit_code == 0, first.output
    fp = openssh_fingerprint(*keyscan(IP))
    assert fp in first.output and "probe ok" in first.output
    (host,) = _hosts()
    assert (host.name, host.address, host.state) == (NAME, IP, HostState.ACTIVE)
    assert host.roles == set(svc.ROLES) and host.fingerprint == fp and host.facts["hostname"] == NAME

    again = demo_cli()
    assert again.exit_code == 0, again.output
    assert [h.id for h in _hosts()] == [host.id]

    with db.unit_of_work() as s:  # as if the lab image had been rebuilt with new keys since
        s.get(Host, host.id).host_key = "AAAAC3NzaC1lZDI1NTE5AAAAIO" + "A" * 43
    assert demo_cli().exit_code == 0
    assert _hosts()[0].fingerprint == fp


def test_demo_refuses_a_host_that_is_not_the_lab_image(demo_cli):
    assert demo_cli().exit_code == 0
    change_host_key(NAME)
    r = demo_cli()
    assert r.exit_code == 2 and "not a key of the lab image" in " ".join(r.output.split())
    (host,) = _hosts()
    assert host.fingerprint != openssh_fingerprint(*keyscan(IP))
    with db.unit_of_work() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.action == "host.demo_ensure")))
    assert len(actions) == 1
