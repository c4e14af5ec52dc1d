"""Moving a site between real lab hosts (issue 21, drain a host): mv1 and mv2 run nginx and PHP,
mvdns runs the panel's BIND with the ministry's zone, Pebble issues certificates resolving names
there. The site's files, certificate and vhost go to mv2 by the move job, its A record is switched
through DNS's service and BIND, mv1 loses it, and mv2 then gets its own ACME certificate. A move
whose new host fails leaves the site serving from mv1 with its record unchanged."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import ssl
from types import SimpleNamespace

import dns.message
import dns.query
import pytest
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import ClaimMethod, DnsKey, DomainClaim, Zone
from panel.capabilities.sites import moves
from panel.capabilities.sites.models import Plan, Site, SiteMove, SiteStatus
from panel.jobs.runner import run_job
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.moves import MoveStatus
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services import requests
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.capabilities.dns.conftest import run_bare
from tests.capabilities.sites.conftest import pebble_at
from tests.lab.conftest import own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.clients import http_get
from tests.support.factories import make_lab_host
from tests.support.jobs import run_pending_jobs

pytestmark = pytest.mark.lab

HOSTS = suite_hosts("moves")
ZONE = "mv.gov.test"
FQDN = f"www.{ZONE}"
PEBBLE_PORT, PEBBLE_MGMT = 14090, 15090
MARK = "moved-content-7f3a"


@pytest.fixture(scope="module")
def move_lab(tmp_path_factory):
    """The three hosts, BIND on mvdns (TSIG key of this run), Pebble resolving at it."""
    with own_lab_hosts(HOSTS):
        secret = base64.b64encode(os.urandom(32)).decode()
        r = run_bare(
            "dns_server.yml",
            HOSTS["mvdns"],
            {"bind_server_key_name": "govhost"},
            {"tsig_secret": secret},
            tmp_path_factory.mktemp("jobs"),
        )
        assert r.ok, r.explanation
        assert shutil.which("pebble"), "Debian package pebble is not installed"
        with pebble_at(tmp_path_factory.mktemp("pebble"), PEBBLE_PORT, PEBBLE_MGMT, HOSTS["mvdns"]) as ca:
            yield SimpleNamespace(
                secret=secret,
                directory=ca.directory,
                tls_cert=str(ca.tls_cert),
                root=str(ca.roots),
                data=str(tmp_path_factory.mktemp("data")),
            )


@pytest.fixture
def settings(settings, request):
    lab = request.getfixturevalue("move_lab")
    return dataclasses.replace(
        settings,
        ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())),
        dns=dataclasses.replace(
            settings.dns, primary_host="mvdns", resolver=HOSTS["mvdns"], nameservers=("ns1.govhost.test",)
        ),
        sites=dataclasses.replace(settings.sites, acme_directory=lab.directory, acme_ca_bundle=lab.tls_cert),
        data_dir=lab.data,
    )


def host_row(name: str, role: str) -> Host:
    return make_lab_host(
        name, HOSTS[name], {role}, probe=False, capacities={"sites": 10}, facts={"php_versions": ["8.2"]}
    )


finish_jobs = run_pending_jobs


def job_text(job: Job) -> str:
    return f"{job.id} {job.kind} {job.status.value}: {job.explanation} {job.traceback[-1500:]}"


@pytest.fixture
def world(booted, move_lab, make):
    for ip in HOSTS.values():
        L.close_control_sockets(ip)
    mv1, mv2, bind = host_row("mv1", "web"), host_row("mv2", "web"), host_row("mvdns", "dns")
    org = make.make_org("Ministry M")
    web = make.make_user(Role.WEBMASTER, org)
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dcmove")
    op = make.actor_of(make.make_user(Role.OPERATOR, dc), "web")
    op2 = make.actor_of(make.make_user(Role.OPERATOR, dc), "web")
    system = system_actor("worker", "test")
    with db.unit_of_work() as s:
        s.add(DnsKey(name="govhost", secret_sealed=security.seal(move_lab.secret)))
        s.add(DomainClaim(org_id=org.id, domain=ZONE, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow()))
        s.add(Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))
        zone = Zone(org_id=org.id, name=ZONE)
        s.add(zone)
        s.flush()
        job = jobs_svc.job_submit(
            system, kind="dns.zone_create", org_id=org.id, host_ids=[bind.id], params={"zone_id": zone.id}
        )
    assert run_job(job.id, booted) == "successful", job_text(job)
    return SimpleNamespace(org=org, web=make.actor_of(web, "web"), op=op, op2=op2, mv1=mv1, mv2=mv2, settings=booted)


def a_record(name: str) -> list[str]:
    """What BIND on mvdns answers for name's A record now."""
    q = dns.message.make_query(name, "A")
    answer = dns.query.udp(q, HOSTS["mvdns"], timeout=5, source=L.GATEWAY)
    return sorted(rd.address for rrset in answer.answer for rd in rrset)


def site_now(site_id: int) -> Site:
    with db.unit_of_work() as s:
        return s.get(Site, site_id, populate_existing=True)


def host_sh(name: str, cmd: str) -> str:
    return L.host_exec(name, "bash", "-c", cmd, check=False).stdout


