"""Moving a mail domain (issue 21) without a lab: who may ask, which hosts may take it, what is
refused while it moves, and the API and CLI surfaces. The move itself on real hosts:
test_mail_move_lab.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.mail import jobs as mail_jobs
from panel.capabilities.mail import moves
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailMove
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.hosts import Host
from panel.models.jobs import Job, JobHost
from panel.models.moves import MoveStatus
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.support.surfaces import api_headers

READY = {"mail_server_at": "2026-01-01T00:00:00+00:00"}


@pytest.fixture
def w(make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcmv")
    org, other = make.make_org("Ministry A"), make.make_org("Ministry B")
    old = make.make_host("mold", roles=["mail"], capacities={"mailboxes": 10}, facts=READY)
    new = make.make_host("mnew", roles=["mail"], capacities={"mailboxes": 10}, facts=READY)
    bare = make.make_host("mbare", roles=["mail"], capacities={"mailboxes": 10})  # never set up
    web = make.make_host("wweb", roles=["web"], capacities={"sites": 10})
    dom = make.make_mail_domain(org, "a.gov.test", host=old)
    op_user = make.make_user(Role.OPERATOR, dc)
    return SimpleNamespace(
        org=org, other=other, old=old, new=new, bare=bare, web=web, dom=dom, op_user=op_user,
        op=make.actor_of(op_user), admin=make.actor_of(make.make_user(Role.ORG_ADMIN, org)),
        stranger=make.actor_of(make.make_user(Role.ORG_ADMIN, other)),
    )  # fmt: skip


def test_an_operator_moves_a_domain_as_one_job_on_both_hosts(w):
    m = moves.mail_domain_move(w.op, domain_id=w.dom.id)  # no host: the set-up mail host with room
    assert (m.from_host_id, m.to_host_id, m.status) == (w.old.id, w.new.id, MoveStatus.COPYING)
    with db.unit_of_work() as s:
        job = s.get(Job, m.job_id)
        hosts = sorted(s.scalars(select(JobHost.host_id).where(JobHost.job_id == job.id)))
        assert job.kind == "mail.domain_move" and job.params == {"domain_id": w.dom.id, "move_id": m.id}
    assert hosts == sorted([w.old.id, w.new.id])
    with pytest.raises(Conflict) as twice:
        moves.mail_domain_move(w.op, domain_id=w.dom.id)
    assert twice.value.key == "mail.domain_moving"
    # the domain takes no mailbox change while it moves
    with pytest.raises(Conflict) as refused:
        mail_svc.mailbox_create(
            w.admin, domain_id=w.dom.id, mailboxes=[{"local_part": "x", "password": "Tr0ub4dor&3-horse"}]
        )
    assert refused.value.key == "mail.domain_moving"
    assert [x.id for x in moves.mail_domain_moves(w.op, w.dom.id)] == [m.id]


def test_who_may_move_and_where(w):
    with pytest.raises(NotFound):  # another ministry's domain is not found
        moves.mail_domain_move(w.stranger, domain_id=w.dom.id)
    with pytest.raises(Forbidden):  # the ministry itself may not move it: hosts are the data center's
        moves.mail_domain_move(w.admin, domain_id=w.dom.id, host_id=w.new.id)
    for host, key in ((w.old, "mail.move_same_host"), (w.bare, "mail.host_invalid"), (w.web, "mail.host_invalid")):
        with pytest.raises(Invalid) as bad:
            moves.mail_domain_move(w.op, domain_id=w.dom.id, host_id=host.id)
        assert bad.value.key == key
    with pytest.raises(Invalid):
        moves.mail_domain_move(w.op, domain_id=w.dom.id, host_id="x")
    with db.unit_of_work() as s:
        assert s.scalars(select(MailMove)).all() == []


def test_a_move_waits_for_the_hosts_unfinished_mail_jobs(w):
    job = jobs_svc.job_submit(system_actor("cli", "t"), kind="mail.usage", org_id=None, host_ids=[w.old.id], params={})
    with pytest.raises(Conflict) as busy:
        moves.mail_domain_move(w.op, domain_id=w.dom.id, host_id=w.new.id)
    assert busy.value.key == "mail.host_busy" and busy.value.params["job"] == job.id


def test_api_and_cli(w, client, cli):
    headers = api_headers(w.op_user)
    r = client.post(f"/api/v1/mail/domains/{w.dom.id}/move", json={"host_id": w.new.id}, headers=headers)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["to_host_id"] == w.new.id and body["status"] == "copying"
    listed = client.get(f"/api/v1/mail/domains/{w.dom.id}/moves", headers=headers).get_json()
    assert [x["id"] for x in listed] == [body["id"]]
    again = client.post(f"/api/v1/mail/domains/{w.dom.id}/move", json={}, headers=headers)
    assert again.status_code == 409 and again.get_json()["key"] == "mail.domain_moving"
    bad = client.post(f"/api/v1/mail/domains/{w.dom.id}/move", json={"host_id": "x"}, headers=headers)
    assert bad.status_code == 422
    read = client.post(f"/api/v1/mail/domains/{w.dom.id}/move", json={}, headers=api_headers(w.op_user, "read"))
    assert read.status_code == 403
    out = cli("mail", "moves", "a.gov.test")
    assert out.exit_code == 0 and "copying" in out.output
    out = cli("mail", "move", "a.gov.test", "--to", "mnew")
    assert out.exit_code == 2 and "being moved" in out.output


def _boxes(dom, n: int) -> None:
    with db.unit_of_work() as s:
        for i in range(n):
            s.add(
                Mailbox(
                    org_id=dom.org_id, domain_id=dom.id, local_part=f"u{i}", quota_mb=100, status=MailboxStatus.ACTIVE
                )
            )


def _names(host) -> list[str]:
    with db.unit_of_work() as s:
        return sorted(d["name"] for d in mail_jobs.host_state(s, s.get(Host, host.id))["domains"])


def test_two_domains_leave_one_host_without_sharing_room_or_dropping_each_other(w, make):
    dom2 = make.make_mail_domain(w.org, "b.gov.test", host=w.old)
    _boxes(w.dom, 6)
    _boxes(dom2, 6)
    first = moves.mail_domain_move(w.op, domain_id=w.dom.id, host_id=w.new.id)
    # the first domain's 6 mailboxes count on mnew while they are copied there: 6 more do not fit
    with pytest.raises(Conflict) as full:
        moves.mail_domain_move(w.op, domain_id=dom2.id, host_id=w.new.id)
    assert full.value.key == "host.full"
    with db.unit_of_work() as s:
        s.get(Host, w.new.id).capacities = {"mailboxes": 20}
    second = moves.mail_domain_move(
        w.op, domain_id=dom2.id, host_id=w.new.id
    )  # another move is no mail job to wait for
    # both copies succeeded (rows switched), the first is cleaning mold: that clean-up's state drops
    # only its own domain; the second still leaves from mold until its own clean-up
    with db.unit_of_work() as s:
        for m, status in ((first, MoveStatus.CLEANING), (second, MoveStatus.SWITCHING)):
            row = s.get(MailMove, m.id)
            row.status = status
            s.get(MailDomain, row.domain_id).host_id = w.new.id
    assert _names(w.old) == ["a.gov.test", "b.gov.test"] and _names(w.new) == ["a.gov.test", "b.gov.test"]
    with db.unit_of_work() as s:
        cleanup = mail_jobs.host_state(s, s.get(Host, w.old.id), without_domain_ids=(w.dom.id,))
    assert [d["name"] for d in cleanup["domains"]] == ["b.gov.test"]
    with db.unit_of_work() as s:
        s.get(MailMove, first.id).status = MoveStatus.DONE
        s.get(MailMove, second.id).status = MoveStatus.DONE
    assert _names(w.old) == [] and _names(w.new) == ["a.gov.test", "b.gov.test"]
