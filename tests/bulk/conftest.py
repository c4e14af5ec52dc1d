"""Bulk provisioning fixtures without the lab: two ministries (A owns a.gov.test, B owns b.gov.test),
a web host and a mail host (rows only), a plan, mail domains, hosted zones, an operator."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim, Zone, ZoneStatus
from panel.capabilities.mail.models import MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Plan
from panel.models.hosts import HostState
from panel.models.tenants import Role


@pytest.fixture
def world(make):
    a, b = make.make_org("Ministry A", slug="mina"), make.make_org("Ministry B", slug="minb")
    wa, wb = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    op, op2 = make.make_user(Role.OPERATOR), make.make_user(Role.OPERATOR)
    admin = make.make_user(Role.ADMIN)
    web = make.make_host(
        "web1",
        roles={"web"},
        capacities={"sites": 2000},
        address="10.87.0.250",
        facts={"php_versions": ["8.2"]},
        state=HostState.ACTIVE,
    )
    mx = make.make_host(
        "mx1", roles={"mail"}, address="10.87.0.251", facts={"mail_server_at": "2026-01-01"}, state=HostState.ACTIVE
    )
    with db.unit_of_work() as s:
        s.add(Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))
        s.add(Plan(name="large", disk_mb=2000, memory_mb=256, max_children=8, upload_mb=64))
        doms, zones = {}, {}
        for key, org in (("a", a), ("b", b)):
            s.add(
                DomainClaim(
                    org_id=org.id,
                    domain=f"{key}.gov.test",
                    token="t" * 32,
                    method=ClaimMethod.TXT,
                    verified_at=db.utcnow(),
                )
            )
            dom = MailDomain(
                org_id=org.id,
                name=f"{key}.gov.test",
                host_id=mx.id,
                dkim_selector="govhost",
                status=MailDomainStatus.ACTIVE,
                default_quota_mb=100,
            )
            zone = Zone(org_id=org.id, name=f"{key}.gov.test", status=ZoneStatus.ACTIVE)
            s.add_all([dom, zone])
            s.flush()
            doms[key], zones[key] = dom.id, zone.id
    return SimpleNamespace(
        a=a,
        b=b,
        wa=make.actor_of(wa),
        wb=make.actor_of(wb),
        op=make.actor_of(op),
        op2=make.actor_of(op2),
        admin=make.actor_of(admin),
        web=web,
        mx=mx,
        doms=doms,
        zones=zones,
        wa_user=wa,
        wb_user=wb,
        op_user=op,
    )
