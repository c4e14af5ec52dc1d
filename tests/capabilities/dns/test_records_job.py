"""Records that sites and mail publish reach BIND through a `dns.records_apply` job, never inside
the request that changed them (issue 14): the publishing transaction only writes rows and one
pending job per zone; a DNS host that is down means no job, pending rows and a zone that says why,
while the caller's change stands. (Sending the job's update to a real BIND: test_site_records.)"""

from __future__ import annotations

import socket

from sqlalchemy import select

from panel import db
from panel.capabilities.dns import service as svc
from panel.capabilities.dns.models import Record, Zone, ZoneStatus
from panel.jobs import capabilities as job_kinds
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job, JobStatus
from panel.services.actor import system_actor

A = [{"name": "shop", "type": "A", "data": "192.0.2.12"}]
B = [{"name": "blog", "type": "A", "data": "192.0.2.13"}]


def _zone(make, state=HostState.ACTIVE) -> Zone:
    org = make.make_org()
    with db.unit_of_work() as s:
        host = Host(
            name=f"ns-{org.id}", address="192.0.2.53", host_key_type="ssh-ed25519", host_key="AAAA", fingerprint="t"
        )
        host.roles = {"dns"}
        host.state = state
        s.add(host)
        s.flush()
        zone = Zone(org_id=org.id, name=f"z{org.id}.gov.test", status=ZoneStatus.ACTIVE, host_id=host.id)
        s.add(zone)
        s.flush()
        return zone


def _jobs() -> list[Job]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Job).where(Job.kind == "dns.records_apply").order_by(Job.id)))


def test_publishing_writes_rows_and_one_job_per_zone_and_sends_nothing(make, monkeypatch):
    zone = _zone(make)
    sent = []

    def connect(sock, address):
        sent.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    worker = system_actor("worker")
    with db.unit_of_work():  # an approval publishing for two sites in one transaction
        svc.records_publish(worker, org_id=zone.org_id, fqdn=f"shop.{zone.name}", source="site:1", records=A)
        svc.records_publish(worker, org_id=zone.org_id, fqdn=f"blog.{zone.name}", source="site:2", records=B)
    assert sent == [], "no network I/O in the publishing request"
    [job] = _jobs()
    assert (job.status, job.params, job.org_id) == (JobStatus.PENDING, {"zone_id": zone.id}, zone.org_id)
    assert job_kinds.get("dns.records_apply").local is not None  # run by the worker, no playbook
    with db.unit_of_work() as s:
        rows = s.scalars(select(Record).where(Record.zone_id == zone.id)).all()
        assert len(rows) == 2 and all(r.applied_at is None for r in rows)  # pending until the job sends them
    assert svc.records_withdraw(worker, source="site:1") == 1
    assert len(_jobs()) == 2, "another transaction, another job"
    # publishing again exactly what is already applied sends nothing
    with db.unit_of_work() as s:
        for r in s.scalars(select(Record).where(Record.zone_id == zone.id)):
            r.applied_at = db.utcnow()
    svc.records_publish(worker, org_id=zone.org_id, fqdn=f"blog.{zone.name}", source="site:2", records=B)
    assert len(_jobs()) == 2


def test_a_down_dns_host_leaves_the_rows_pending_and_the_change_standing(make):
    zone = _zone(make, state=HostState.DOWN)
    got = svc.records_publish(
        system_actor("worker"), org_id=zone.org_id, fqdn=f"shop.{zone.name}", source="site:1", records=A
    )
    assert got.id == zone.id and _jobs() == []
    with db.unit_of_work() as s:
        assert "down" in s.get(Zone, zone.id).last_error
        [row] = s.scalars(select(Record).where(Record.zone_id == zone.id)).all()
        assert row.applied_at is None and row.source == "site:1"


def test_the_job_of_a_zone_no_longer_served_ends_without_sending(make):
    zone = _zone(make)
    with db.unit_of_work() as s:
        s.get(Zone, zone.id).status = ZoneStatus.DELETING
    result = job_kinds.get("dns.records_apply").local({"zone_id": zone.id}, lambda: False, lambda e: None)
    assert result.ok and "nothing to send" in result.explanation