def served(name: str, cafile: str):
    try:
        return http_get(f"https://{HOSTS[name]}/", host_header=FQDN, cafile=cafile)
    except (OSError, ssl.SSLError):
        return None


def test_a_site_moves_to_another_host_and_answers_there_over_https(world, move_lab):
    req = requests.request_create(world.op, kind="sites.site_create", org_id=world.org.id,
                                  payload={"fqdn": FQDN, "plan": "basic", "host_id": world.mv1.id})  # fmt: skip
    requests.request_approve(world.op2, req.id)
    for job in finish_jobs(world.settings):
        assert job.status.value == "successful", job_text(job)
    with db.unit_of_work() as s:
        site = s.scalars(select(Site).where(Site.fqdn == FQDN)).one()
    assert site.host_id == world.mv1.id and site.status == SiteStatus.ACTIVE and site.certificate is not None
    first_cert = site.certificate.fingerprint
    assert a_record(FQDN) == [HOSTS["mv1"]]
    # the webmaster's own content, owned by the site user as an upload would be
    host_sh("mv1", f"echo {MARK} > /srv/www/{FQDN}/public/index.html; echo '<?php echo 1+1;' > "
            f"/srv/www/{FQDN}/public/two.php; chown {site.system_user} /srv/www/{FQDN}/public/*")  # fmt: skip
    assert MARK in served("mv1", move_lab.root).text

    # 1. mv2's nginx refuses any new configuration: the move fails, mv1 keeps the site and its record
    host_sh("mv2", "echo 'this is not nginx;' > /etc/nginx/sites-enabled/zz-broken.conf")
    m = moves.site_move(world.op, site_id=site.id, host_id=world.mv2.id)
    jobs = finish_jobs(world.settings)
    assert [(j.kind, j.status.value) for j in jobs] == [
        ("sites.site_move", "failed"),
        ("sites.site_move_undo", "failed"),  # its vhost step meets the same broken nginx: said, harmless
    ], [job_text(j) for j in jobs]
    with db.unit_of_work() as s:
        failed = s.get(SiteMove, m.id)
        assert failed.status == MoveStatus.FAILED and "nginx" in failed.error
    assert site_now(site.id).host_id == world.mv1.id
    assert a_record(FQDN) == [HOSTS["mv1"]]
    assert MARK in served("mv1", move_lab.root).text

    # 2. mv2 repaired: the operator retries the clean-up of mv2, which removes what the move left
    host_sh("mv2", "rm -f /etc/nginx/sites-enabled/zz-broken.conf")
    jobs_svc.job_retry(world.op, jobs[1].id)
    assert [(j.kind, j.status.value) for j in finish_jobs(world.settings)] == [("sites.site_move_undo", "successful")]
    assert host_sh("mv2", f"ls -d /srv/www/{FQDN} 2>/dev/null; getent passwd {site.system_user}") == ""
    assert site_now(site.id).busy_job_id is None

    # 3. the move goes through, DNS follows, mv1 loses the site
    m = moves.site_move(world.op, site_id=site.id, host_id=world.mv2.id)
    jobs = finish_jobs(world.settings)
    kinds = [(j.kind, j.status.value) for j in jobs]
    assert kinds == [
        ("sites.site_move", "successful"),
        ("dns.records_apply", "successful"),
        ("sites.site_move_cleanup", "successful"),
        ("sites.site_cert", "successful"),  # mv2's own certificate from Pebble, now DNS points there
    ], [job_text(j) for j in jobs]
    with db.unit_of_work() as s:
        done = s.get(SiteMove, m.id)
        assert done.status == MoveStatus.DONE, done.error
    site = site_now(site.id)
    assert site.host_id == world.mv2.id and site.busy_job_id is None and site.last_error == ""
    assert a_record(FQDN) == [HOSTS["mv2"]]
    page = served("mv2", move_lab.root)
    assert page is not None and page.status == 200 and MARK in page.text
    php = http_get(f"https://{HOSTS['mv2']}/two.php", host_header=FQDN, cafile=move_lab.root)
    assert php.status == 200 and php.text.strip() == "2"
    owner = host_sh("mv2", f"stat -c %U /srv/www/{FQDN}/public/index.html /srv/www/{FQDN}/public/two.php")
    assert owner.split() == [site.system_user] * 2
    assert site.certificate.fingerprint != first_cert and site.certificate.names == [FQDN]
    # mv1 serves it no more: no vhost, no files (archived there, as a delete does), no user
    old = served("mv1", move_lab.root)
    assert old is None or MARK not in old.text
    assert host_sh("mv1", f"ls /srv/www/{FQDN} /etc/nginx/sites-enabled/govhost-{FQDN}.conf 2>/dev/null") == ""
    assert host_sh("mv1", f"getent passwd {site.system_user}").strip() == ""
    assert FQDN in host_sh("mv1", "ls /var/lib/govhost/archive/")
    # the private key never went through a job's events or outputs
    with db.unit_of_work() as s:
        texts = [json.dumps(j.data or {}) + j.explanation for j in s.scalars(select(Job))]
    key = host_sh("mv2", f"cat /etc/govhost/tls/{FQDN}/privkey.pem")
    assert "PRIVATE KEY" in key and not any("PRIVATE KEY" in t for t in texts)
