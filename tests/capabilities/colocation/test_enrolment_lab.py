"""Arrival to enrolment against a real lab host (colo1, an arriving ministry server running sshd):
hand-over pins the key the host presents when it is the fingerprint the ministry declared, and a
server presenting another key is refused and stays powered, with no host registered."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.colocation import servers as srv
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import ColoServer, ServerStatus
from panel.errors import Conflict, Forbidden, InvalidTransition, NotFound
from panel.models.audit import AuditEntry
from panel.models.hosts import Host, HostState
from panel.models.tenants import OrgKind, Role
from panel.services import hosts
from panel.services import requests as req_svc
from provisioners import lab as L
from tests.capabilities.colocation.conftest import LIMITS, build_floor
from tests.hosts.conftest import change_host_key, keyscan, openssh_fingerprint
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.fixtures import set_limit

pytestmark = pytest.mark.lab

HOSTS = suite_hosts("colocation")


@pytest.fixture
def settings(settings):
    """The panel reaches lab hosts with the lab key (config.example.yaml does the same)."""
    return dataclasses.replace(settings, ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())))


@pytest.fixture(scope="session")
def colo_lab():
    with own_lab_hosts(HOSTS) as started:
        yield started


@pytest.fixture
def arrived(colo_lab, make):
    """colo1 pristine, and ministry A's approved reservation whose one IPv4 address is colo1's."""
    host = L.host_reset("colo1")
    assert_lab_route(host.ip)
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    a, b = make.make_org("Ministry A"), make.make_org("Ministry B")
    u = SimpleNamespace(
        a=make.make_user(Role.ORG_ADMIN, a, username="colo_a"),
        b=make.make_user(Role.ORG_ADMIN, b, username="colo_b"),
        op=make.make_user(Role.OPERATOR, dc, username="colo_op1"),
    )
    for resource, limit in LIMITS.items():
        set_limit(a.id, resource, limit)
    # the floor's address pool is the /29 around colo1; its first assignable address (network + 2) is colo1's
    pool = ipaddress.ip_network(f"{host.ip}/29", strict=False)
    assert str(pool.network_address + 2) == host.ip, "colo1's number must be the pool's first assignable"
    build_floor(v4=str(pool))
    req = svc.colocation_request(make.actor_of(u.a), org_id=a.id, u_count=1, max_w=300, ipv4=1, label="colo1")
    req_svc.request_approve(make.actor_of(u.op), req.id)
    (res,) = svc.reservation_list(make.actor_of(u.a)).items
    assert svc.reservation_get(make.actor_of(u.a), res.id).addresses == [host.ip]
    return SimpleNamespace(host=host, a=a, b=b, u=u, res=res, op=make.actor_of(u.op, "cli"), actor=make.actor_of)


def _to_powered(op, server_id: int) -> None:
    for step in ("racked", "cabled", "powered"):
        srv.server_advance(op, server_id=server_id, status=step)


def _hosts() -> list[Host]:
    with db.unit_of_work() as s:
        s.expire_all()
        return list(s.scalars(select(Host)))


def test_hand_over_pins_the_servers_own_key(arrived):
    x, op = arrived, arrived.op
    kind, blob = keyscan(x.host.ip)
    declared = openssh_fingerprint(kind, blob)
    server = srv.server_receive(
        op, reservation_id=x.res.id, name="colo1", address=x.host.ip, serial="SN-0001", fingerprint=declared
    )
    assert server.status == ServerStatus.RECEIVED and server.org_id == x.a.id
    # not before it is powered, and only in order
    with pytest.raises(Conflict) as e:
        srv.server_hand_over(op, server_id=server.id, management="customer")
    assert e.value.key == "colocation.server_not_powered"
    with pytest.raises(InvalidTransition):
        srv.server_advance(op, server_id=server.id, status="cabled")
    _to_powered(op, server.id)
    # the ministry sees its server but does not move it; another ministry does not see it at all
    assert [s.id for s in srv.server_list(x.actor(x.u.a)).items] == [server.id]
    with pytest.raises(Forbidden):
        srv.server_hand_over(x.actor(x.u.a), server_id=server.id, management="customer")
    with pytest.raises(NotFound):
        srv.server_get(x.actor(x.u.b), server.id)
    assert srv.server_list(x.actor(x.u.b)).total == 0

    done = srv.server_hand_over(op, server_id=server.id, management="customer")
    assert done.status == ServerStatus.HANDED_OVER and done.management.value == "customer"
    (host,) = _hosts()
    on_host = L.host_exec("colo1", "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()
    assert (host.host_key_type, host.host_key) == (kind, blob) == tuple(on_host[:2])
    assert host.fingerprint == declared and host.name == "colo1" and host.address == x.host.ip
    assert host.roles == frozenset()  # customer-managed: inventory only, nothing is placed on it
    assert done.host_id == host.id
    with db.unit_of_work() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "colocation.server_hand_over")).one()
        assert entry.object_id == str(server.id) and entry.org_id == x.a.id
        assert json.loads(entry.summary)["management"] == "customer"
    # the pinned key is what the core's probe now holds it to: a server rebuilt behind our back is refused
    assert hosts.host_probe(op, host.id).ok
    change_host_key("colo1")
    result = hosts.host_probe(op, host.id)
    assert result.reachable and result.key_matches is False and not result.ok
    (host,) = _hosts()
    assert host.state == HostState.DOWN and host.key_mismatch_at is not None


def test_a_changed_key_is_refused_at_hand_over(arrived):
    """The ministry declared its server's key; the machine on the address presents another one (a
    swapped or reinstalled server): hand-over is refused, nothing is pinned, the server stays powered.
    Once the server presents the declared key again, hand-over succeeds (as a hosting server)."""
    x, op = arrived, arrived.op
    declared = openssh_fingerprint(*keyscan(x.host.ip))
    server = srv.server_receive(op, reservation_id=x.res.id, name="colo1", address=x.host.ip, fingerprint=declared)
    _to_powered(op, server.id)
    change_host_key("colo1")
    presented = openssh_fingerprint(*keyscan(x.host.ip))
    assert presented != declared
    with pytest.raises(Conflict) as e:
        srv.server_hand_over(op, server_id=server.id, management="hosting", roles=["web"])
    assert e.value.key == "host.fingerprint_mismatch" and e.value.params["presented"] == presented
    assert _hosts() == []
    with db.unit_of_work() as s:
        s.expire_all()
        left = s.get(ColoServer, server.id)
        assert left.status == ServerStatus.POWERED and left.host_id is None
    L.host_reset("colo1")  # the declared server back (the lab image's own key)
    done = srv.server_hand_over(op, server_id=server.id, management="hosting", roles=["web"])
    (host,) = _hosts()
    assert host.fingerprint == declared and host.roles == {"web"} and done.management.value == "hosting"
    # the ministry moves out: its decommission, once approved, takes the enrolled host out of the inventory
    req = srv.decommission_request(x.actor(x.u.a), reservation_id=x.res.id, reason="moved")
    assert [h.id for h in _hosts()] == [host.id]  # nothing before the approval
    req_svc.request_approve(op, req.id)
    assert _hosts() == []
    with db.unit_of_work() as s:
        s.expire_all()
        left = s.get(ColoServer, server.id)
        assert left.status == ServerStatus.RETIRED and left.retired_host == "colo1" and left.host_id is None
    assert svc.reservation_get(x.actor(x.u.a), x.res.id).addresses == []
