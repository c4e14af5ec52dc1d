"""Giving up a failed dns.zone_create request (no BIND: the jobs are only submitted and failed
here; BIND's side of zone_delete is tests/capabilities/dns/test_zone_flow.py): the budget is freed
by the cancel, a dns.zone_delete clean-up job removes whatever the create left in BIND, and when it
succeeds the zone row goes (the name is free); a failed clean-up leaves the zone failed."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim, Zone, ZoneStatus
from panel.jobs import capabilities, runner
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.tenants import OrgKind, Role
from panel.services import quotas, requests
from provisioners.base import Result

NAME = "giveup.gov.test"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, dns=dataclasses.replace(settings.dns, primary_host="nsgive"))


@pytest.fixture
def zw(booted, make):
    with db.unit_of_work() as s:
        host = Host(name="nsgive", address="10.77.0.249", host_key_type="ssh-ed25519", host_key="AAAA",
                    fingerprint="SHA256:z")  # fmt: skip
        host.roles = ["dns"]
        s.add(host)
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcz")
    org = make.make_org("Ministry", slug="minz")
    with db.unit_of_work() as s:
        s.add(DomainClaim(org_id=org.id, domain=NAME, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()))
    admin = make.actor_of(make.make_user(Role.ORG_ADMIN, org))
    op = make.actor_of(make.make_user(Role.OPERATOR, dc))
    return admin, op, org


def failed_zone(zw):
    admin, op, org = zw
    req = requests.request_create(admin, kind="dns.zone_create", org_id=org.id, payload={"name": NAME})
    requests.request_approve(op, req.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
    runner.fail_with_error(job.id, "test: BIND refused", cap=capabilities.get("dns.zone_create"))
    return req


def cleanup_job() -> Job:
    with db.unit_of_work() as s:
        return s.scalars(select(Job).where(Job.kind == "dns.zone_delete", Job.request_id.is_(None))).one()


def test_cancelling_a_failed_zone_request_cleans_up_and_frees_the_name(zw):
    admin, _op, org = zw
    req = failed_zone(zw)
    assert {r.resource: r.used for r in quotas.quota_usage(admin, org.id)}["dns_zones"] == 1
    requests.request_cancel(admin, req.id)
    assert {r.resource: r.used for r in quotas.quota_usage(admin, org.id)}["dns_zones"] == 0
    job = cleanup_job()
    assert job.params["zone_name"] == NAME and job.params["previous"] == "failed"
    with db.unit_of_work() as s:
        assert s.scalars(select(Zone).where(Zone.name == NAME)).one().status == ZoneStatus.DELETING
    # the job's success (what BIND's side reports) removes the row: the name can be asked again
    with db.unit_of_work() as s:
        capabilities.get("dns.zone_delete").on_success(s.get(Job, job.id), s, Result(status="successful", rc=0))
    with db.unit_of_work() as s:
        assert s.scalars(select(Zone).where(Zone.name == NAME)).first() is None
    again = requests.request_create(admin, kind="dns.zone_create", org_id=org.id, payload={"name": NAME})
    assert again.status.value == "submitted"


def test_a_failed_clean_up_leaves_the_zone_failed(zw):
    admin, _op, _org = zw
    requests.request_cancel(admin, failed_zone(zw).id)
    runner.fail_with_error(cleanup_job().id, "test: host down", cap=capabilities.get("dns.zone_delete"))
    with db.unit_of_work() as s:
        zone = s.scalars(select(Zone).where(Zone.name == NAME)).one()
    assert zone.status == ZoneStatus.FAILED  # not active: it never was
    assert cleanup_job().status == JobStatus.ERROR
