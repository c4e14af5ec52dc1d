"""A small floor (one site, one room, two racks on two feeds, a switch, two prefixes), two ministries
with an org_admin each, and two DC operators (the four-eyes rule: nobody approves their own request)."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from panel import db
from panel.capabilities.colocation import service as svc
from panel.errors import PanelError
from panel.models.tenants import OrgKind, Role
from panel.services import requests as req_svc
from panel.services.actor import system_actor
from tests.support.fixtures import set_limit

SYSTEM = system_actor()
LIMITS = {"colo_units": 40, "colo_power_w": 20000, "colo_ports": 20, "colo_addresses": 40}


def build_floor(*, racks: int = 2, height: int = 10, amperage: int = 16, ports: int = 4, v4: str = "10.85.0.248/29"):
    site = svc.site_create(SYSTEM, name="DC1")
    room = svc.room_create(SYSTEM, site_id=site.id, name="Hall A")
    panel = svc.panel_create(SYSTEM, site_id=site.id, name="PP1")
    fa = svc.feed_create(SYSTEM, panel_id=panel.id, name="A1", voltage=230, amperage=amperage, max_utilisation=80)
    fb = svc.feed_create(SYSTEM, panel_id=panel.id, name="B1", voltage=230, amperage=amperage, max_utilisation=80)
    rack_ids = [
        svc.rack_create(
            SYSTEM, room_id=room.id, name=f"R{i + 1}", height_u=height, depth_mm=800, feed_a_id=fa.id, feed_b_id=fb.id
        ).id
        for i in range(racks)
    ]
    switch = svc.switch_create(SYSTEM, room_id=room.id, name="SW1", ports=ports, speed_mbps=1000, medium="copper")
    p4 = svc.prefix_create(SYSTEM, site_id=site.id, cidr=v4, vlan=100)
    p6 = svc.prefix_create(SYSTEM, site_id=site.id, cidr="fd00:85::/120", vlan=100)
    return SimpleNamespace(site=site, room=room, feed_a=fa, feed_b=fb, racks=rack_ids, switch=switch, p4=p4, p6=p6)


@pytest.fixture
def colo(make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    a, b = make.make_org("Ministry A"), make.make_org("Ministry B")
    users = SimpleNamespace(
        a=make.make_user(Role.ORG_ADMIN, a, username="colo_a"),
        b=make.make_user(Role.ORG_ADMIN, b, username="colo_b"),
        op1=make.make_user(Role.OPERATOR, dc, username="colo_op1"),
        op2=make.make_user(Role.OPERATOR, dc, username="colo_op2"),
        admin=make.make_user(Role.ADMIN, dc, username="colo_admin"),
    )
    for org in (a, b):
        for resource, limit in (
            ("colo_units", 40),
            ("colo_power_w", 20000),
            ("colo_ports", 20),
            ("colo_addresses", 40),
        ):
            set_limit(org.id, resource, limit)
    floor = build_floor()
    return SimpleNamespace(a=a, b=b, dc=dc, u=users, floor=floor, actor=make.actor_of)


def race_approvals(world, *pairs) -> dict[int, str]:
    """Operators approve requests at the same moment, each in a thread of its own (and so a session
    of its own): race_approvals(colo, ("op1", r1), ("op2", r2)) -> {request id: "approved" or the
    refusal's key}."""
    barrier = threading.Barrier(len(pairs))
    outcome: dict[int, str] = {}

    def run(who, req):
        actor = world.actor(getattr(world.u, who))
        barrier.wait()
        try:
            req_svc.request_approve(actor, req.id)
            outcome[req.id] = "approved"
        except PanelError as e:
            outcome[req.id] = e.key
        finally:
            db.remove()

    threads = [threading.Thread(target=run, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcome
