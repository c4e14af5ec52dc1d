"""Draining a host (issue 21): the host becomes draining and every site it holds gets a move job to
another web host, never past a host's capacity (sites already on their way count); a site that
cannot move says why and stays; a dry run answers the same plan and changes nothing; ministries
do not see hosts. The moves themselves are tested in tests/capabilities/sites/test_move*.py."""

from __future__ import annotations

import json

import pyotp
import pytest
from sqlalchemy import func, select

from panel import db
from panel.capabilities.mail.models import MailDomain, MailDomainStatus, MailMove
from panel.capabilities.sites.models import SiteMove, SiteStatus
from panel.errors import PanelError
from panel.models.audit import AuditEntry
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job
from panel.models.tenants import Role
from panel.services import drain
from tests.support.fixtures import login_as, post_form, token_for  # noqa: F401 - fixtures

PHP = {"php_versions": ["8.2"]}


@pytest.fixture
def floor(make):
    a = make.make_org("Ministry A")
    old = make.make_host("drold", roles=["web"], capacities={"sites": 10}, facts=PHP)
    small = make.make_host("drsmall", roles=["web"], capacities={"sites": 2}, facts=PHP)
    big = make.make_host("drbig", roles=["web"], capacities={"sites": 4}, facts=PHP)
    plan = make.make_plan("basic")
    make.make_site(a, "busy.a.gov.test", host=big, plan=plan)  # big: 3 free, small: 2 free
    sites = [make.make_site(a, f"s{i}.a.gov.test", host=old, plan=plan) for i in range(5)]
    failed = make.make_site(a, "broken.a.gov.test", host=old, plan=plan, status=SiteStatus.FAILED)
    op = make.make_user(Role.OPERATOR)
    return {"old": old, "small": small, "big": big, "sites": sites, "failed": failed, "a": a, "op": op}


def counts() -> tuple[int, int, str]:
    with db.unit_of_work() as s:
        state = s.scalar(select(Host.state).where(Host.name == "drold"))
        return s.scalar(select(func.count(SiteMove.id))), s.scalar(select(func.count(Job.id))), state


def test_dry_run_plans_within_capacity_and_changes_nothing(floor, make):
    report = drain.host_drain(make.actor_of(floor["op"]), floor["old"].id, dry_run=True)
    assert report.dry_run and report.host == "drold"
    planned = [(i.name, i.to_host) for i in report.items if not i.error]
    assert len(planned) == 5
    by_host = {h: sum(1 for _n, t in planned if t == h) for h in ("drbig", "drsmall")}
    assert by_host == {"drbig": 3, "drsmall": 2}  # 4 - 1 already there, and 2
    stays = [i for i in report.items if i.error]
    assert [i.name for i in stays] == ["broken.a.gov.test"] and "failed" in stays[0].error
    assert counts() == (0, 0, HostState.ACTIVE)


def test_drain_sets_draining_and_submits_one_move_each(floor, make):
    report = drain.host_drain(make.actor_of(floor["op"]), floor["old"].id, limit=3)
    assert report.state == "draining" and report.moving == 3 and report.left == 3
    moves, jobs, state = counts()
    assert (moves, jobs, state) == (3, 3, HostState.DRAINING)
    with db.unit_of_work() as s:
        kinds = set(s.scalars(select(Job.kind)))
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "host.drain")).one()
    assert kinds == {"sites.site_move"} and json.loads(entry.summary) == {"moving": 3, "stay": 0, "left": 3}
    # the next call moves the rest that can go: the ones already moving are not moved twice
    report = drain.host_drain(make.actor_of(floor["op"]), floor["old"].id)
    assert report.moving == 2 and all(i.error.startswith("The site is") for i in report.items if i.error)
    assert counts()[0] == 5
    # no room is left anywhere now: one more site finds none
    third = drain.host_drain(make.actor_of(floor["op"]), floor["old"].id)
    assert third.moving == 0


