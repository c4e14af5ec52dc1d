"""An operator's host override is checked against the host's capacity too: exceeding it needs an
explicit `exceed_capacity`, which the audited request records (issue 13: 305 sites on a 200 host)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.sites.models import Site, SiteStatus
from panel.errors import PanelError
from panel.models.audit import AuditEntry
from tests.capabilities.sites.test_surfaces import ask


@pytest.fixture
def small_host(world, make):
    """A web host with room for 3 sites, 2 of them taken."""
    h = make.make_host("small1", roles=["web"], capacities={"sites": 3}, facts={"php_versions": ["8.2"]})
    for i in range(2):
        make.make_site(world.b, f"s{i}.b.gov.test", host=h, plan=make.make_plan("basic"))
    return h


def test_override_within_capacity_is_placed(world, small_host):
    req = ask(world.op, world.a, "one.a.gov.test", host_id=small_host.id)
    assert req.target_host_id == small_host.id


def test_override_past_capacity_is_refused_without_exceed(world, small_host, cli):
    bulk = {"sites": [{"fqdn": "x1.a.gov.test"}, {"fqdn": "x2.a.gov.test"}]}
    with pytest.raises(PanelError) as exc:
        ask(world.op, world.a, "x.a.gov.test", host_id=small_host.id, **bulk)
    assert exc.value.key == "host.full" and exc.value.params["free"] == 1 and exc.value.status == 409
    out = cli("sites", "create", "y.a.gov.test", "--plan", "basic", "--org", str(world.a.id), "--host",
              str(small_host.id), "--as", world.op_user.username)  # fmt: skip
    assert out.exit_code == 0, out.output  # one more still fits
    with db.unit_of_work() as s:  # ... and is now there (its request approved)
        s.add(Site(org_id=world.a.id, fqdn="y.a.gov.test", plan_id=1, host_id=small_host.id, system_user="u9",
                   status=SiteStatus.REQUESTED))  # fmt: skip
    out = cli("sites", "create", "z.a.gov.test", "--plan", "basic", "--org", str(world.a.id), "--host",
              str(small_host.id), "--as", world.op_user.username)  # fmt: skip
    assert out.exit_code == 2 and "host.full" in out.output


def test_exceeding_is_explicit_and_audited(world, small_host):
    bulk = {"sites": [{"fqdn": "x1.a.gov.test"}, {"fqdn": "x2.a.gov.test"}]}
    req = ask(world.op, world.a, "x.a.gov.test", host_id=small_host.id, exceed_capacity=True, **bulk)
    assert req.target_host_id == small_host.id and req.payload["exceed_capacity"] is True
    with db.unit_of_work() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "request.create")).all()[-1]
    assert entry.actor_name == world.op_user.username and "exceed_capacity" in entry.summary
    with pytest.raises(PanelError) as exc:
        ask(world.op, world.a, "w.a.gov.test", exceed_capacity=True)
    assert exc.value.key == "host.exceed_without_host"
    with pytest.raises(PanelError) as exc:
        ask(world.op, world.a, "w.a.gov.test", host_id=small_host.id, exceed_capacity="yes")
    assert exc.value.key == "host.exceed_invalid"
