"""Rung 4 of the Windows test ladder (docs/windows.md): a REAL Windows Server 2022 host, gated.

Runs only when GOVHOST_WINDOWS_HOST is set (with GOVHOST_WINDOWS_KEY, the private key its
administrator accepts; GOVHOST_WINDOWS_USER, default Administrator; GOVHOST_WINDOWS_PORT, default
22). Without it the test is deselected at collection (tests/conftest.py), not skipped: the gate
fails on any skip, and CI has no Windows host, so CI never runs it.

What it does, through the panel's real path: pins the host's SSH key by the probe, bootstraps it
(host.bootstrap: IIS features, OpenSSH default shell, firewall, site root), probes it (host.ping:
OS build, IIS version), then a ministry's site on the Windows plan is asked for and approved; its
create job, its DNS records and its central certificate (ACME DNS-01 against Pebble, answered in
govhost's BIND on a lab host of this machine) run; the test fetches https://<host>/ with the site's
name (SNI) and checks the certificate IIS serves is the one Pebble issued, with the thumbprint the
panel recorded. The site is deleted at the end (archived on the host).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import socket
import ssl
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import DnsKey, Zone, ZoneStatus
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.models import Certificate, Site, SiteStatus
from panel.jobs import runner
from panel.models.hosts import Host, HostOS
from panel.models.jobs import Job, JobStatus
from panel.models.requests import RequestStatus
from panel.services import jobs as jobs_svc
from panel.services import requests
from panel.services.actor import system_actor
from provisioners import ansible as ansible_run
from provisioners import base, probes
from provisioners import lab as L
from tests.capabilities.sites.conftest import pebble_at
from tests.lab.conftest import own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.jobs import run_pending_jobs

pytestmark = [pytest.mark.lab, pytest.mark.windows_host]

WIN = os.environ.get("GOVHOST_WINDOWS_HOST", "")
KEY = os.environ.get("GOVHOST_WINDOWS_KEY", "")
USER = os.environ.get("GOVHOST_WINDOWS_USER", "Administrator")
PORT = int(os.environ.get("GOVHOST_WINDOWS_PORT", "22") or 22)
HOSTS = suite_hosts("windows_real")  # govhost's BIND for the DNS-01 answers
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PEBBLE_PORT, PEBBLE_MGMT = 14062, 15062
FQDN = "w.a.gov.test"


@pytest.fixture(scope="module")
def real_ca(tmp_path_factory):
    """BIND on lab host wreal1 (dns_server.yml, this module's TSIG key) and Pebble resolving there.
    The panel's key (GOVHOST_WINDOWS_KEY) is authorized on wreal1 too: one key for every host."""
    assert WIN and KEY, "GOVHOST_WINDOWS_HOST and GOVHOST_WINDOWS_KEY must be set (docs/windows.md, rung 4)"
    with own_lab_hosts(HOSTS) as hosts:
        ip = HOSTS["wreal1"]
        pub = probes_public_key(KEY)
        L.host_exec("wreal1", "sh", "-c", f"echo '{pub}' >> /root/.ssh/authorized_keys")
        kinds = dict(line.split()[1:3] for line in L.known_hosts_path().read_text().splitlines())
        target = base.Target(
            name="wreal1", address=ip, host_key_type="ssh-ed25519", host_key=kinds["ssh-ed25519"],
            source_address=L.GATEWAY,
        )  # fmt: skip
        secret = base64.b64encode(os.urandom(32)).decode()
        spec = base.PlaybookSpec(
            playbook="dns_server.yml",
            project_dir=os.path.join(ROOT, "playbooks"),
            ssh_key=KEY,
            extravars={"bind_server_key_name": "govhost"},
            templates_dir=os.path.join(ROOT, "templates"),
        )
        r = ansible_run.run_playbook(
            spec, [target], timeout=300, secrets={"tsig_secret": secret},
            workdir_parent=str(tmp_path_factory.mktemp("jobs")),
        )  # fmt: skip
        assert r.ok, r.explanation
        with pebble_at(tmp_path_factory.mktemp("pebble"), PEBBLE_PORT, PEBBLE_MGMT, ip) as ca:
            yield SimpleNamespace(pebble=ca, secret=secret, ip=ip, lab=hosts)


def probes_public_key(private_key_path: str) -> str:
    """The OpenSSH public line of the panel's private key (what the Windows administrator accepts)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(open(private_key_path, "rb").read(), password=None)  # noqa: SIM115
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture
def settings(settings, request):
    ca = request.getfixturevalue("real_ca").pebble
    return dataclasses.replace(
        settings,
        ansible=dataclasses.replace(settings.ansible, ssh_key=KEY),
        dns=dataclasses.replace(settings.dns, primary_host="wreal1", key_name="govhost", nameservers=("ns1.gov.test",)),
        sites=dataclasses.replace(settings.sites, acme_directory=ca.directory, acme_ca_bundle=str(ca.tls_cert)),
    )


run_pending = run_pending_jobs


def _host(make, name: str, address: str, *, port: int, user: str, os_: HostOS, roles: list[str], lab: bool) -> Host:
    """A Host row with the key the host presents, pinned by govhost's probe."""
    kind, blob, fp = probes.fetch_host_key(address, port, bind=L.GATEWAY if lab else None)
    room = {"sites": 10} if "web" in roles else None
    host = make.make_host(name, address=address, port=port, ssh_user=user, os=os_, roles=roles, capacities=room)
    with db.unit_of_work() as s:
        row = s.get(Host, host.id)
        row.host_key_type, row.host_key, row.fingerprint = kind, blob, fp
    return host


def _job(booted, kind: str, host_id: int, **params) -> Job:
    job = jobs_svc.job_submit(system_actor("worker"), kind=kind, org_id=None, host_ids=[host_id], params=params)
    runner.run_job(job.id, booted)
    with db.unit_of_work() as s:
        done = s.get(Job, job.id)
    assert done.status == JobStatus.SUCCESSFUL, done.explanation
    return done


def test_a_site_on_real_windows_answers_https_with_its_central_certificate(world, booted, make, real_ca):
    win = _host(make, "win-real", WIN, port=PORT, user=USER, os_=HostOS.WINDOWS, roles=["web"], lab=False)
    _job(booted, "host.bootstrap", win.id)
    _job(booted, "host.ping", win.id)
    with db.unit_of_work() as s:
        facts = s.get(Host, win.id).facts
    assert facts, "host.ping recorded no facts"
    make.make_plan("iis", os=HostOS.WINDOWS, managed_runtime="v4.0", disk_mb=100)

    dns_host = _host(make, "wreal1", real_ca.ip, port=22, user="root", os_=HostOS.LINUX, roles=["dns"], lab=True)
    with db.unit_of_work() as s:
        s.add(DnsKey(name="govhost", secret_sealed=security.seal(real_ca.secret)))
        zone = Zone(org_id=world.a.id, name="a.gov.test")
        s.add(zone)
        s.flush()
        zone_id = zone.id
    job = jobs_svc.job_submit(
        system_actor("worker"), kind="dns.zone_create", org_id=world.a.id, host_ids=[dns_host.id],
        params={"zone_id": zone_id},
    )  # fmt: skip
    assert runner.run_job(job.id, booted) == "successful"
    with db.unit_of_work() as s:
        assert s.get(Zone, zone_id).status == ZoneStatus.ACTIVE

    req = svc.site_request(world.wa, action="create", org_id=world.a.id, payload={"fqdn": FQDN, "plan": "iis"})
    if req.status == RequestStatus.SUBMITTED:
        requests.request_approve(world.op, req.id)
    jobs = run_pending(booted)
    assert {j.kind: j.status for j in jobs} == {
        "sites.site_create": JobStatus.SUCCESSFUL,
        "dns.records_apply": JobStatus.SUCCESSFUL,
        "sites.site_cert": JobStatus.SUCCESSFUL,
    }, [(j.kind, j.explanation) for j in jobs]
    with db.unit_of_work() as s:
        site = s.scalars(select(Site).where(Site.fqdn == FQDN)).one()
        cert = s.scalars(select(Certificate).where(Certificate.site_id == site.id, Certificate.is_current)).one()
    assert site.status == SiteStatus.ACTIVE and cert.thumbprint

    # IIS answers on the site's name (SNI) with the certificate Pebble issued and the panel recorded.
    ctx = ssl.create_default_context(cafile=str(real_ca.pebble.roots))
    with socket.create_connection((WIN, 443), timeout=15) as raw, ctx.wrap_socket(raw, server_hostname=FQDN) as tls:
        der = tls.getpeercert(binary_form=True)
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {FQDN}\r\nConnection: close\r\n\r\n".encode())
        head = tls.recv(4096).decode("latin-1")
    served = x509.load_der_x509_certificate(der)
    assert served.fingerprint(hashes.SHA1()).hex().upper() == cert.thumbprint  # noqa: S303 - Windows' thumbprint
    assert head.startswith("HTTP/1.1 ") and "Microsoft-IIS" in head, head[:300]

    req = svc.site_request(world.wa, action="delete", org_id=world.a.id, site_id=site.id, payload={})
    if req.status == RequestStatus.SUBMITTED:
        requests.request_approve(world.op, req.id)
    assert [j.status for j in run_pending(booted)] == [JobStatus.SUCCESSFUL]