def test_who_may_drain(floor, make, cli, token_for, app):
    ministry = make.make_user(Role.ORG_ADMIN, floor["a"])
    with pytest.raises(PanelError) as exc:
        drain.host_drain(make.actor_of(ministry), floor["old"].id, dry_run=True)
    assert exc.value.status == 404
    with pytest.raises(PanelError) as exc:
        drain.host_drain(make.actor_of(make.make_user(Role.AUDITOR)), floor["old"].id)
    assert exc.value.status == 403
    c = app.test_client()
    hid = floor["old"].id
    r = c.post(f"/api/v1/hosts/{hid}/drain", json={"dry_run": True}, headers=token_for(floor["op"]))
    assert r.status_code == 200 and r.json["dry_run"] and len(r.json["items"]) == 6 and r.json["moving"] == 5
    r = c.post(f"/api/v1/hosts/{hid}/drain", json={}, headers=token_for(floor["op"], scope="read"))
    assert r.status_code == 403 and counts() == (0, 0, HostState.ACTIVE)
    r = c.post(f"/api/v1/hosts/{hid}/drain", json={"limit": 0}, headers=token_for(floor["op"]))
    assert r.status_code == 422
    out = cli("hosts", "drain", "drold", "--dry-run")
    assert out.exit_code == 0 and "would move 5, 1 stay" in out.output, out.output
    out = cli("hosts", "drain", "nosuch")
    assert out.exit_code == 2 and "host.not_found" in out.output
    out = cli("hosts", "drain", "drold")
    assert out.exit_code == 0 and "drold is draining: moving 5" in out.output, out.output
    assert counts()[0] == 5


def test_web_plan_then_drain(floor, make, login_as):
    secret = pyotp.random_base32()
    staff = make.make_user(Role.OPERATOR, totp_secret=secret)
    staff.plain_secret = secret
    web = login_as(staff)
    hid = floor["old"].id
    page = web.get(f"/hosts/{hid}").get_data(as_text=True)
    assert "Drain this host" in page
    r = post_form(web, f"/hosts/{hid}/drain", {"dry_run": "1"}, page=f"/hosts/{hid}")
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "5 would move" in text and "s4.a.gov.test" in text and "drbig" in text
    assert counts() == (0, 0, HostState.ACTIVE)
    r = post_form(web, f"/hosts/{hid}/drain", {}, page=f"/hosts/{hid}")
    assert r.status_code == 200 and "5 moves started" in r.get_data(as_text=True)
    assert counts() == (5, 5, HostState.DRAINING)


def test_a_drain_moves_mail_domains_too(floor, make):
    """A host with web and mail roles: its sites go to web hosts, its mail domains to mail hosts,
    each through its capability's move (one `mail.domain_move` job on both hosts)."""
    ready = {**PHP, "mail_server_at": "2026-01-01T00:00:00+00:00"}
    with db.unit_of_work() as s:
        old = s.get(Host, floor["old"].id)
        old.roles, old.facts = {"web", "mail"}, ready
        old.capacities = {"sites": 10, "mailboxes": 10}
    mail = make.make_host("drmail", roles=["mail"], capacities={"mailboxes": 10}, facts=ready)
    dom = make.make_mail_domain(floor["a"], "a.gov.test", host=floor["old"])
    pending = make.make_mail_domain(floor["a"], "p.gov.test", host=floor["old"], status=MailDomainStatus.PENDING)
    op = make.actor_of(floor["op"])
    plan = drain.host_drain(op, floor["old"].id, dry_run=True)
    mails = [(i.kind, i.name, i.to_host, i.error) for i in plan.items if i.kind == "mail_domain"]
    assert mails[0] == ("mail_domain", "a.gov.test", "drmail", "")
    assert mails[1][:3] == ("mail_domain", "p.gov.test", "") and "not active" in mails[1][3]
    assert plan.moving == 6 and counts() == (0, 0, HostState.ACTIVE)
    report = drain.host_drain(op, floor["old"].id)
    assert report.moving == 6
    with db.unit_of_work() as s:
        move = s.scalars(select(MailMove)).one()
        job = s.get(Job, move.job_id)
        assert (move.domain_id, move.from_host_id, move.to_host_id) == (dom.id, floor["old"].id, mail.id)
        assert job.kind == "mail.domain_move" and sorted(job.host_ids) == sorted([floor["old"].id, mail.id])
        assert s.scalar(select(func.count(SiteMove.id))) == 5
        assert s.get(MailDomain, pending.id).host_id == floor["old"].id
        audited = set(s.scalars(select(AuditEntry.action)))
    assert {"host.drain", "site.move", "mail_domain.move"} <= audited
