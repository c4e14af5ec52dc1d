"""The demo data center's floor (what `./scripts/demo` sets up): built once, kept on a second run,
and a ministry can be granted rack space on it at once."""

from __future__ import annotations

from panel.capabilities.colocation import service as svc
from panel.cli import demo
from panel.models.tenants import OrgKind, Role
from panel.services import requests as req_svc
from panel.services.actor import system_actor


def test_demo_floor_is_built_once_and_usable(make):
    root = system_actor()
    demo._floor(root)
    demo._floor(root)
    floor = svc.floor_get(root)
    assert floor.racks.total == 4 and floor.feeds.total == 2 and floor.prefixes.total == 2
    assert floor.feeds.items[0].capacity_w == 17736
    ministry = make.make_org("Demo ministry")
    admin = make.make_user(Role.ORG_ADMIN, ministry)
    op = make.make_user(Role.OPERATOR, make.make_org("DC", kind=OrgKind.DATACENTER))
    req = svc.colocation_request(
        make.actor_of(admin),
        org_id=ministry.id,
        u_count=2,
        max_w=600,
        psus=2,
        ab_feeds=True,
        ports=2,
        ipv4=2,
        ipv6=2,
        cross_connects=1,
        cross_connect_room_id=next(r.id for r in floor.rooms if r.name == "Meet-me room"),
    )
    req_svc.request_approve(make.actor_of(op), req.id)
    view = svc.reservation_get(make.actor_of(admin), svc.reservation_list(make.actor_of(admin)).items[0].id)
    assert view.addresses[:2] == ["192.0.2.2", "192.0.2.3"] and view.rack == "A01"
    assert view.cross_connects == ["Hall A / PP-A:F1 <-> Meet-me room / PP-MMR:F1 (fibre)"]
