"""The whole zone path on real pieces: a ministry asks for a zone on the web, the API or the CLI,
staff approve, a real Huey consumer runs the zone.create job against the lab BIND, the zone answers
SOA/NS through the lab bridge, and zone.delete takes it off BIND and frees the dns_zones quota."""

from __future__ import annotations

import re

import dns.rcode
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim, Zone, ZoneStatus
from panel.models.jobs import Job, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from panel.services import quotas
from provisioners import lab as L
from tests.capabilities.dns.conftest import zone_name
from tests.hosts.conftest import api_token, post_form, web_login  # noqa: F401 - fixtures shared with the hosts suite
from tests.jobs.conftest import wait_job
from tests.support.clients import dns_query

pytestmark = pytest.mark.lab


def _verified_claim(org_id: int, domain: str) -> None:
    """Ownership is proven elsewhere (test_surfaces_live): here the claim is simply verified."""
    with db.unit_of_work() as s:
        s.add(
            DomainClaim(org_id=org_id, domain=domain, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow())
        )


def _request_zone(surface: str, user, org, name: str, *, client, cli, web_login, api_token) -> int:
    if surface == "api":
        r = client.post("/api/v1/dns/zones", headers=api_token(user), json={"org_id": org.id, "name": name})
        assert r.status_code == 202, r.get_json()
        return r.get_json()["request_id"]
    if surface == "web":
        web_login(user)
        r = post_form(client, "/dns/", {"org_id": org.id, "name": name})
        assert r.status_code == 302, r.get_data(as_text=True)[:2000]
        client.get("/logout")
        with db.unit_of_work() as s:
            return s.scalars(
                select(Request.id)
                .where(Request.kind == "dns.zone_create", Request.org_id == org.id)
                .order_by(Request.id.desc())
            ).first()
    r = cli("requests", "create", "dns.zone_create", "--org", org.slug, "--set", f"name={name}", "--as", user.username)
    assert r.exit_code == 0, r.output
    return int(re.search(r"request #(\d+)", r.output).group(1))


def _jobs_of(request_id: int) -> list[int]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Job.id).where(Job.request_id == request_id).order_by(Job.id)))


def _request(request_id: int) -> Request:
    with db.unit_of_work() as s:
        return s.get(Request, request_id, populate_existing=True)


def _zones_used(actor, org_id: int) -> int:
    return next(row.used for row in quotas.quota_usage(actor, org_id) if row.resource == "dns_zones")


def _rcode_and_answer(bind, name: str, rtype: str):
    msg = dns_query(bind.ip, name, rtype)
    return msg.rcode(), {rd.to_text() for rrset in msg.answer for rd in rrset}


@pytest.mark.parametrize("surface", ["web", "api", "cli"])
def test_zone_request_approve_job_serves_then_delete_frees_quota(
    surface, bind, dns_env, staff, make, consumer, client, cli, web_login, api_token
):
    org = make.make_org("Ministry Z")
    user = make.make_user(Role.ORG_ADMIN, org)
    actor = make.actor_of(user, surface)
    name = zone_name()
    _verified_claim(org.id, name)
    assert _rcode_and_answer(bind, name, "SOA")[0] == dns.rcode.REFUSED  # not served before

    req_id = _request_zone(surface, user, org, name, client=client, cli=cli, web_login=web_login, api_token=api_token)
    assert _request(req_id).status == RequestStatus.SUBMITTED and _jobs_of(req_id) == []
    assert _zones_used(actor, org.id) == 0  # a submitted request holds nothing yet

    r = cli("requests", "approve", str(req_id), "--as", staff.username)
    assert r.exit_code == 0, r.output
    [job_id] = _jobs_of(req_id)
    job = wait_job(job_id, timeout=180)
    assert job.status == JobStatus.SUCCESSFUL, f"{job.explanation} {job.traceback}"
    assert _request(req_id).status == RequestStatus.DONE
    with db.unit_of_work() as s:
        zone = s.scalars(select(Zone).where(Zone.name == name)).one()
        assert (zone.status, zone.org_id, zone.host_id) == (ZoneStatus.ACTIVE, org.id, dns_env.id)
        zone_id = zone.id
    rcode, soa = _rcode_and_answer(bind, name, "SOA")
    assert rcode == dns.rcode.NOERROR and len(soa) == 1
    assert soa.pop().split()[:2] == ["ns1.govhost.test.", f"hostmaster.{name}."]
    assert _rcode_and_answer(bind, name, "NS") == (dns.rcode.NOERROR, {"ns1.govhost.test."})
    assert _zones_used(actor, org.id) == 1
    assert f"db.{name}" in _bind_files(bind)

    r = client.post(
        "/api/v1/requests/",
        headers=api_token(user),
        json={"kind": "dns.zone_delete", "org_id": org.id, "payload": {"zone_id": zone_id}},
    )
    assert r.status_code == 201, r.get_json()
    del_id = r.get_json()["id"]
    r = cli("requests", "approve", str(del_id), "--as", staff.username)
    assert r.exit_code == 0, r.output
    [del_job] = _jobs_of(del_id)
    job = wait_job(del_job, timeout=180)
    assert job.status == JobStatus.SUCCESSFUL, f"{job.explanation} {job.traceback}"
    assert _rcode_and_answer(bind, name, "SOA")[0] == dns.rcode.REFUSED  # BIND no longer serves it
    with db.unit_of_work() as s:
        assert s.scalars(select(Zone).where(Zone.name == name)).first() is None
    assert _zones_used(actor, org.id) == 0
    assert name not in _bind_files(bind)


def _bind_files(bind) -> str:
    """The zone's traces on the host: its file, its stanza, the assembled zones file."""
    cmd = "ls /var/lib/bind /etc/bind/govhost-zones.d; cat /etc/bind/govhost-zones.conf"
    return L.host_exec(bind.name, "sh", "-c", cmd).stdout
