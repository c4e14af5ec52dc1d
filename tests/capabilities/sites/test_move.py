"""Moving a site to another host (issue 21, drain a host): who may, the placement checks on the new
host, the jobs in order and what each outcome does to the site, its DNS records and the move. The
jobs end here through the runner's own finish() with a given result (no host contacted); the lab
test (test_move_lab.py) runs them for real."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns.models import Record, RecordState, Zone, ZoneStatus
from panel.capabilities.sites import moves
from panel.capabilities.sites.models import Site, SiteMove
from panel.errors import PanelError
from panel.jobs import capabilities, resilience, runner
from panel.models.audit import AuditEntry
from panel.models.hosts import HostState
from panel.models.jobs import Job
from panel.models.moves import MoveStatus
from panel.models.tenants import Role
from panel.services import requests
from provisioners.base import Result
from tests.support.fixtures import login_as, post_form, token_for  # noqa: F401 - fixtures

PHP = {"php_versions": ["8.2"]}


@pytest.fixture
def hosts(make):
    old = make.make_host("mvold", roles=["web"], capacities={"sites": 10}, facts=PHP, address="198.51.100.11")
    new = make.make_host("mvnew", roles=["web"], capacities={"sites": 10}, facts=PHP, address="198.51.100.12")
    return old, new


@pytest.fixture
def site(world, hosts, make):
    return make.make_site(world.a, "www.a.gov.test", host=hosts[0], plan=make.make_plan("basic"), system_user="site7")


def move_row(move_id: int) -> SiteMove:
    with db.unit_of_work() as s:
        return s.get(SiteMove, move_id, populate_existing=True)


def site_row(site_id: int) -> Site:
    with db.unit_of_work() as s:
        return s.get(Site, site_id, populate_existing=True)


def end(job_id: int, ok: bool, explanation: str = "") -> None:
    """The job ends as a worker ends it: claimed, then finished with this outcome (hooks, signals),
    inside the job's log context as a worker runs it (the claim sets the log's request id; outside
    it, the id stayed behind and tests/core/test_logs.py found it)."""
    with resilience.job_context(job_id):
        assert runner.claim(job_id) == runner.CLAIMED
        with db.unit_of_work() as s:
            kind = s.get(Job, job_id).kind
        status = "successful" if ok else "failed"
        runner.finish(job_id, Result(status, 0 if ok else 2, explanation=explanation), capabilities.get(kind))


def job(job_id: int) -> Job:
    with db.unit_of_work() as s:
        return s.get(Job, job_id, populate_existing=True)


def test_only_operators_move_and_the_job_runs_on_both_hosts(world, site, hosts):
    with pytest.raises(PanelError) as exc:
        moves.site_move(world.wa, site_id=site.id, host_id=hosts[1].id)
    assert exc.value.status == 403
    m = moves.site_move(world.op, site_id=site.id, host_id=hosts[1].id)
    assert (m.from_host_id, m.to_host_id, m.status) == (hosts[0].id, hosts[1].id, MoveStatus.COPYING)
    j = job(m.job_id)
    assert j.kind == "sites.site_move" and sorted(j.host_ids) == sorted([hosts[0].id, hosts[1].id])
    assert site_row(site.id).busy_job_id == j.id and site_row(site.id).host_id == hosts[0].id
    with db.unit_of_work() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "site.move")).one().object_id == str(m.id)
    # no second move, and no other change of the site while it moves
    with pytest.raises(PanelError) as exc:
        moves.site_move(world.op, site_id=site.id, host_id=hosts[1].id)
    assert exc.value.key == "site.moving" and exc.value.status == 409
    with pytest.raises(PanelError) as exc:
        requests.request_create(world.wa, kind="sites.site_suspend", org_id=world.a.id, payload={"site_id": site.id})
    assert exc.value.key == "site.moving"


def test_placement_checks_on_the_new_host(world, site, hosts, make):
    def refused(host_id):
        with pytest.raises(PanelError) as exc:
            moves.site_move(world.op, site_id=site.id, host_id=host_id)
        return exc.value.key

    assert refused(hosts[0].id) == "site.move_same_host"
    mail = make.make_host("mvmail", roles=["mail"], facts=PHP)
    assert refused(mail.id) == "site.host_invalid"
    nophp = make.make_host("mvphp", roles=["web"], facts={"php_versions": ["8.1"]})
    assert refused(nophp.id) == "site.php_unavailable"
    full = make.make_host("mvfull", roles=["web"], capacities={"sites": 1}, facts=PHP)
    make.make_site(world.b, "x.b.gov.test", host=full)
    assert refused(full.id) == "host.full"
    with db.unit_of_work() as s:
        s.get(type(hosts[1]), hosts[1].id).state = HostState.MAINTENANCE
    assert refused(hosts[1].id) == "host.not_active"
    # nowhere else to go: the automatic choice never picks the host the site is on
    assert refused(None) == "site.no_capacity"
    with db.unit_of_work() as s:
        assert s.query(SiteMove).count() == 0 and s.query(Job).count() == 0


def test_automatic_choice_is_another_host(world, site, hosts):
    m = moves.site_move(world.op, site_id=site.id)
    assert m.to_host_id == hosts[1].id


def test_no_dns_zone_copy_then_clean_up_the_old_host(world, site, hosts):
    m = moves.site_move(world.op, site_id=site.id, host_id=hosts[1].id)
    end(m.job_id, ok=True)
    m = move_row(m.id)
    assert m.status == MoveStatus.CLEANING and site_row(site.id).host_id == hosts[1].id
    cleanup = job(m.job_id)
    assert cleanup.kind == "sites.site_move_cleanup" and cleanup.host_ids == [hosts[0].id]
    end(cleanup.id, ok=True)
    m = move_row(m.id)
    assert m.status == MoveStatus.DONE and m.finished_at is not None and site_row(site.id).busy_job_id is None


def test_a_failed_copy_leaves_the_site_on_the_old_host_and_clears_the_new_one(world, site, hosts):
    m = moves.site_move(world.op, site_id=site.id, host_id=hosts[1].id)
    end(m.job_id, ok=False, explanation="nginx -t failed: boom")
    m = move_row(m.id)
    assert m.status == MoveStatus.FAILED and "boom" in m.error
    row = site_row(site.id)
    assert row.host_id == hosts[0].id and "boom" in row.last_error
    undo = job(m.job_id)
    assert undo.kind == "sites.site_move_undo" and undo.host_ids == [hosts[1].id]
    end(undo.id, ok=True)
    assert site_row(site.id).busy_job_id is None
    # the site can be moved again
    again = moves.site_move(world.op, site_id=site.id, host_id=hosts[1].id)
    assert again.status == MoveStatus.COPYING


@pytest.fixture
def zone(world, make):
    dns = make.make_host("mvdns", roles=["dns"], address="198.51.100.53")
    with db.unit_of_work() as s:
        z = Zone(org_id=world.a.id, name="a.gov.test", status=ZoneStatus.ACTIVE, host_id=dns.id)
        s.add(z)
        s.flush()
        return z


def a_records(zone_id: int) -> set[tuple[str, str]]:
    with db.unit_of_work() as s:
        rows = s.scalars(select(Record).where(Record.zone_id == zone_id, Record.state == RecordState.PRESENT))
        return {(r.name, r.data) for r in rows if r.rtype == "A"}


def test_dns_is_switched_before_the_old_host_is_cleaned(world, site, hosts, zone):
    m = moves.site_move(world.op, site_id=site.id, host_id=hosts[1].id)
    end(m.job_id, ok=True)
    m = move_row(m.id)
    assert m.status == MoveStatus.SWITCHING and m.dns_job_id == m.job_id
    assert a_records(zone.id) == {("www.a.gov.test", "198.51.100.12")}
    assert job(m.dns_job_id).kind == "dns.records_apply"
    with db.unit_of_work() as s:  # nothing touches the old host until BIND has the new address
        assert not s.scalars(select(Job).where(Job.kind == "sites.site_move_cleanup")).first()
    end(m.dns_job_id, ok=True)
    m = move_row(m.id)
    assert m.status == MoveStatus.CLEANING and job(m.job_id).host_ids == [hosts[0].id]


def test_a_failed_dns_switch_points_the_records_back(world, site, hosts, zone):
    m = moves.site_move(world.op, site_id=site.id, host_id=hosts[1].id)
    end(m.job_id, ok=True)
    end(move_row(m.id).dns_job_id, ok=False, explanation="BIND refused the update")
    m = move_row(m.id)
    assert m.status == MoveStatus.FAILED and "BIND refused" in m.error
    assert site_row(site.id).host_id == hosts[0].id
    assert a_records(zone.id) == {("www.a.gov.test", "198.51.100.11")}
    assert job(m.job_id).kind == "sites.site_move_undo" and job(m.job_id).host_ids == [hosts[1].id]


def test_surfaces(world, site, hosts, login_as, token_for, cli, make):
    sid, new_id = site.id, hosts[1].id
    secret = pyotp.random_base32()
    staff = make.make_user(Role.OPERATOR, totp_secret=secret)
    staff.plain_secret = secret
    c = login_as(world.wa_user).application.test_client()
    r = c.post(f"/api/v1/sites/{sid}/move", json={"host_id": new_id}, headers=token_for(world.wa_user))
    assert r.status_code == 403
    op = token_for(world.op_user)
    r = c.post(f"/api/v1/sites/{sid}/move", json={"host_id": "x"}, headers=op)
    assert r.status_code == 422
    r = c.post(f"/api/v1/sites/{sid}/move", json={"host_id": sid + 10_000}, headers=op)
    assert r.status_code == 422 and r.json["key"] == "site.host_invalid"
    out = cli("sites", "move", str(sid), "--to", "nosuchhost", "--as", world.op_user.username)
    assert out.exit_code == 2 and "host.not_found" in out.output
    web = login_as(staff)
    page = web.get(f"/sites/{sid}").get_data(as_text=True)
    assert "mvnew" in page and "mvold" in page
    r = post_form(web, f"/sites/{sid}/move", {"move-host_id": str(new_id)}, page=f"/sites/{sid}")
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    r = c.get(f"/api/v1/sites/{sid}/moves", headers=op)
    assert r.status_code == 200 and [m["to_host_id"] for m in r.json] == [new_id]
    # the ministry's own site: its moves name hosts, which ministries do not see
    assert c.get(f"/api/v1/sites/{sid}/moves", headers=token_for(world.wa_user)).status_code == 403
    assert r.json[0]["status"] == "copying"
    out = cli("sites", "move", str(sid), "--to", "mvnew", "--as", world.op_user.username)
    assert out.exit_code == 2 and "site.moving" in out.output
    out = cli("sites", "moves", str(sid), "--as", world.op_user.username)
    assert out.exit_code == 0 and "copying" in out.output
