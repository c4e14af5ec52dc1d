"""Rung 2 of the Windows test ladder (docs/windows.md), the wire contract: the real request and job
path, inventory builder and ansible-playbook against a recording SSH endpoint that is NOT Windows
(provisioners/lab/notwindows.py), listening in a lab network namespace with its own pinned host key.

Per request kind, the exact sequence of module calls and arguments govhost sends is compared with a
reviewed file in tests/capabilities/sites/windows_wire/ (a change in what govhost sends to Windows
shows up in review there; GOVHOST_WIRE_WRITE=1 rewrites the files, then read the diff). Injected
failures (a module failing, a closed port, a wrong host key) end the job `failed` with the reason,
and the site where it should be.

Rung 3, certificates for real: govhost's own BIND on wr1 (set up by dns_server.yml, the zone made
by the real dns.zone_create job) and Pebble resolving there; the site_cert job orders the
certificate on the controller by ACME DNS-01, and the PFX and thumbprint sent over the wire are
taken apart here: Pebble issued it, the PFX opens with the password sent beside it, its key is the
certificate's, and the thumbprint bound is the certificate's SHA-1 and the one recorded on the site."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import dns.message
import dns.query
import dns.rcode
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import DnsKey, Zone, ZoneStatus
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.models import Certificate, Plan, Site, SiteStatus
from panel.jobs import runner
from panel.models.audit import AuditEntry
from panel.models.hosts import Host, HostOS
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.models.requests import RequestStatus
from panel.models.tenants import Role
from panel.services import requests
from panel.services.actor import system_actor
from provisioners import ansible as ansible_run
from provisioners import base, probes
from provisioners import lab as L
from tests.capabilities.sites.conftest import pebble_at, wait_for
from tests.lab.conftest import own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.jobs import run_pending_jobs

pytestmark = pytest.mark.lab

HOSTS = suite_hosts("windows")
PORT, CLOSED_PORT = 2222, 2223
USER = "govhost"
EXPECTED = Path(__file__).with_name("windows_wire")
ROOT = Path(__file__).resolve().parents[3]
SFTP_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl webmaster@a"


def _ed25519_private(path: Path) -> Path:
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """The recording endpoint in lab host wr1's network namespace (the host's own sshd stays on 22)."""
    d = tmp_path_factory.mktemp("notwindows")
    with own_lab_hosts(HOSTS) as hosts:
        ns = hosts["wr1"].netns
        ip = HOSTS["wr1"]
        record, faults = d / "calls.jsonl", d / "faults.json"
        argv = [
            "ip", "netns", "exec", ns, sys.executable, "-m", "provisioners.lab.notwindows",
            "--listen", f"{ip}:{PORT}", "--host-key", str(_ed25519_private(d / "host_key")),
            "--authorized-key", f"{L.lab_key_path()}.pub", "--user", USER,
            "--record", str(record), "--faults", str(faults),
        ]  # fmt: skip
        with (d / "endpoint.log").open("w") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)}
            )
        try:
            wait_for(lambda: L.port_open(ip, PORT), 60)  # a Python process: slow to start on a loaded machine
            yield SimpleNamespace(ip=ip, record=record, faults=faults, log=d / "endpoint.log")
        finally:
            proc.terminate()
            proc.wait(10)
            L.close_control_sockets(ip)


@pytest.fixture
def win(world, booted, endpoint, make):
    """A Windows web host pinned to the endpoint's key, the Windows plan, and a clean record."""
    endpoint.record.write_text("")
    endpoint.faults.write_text("{}")
    L.close_control_sockets(endpoint.ip)
    kind, blob, fp = probes.fetch_host_key(endpoint.ip, PORT, bind=L.GATEWAY)
    host = make.make_host(
        "win1", address=endpoint.ip, port=PORT, ssh_user=USER, os=HostOS.WINDOWS, roles=["web"],
        capacities={"sites": 100},
    )  # fmt: skip
    _repoint(host.id, host_key_type=kind, host_key=blob, fingerprint=fp)
    make.make_plan("iis", os=HostOS.WINDOWS, managed_runtime="v4.0", disk_mb=100)
    return SimpleNamespace(host=host, endpoint=endpoint)


def calls(endpoint) -> list[dict]:
    return [json.loads(line) for line in endpoint.record.read_text().splitlines() if line.strip()]


run_pending = run_pending_jobs


def job_output(job: Job) -> str:
    """What the operator reads of a job: its explanation and its events' output."""
    with db.unit_of_work() as s:
        events = s.scalars(select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.counter)).all()
        return job.explanation + "\n" + "\n".join(f"{e.task}: {e.stdout}" for e in events)


def ask(world, action: str, **kw) -> None:
    actor = world.wa
    req = svc.site_request(actor, action=action, org_id=world.a.id, **kw)
    if req.status == RequestStatus.SUBMITTED:
        requests.request_approve(world.op, req.id)


def normalised(entries: list[dict], site: Site, jobs: list[Job]) -> list[dict]:
    """The calls with this run's ids replaced by placeholders, so the reviewed file is stable."""
    # `_ansible_no_log` is not recorded here: govhost runs Ansible with no_target_syslog, which sets it
    # on every module call (nothing logged to the Windows event log); a task's own no_log shows in
    # the job events instead.
    # An SFTP account's password is random at its creation and never used (keys only): a placeholder.
    calls_ = [
        {"module": e["module"], "args": {**e["args"], "password": "{RANDOM}"} if e["module"].endswith("win_user")
         and "password" in e["args"] else e["args"]}
        for e in entries
    ]  # fmt: skip
    text = json.dumps(calls_, indent=1)
    text = text.replace(f"org{site.org_id}\\\\", "org{ORG}\\\\").replace(f'"site{site.id}"', '"site{SITE}"')
    text = text.replace(f"sftp{site.id}", "sftp{SITE}")
    text = text.replace(f"IIS AppPool\\\\site{site.id}", "IIS AppPool\\\\site{SITE}")
    for job in jobs:
        text = text.replace(f"-job{job.id}.zip", "-job{JOB}.zip")
    return json.loads(text)


def check_against_reviewed(name: str, got: list[dict]) -> None:
    path = EXPECTED / f"{name}.json"
    if os.environ.get("GOVHOST_WIRE_WRITE") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert path.is_file(), f"no reviewed sequence {path}: run with GOVHOST_WIRE_WRITE=1 and review the file"
    assert got == json.loads(path.read_text())


def the_site(fqdn: str) -> Site:
    with db.unit_of_work() as s:
        return s.scalars(select(Site).where(Site.fqdn == fqdn)).one()


def test_each_site_kind_sends_its_reviewed_module_calls(world, win, booted):
    ep = win.endpoint
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis", "aliases": ["www.a.gov.test"]})
    jobs = run_pending(booted)
    assert [(j.kind, j.status) for j in jobs] == [("sites.site_create", JobStatus.SUCCESSFUL)], job_output(jobs[0])
    site = the_site("w.a.gov.test")
    assert site.status == SiteStatus.ACTIVE and site.host_id == win.host.id
    check_against_reviewed("site_create", normalised(calls(ep), site, jobs))
    assert all(c["user"] == USER for c in calls(ep))

    # A webmaster's SFTP key reaches the site's account by a site_update job (keys file, Match block).
    ep.record.write_text("")
    svc.sftp_key_add(world.wa, site_id=site.id, public_key=SFTP_KEY)
    jobs = run_pending(booted)
    assert [(j.kind, j.status) for j in jobs] == [("sites.site_update", JobStatus.SUCCESSFUL)], job_output(jobs[0])
    check_against_reviewed("site_update", normalised(calls(ep), site, jobs))

    for action, name, status in (
        ("suspend", "site_suspend", SiteStatus.SUSPENDED),
        ("unsuspend", "site_unsuspend", SiteStatus.ACTIVE),
        ("delete", "site_delete", SiteStatus.DELETED),
    ):
        ep.record.write_text("")
        ask(world, action, site_id=site.id, payload={})
        jobs = run_pending(booted)
        assert [j.status for j in jobs] == [JobStatus.SUCCESSFUL], [j.explanation for j in jobs]
        check_against_reviewed(name, normalised(calls(ep), site, jobs))
        assert the_site("w.a.gov.test").status == status
    deleted = the_site("w.a.gov.test")
    assert deleted.archive_path == f"C:\\govhost\\sites\\archive\\w.a.gov.test-job{jobs[0].id}.zip"
    # Nothing is logged on the Windows host (ANSIBLE_NO_TARGET_SYSLOG gives every call _ansible_no_log).
    assert all(c["no_log"] is True for c in calls(ep))


def test_a_plan_change_sends_the_new_disk_quota(world, win, booted, make):
    """The plan's disk size is the site folder's hard FSRM quota: set by the create job, changed by
    the update job a plan change starts (the module sets it again on every run of the site)."""
    ep = win.endpoint
    make.make_plan("iis-big", os=HostOS.WINDOWS, managed_runtime="v4.0", disk_mb=500)
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis"})
    run_pending(booted)
    (create,) = [c for c in calls(ep) if c["module"] == "govhost_iis_sites"]
    assert [s["quota_mb"] for s in create["args"]["sites"]] == [100]
    ep.record.write_text("")
    ask(world, "change_plan", site_id=the_site("w.a.gov.test").id, payload={"plan": "iis-big"})
    jobs = run_pending(booted)
    assert [(j.kind, j.status) for j in jobs] == [("sites.site_update", JobStatus.SUCCESSFUL)], job_output(jobs[0])
    (update,) = [c for c in calls(ep) if c["module"] == "govhost_iis_sites"]
    assert [(s["name"], s["quota_mb"], s["path"]) for s in update["args"]["sites"]] == [
        ("w.a.gov.test", 500, create["args"]["sites"][0]["path"])
    ]


def test_a_failing_module_fails_the_job_and_the_site_with_its_message(world, win, booted):
    ep = win.endpoint
    why = "IIS management scripting (WebAdministration) is not installed"
    ep.faults.write_text(json.dumps({"fail": {"govhost_iis_sites": why}}))
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis"})
    (job,) = run_pending(booted)
    assert job.status == JobStatus.FAILED
    assert why in job.explanation
    site = the_site("w.a.gov.test")
    assert site.status == SiteStatus.FAILED and why in site.last_error
    assert [(c["module"], c["failed"]) for c in calls(ep)] == [("govhost_iis_sites", True)]  # nothing after it


BATCH = ["f1.a.gov.test", "f2.a.gov.test", "f3.a.gov.test"]


def test_one_failing_site_is_reported_and_the_others_of_its_batch_are_applied(world, win, booted, make):
    """govhost_iis_sites applies each site all or nothing and reports the one that failed (here the
    endpoint says f2 failed, as the module reports a site it undid); the job fails naming it, f2 is
    `failed` with its own message, and f1 and f3 are active: their SFTP accounts are denied console
    logon and sshd is restarted for their Match blocks, as when all succeed."""
    ep = win.endpoint
    why = "Cannot add duplicate binding *:80:f2.a.gov.test"
    ep.faults.write_text(json.dumps({"fail_site": {"f2.a.gov.test": why}}))
    req = requests.request_create(
        world.op, kind="sites.site_create", org_id=world.a.id,
        payload={"plan": "iis", "tls": "none", "sites": [{"fqdn": n} for n in BATCH]},
    )  # fmt: skip
    requests.request_approve(make.actor_of(make.make_user(Role.OPERATOR)), req.id)
    (job,) = run_pending(booted)
    assert job.status == JobStatus.FAILED
    assert f"f2.a.gov.test: {why}" in job.explanation, job.explanation
    sites = {n: the_site(n) for n in BATCH}
    assert {n: s.status for n, s in sites.items()} == {
        "f1.a.gov.test": SiteStatus.ACTIVE,
        "f2.a.gov.test": SiteStatus.FAILED,
        "f3.a.gov.test": SiteStatus.ACTIVE,
    }
    assert sites["f2.a.gov.test"].last_error == f"f2.a.gov.test: {why}"
    assert sites["f1.a.gov.test"].last_error == "" and sites["f1.a.gov.test"].busy_job_id is None
    sent = calls(ep)
    assert [c["module"] for c in sent] == [
        "govhost_iis_sites",
        "ansible.windows.win_user_right",
        "ansible.windows.win_user_right",
        "ansible.windows.win_service",
    ]
    assert [s["name"] for s in sent[0]["args"]["sites"]] == BATCH  # one call for the batch
    users = [f"sftp{sites[n].id}" for n in ("f1.a.gov.test", "f3.a.gov.test")]
    assert sent[1]["args"]["users"] == users and sent[2]["args"]["users"] == users
    with db.unit_of_work() as s:
        assert s.get(Job, job.id).data["site_outcome"]["failed"] == {"f2.a.gov.test": why}


def test_disk_usage_of_iis_sites_is_measured_in_one_call(world, win, booted):
    """The usage sweep's job on an IIS host sends one govhost_iis_usage call with every site's folder
    (the endpoint answers the size the faults file gives); over its plan's 100 MB the site is marked."""
    from panel.capabilities.sites import sweeps

    ep = win.endpoint
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis"})
    run_pending(booted)
    ep.record.write_text("")
    ep.faults.write_text(json.dumps({"usage_mb": {"w.a.gov.test": 150.5}}))
    swept = sweeps.sites_usage_collect(system_actor("worker"))
    assert [j.kind for j in swept] == ["sites.site_usage"]
    jobs = run_pending(booted)
    assert [j.status for j in jobs] == [JobStatus.SUCCESSFUL], job_output(jobs[0])
    site = the_site("w.a.gov.test")
    assert site.disk_used_mb == 150.5 and site.over_limit_since is not None and site.last_error == ""
    check_against_reviewed("site_usage", normalised(calls(ep), site, jobs))


def _repoint(host_id: int, **fields) -> None:
    with db.unit_of_work() as s:
        host = s.get(Host, host_id)
        for k, v in fields.items():
            setattr(host, k, v)


def test_a_closed_port_fails_the_job_as_unreachable(world, win, booted):
    _repoint(win.host.id, port=CLOSED_PORT)
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis"})
    (job,) = run_pending(booted)
    assert job.status == JobStatus.FAILED
    assert "could not be reached over SSH" in job.explanation and "refused" in job.explanation.lower()
    assert the_site("w.a.gov.test").status == SiteStatus.FAILED
    assert calls(win.endpoint) == []


def test_a_wrong_host_key_is_refused_before_anything_is_sent(world, win, booted, tmp_path):
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    blob = other.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode().split()[1]
    _repoint(win.host.id, host_key=blob)
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis"})
    (job,) = run_pending(booted)
    assert job.status == JobStatus.FAILED
    assert "its SSH host key is not the one govhost pinned" in job.explanation, job.explanation
    assert calls(win.endpoint) == []


def test_the_windows_plan_is_what_placed_it(world, win):
    with db.unit_of_work() as s:
        assert s.scalars(select(Plan.os).where(Plan.name == "iis")).one() == HostOS.WINDOWS


# ---- rung 3: certificates for real (Pebble -> PFX -> thumbprint) ---------------------------------

PEBBLE_PORT, PEBBLE_MGMT = 14061, 15061  # not the sites suite's Pebble (14050): both may run in one session
DNS_KEY = "govhost"


def _lab_target(ip: str) -> base.Target:
    kinds = dict(line.split()[1:3] for line in L.known_hosts_path().read_text().splitlines())
    return base.Target(
        name="wr1", address=ip, host_key_type="ssh-ed25519", host_key=kinds["ssh-ed25519"], source_address=L.GATEWAY
    )


@pytest.fixture(scope="module")
def central_ca(endpoint, tmp_path_factory):
    """govhost's BIND on wr1 (playbooks/dns_server.yml with a TSIG key of this module) and Pebble on
    the lab gateway resolving at it: DNS-01 answers must really be in that BIND to be validated."""
    secret = base64.b64encode(os.urandom(32)).decode()
    spec = base.PlaybookSpec(
        playbook="dns_server.yml",
        project_dir=str(ROOT / "playbooks"),
        ssh_key=str(L.lab_key_path()),
        extravars={"bind_server_key_name": DNS_KEY},
        templates_dir=str(ROOT / "templates"),
    )
    r = ansible_run.run_playbook(
        spec,
        [_lab_target(endpoint.ip)],
        timeout=300,
        secrets={"tsig_secret": secret},
        workdir_parent=str(tmp_path_factory.mktemp("jobs")),
    )
    assert r.ok, r.explanation
    with pebble_at(tmp_path_factory.mktemp("pebble"), PEBBLE_PORT, PEBBLE_MGMT, endpoint.ip) as ca:
        yield SimpleNamespace(pebble=ca, secret=secret)


@pytest.fixture
def settings(settings, request):
    """The cert test's panel: Pebble as its ACME server, wr1's BIND as its DNS, every certificate
    due for renewal at once (so the real renewal sweep picks the Windows site)."""
    if "upload_pki" in request.fixturenames:  # the ministry's own CA is the panel's trust store
        store = request.getfixturevalue("upload_pki").store
        return dataclasses.replace(settings, sites=dataclasses.replace(settings.sites, cert_trust_store=str(store)))
    if "central_ca" not in request.fixturenames:
        return settings
    ca = request.getfixturevalue("central_ca").pebble
    return dataclasses.replace(
        settings,
        dns=dataclasses.replace(settings.dns, primary_host="wr1dns", key_name=DNS_KEY, nameservers=("ns1.gov.test",)),
        sites=dataclasses.replace(
            settings.sites, acme_directory=ca.directory, acme_ca_bundle=str(ca.tls_cert), renew_days_before=100_000
        ),
    )


def _zone(world, booted, central_ca, make, endpoint) -> None:
    """govhost's DNS: the server host (wr1's sshd), its key, and Ministry A's zone a.gov.test made on
    BIND by the real dns.zone_create job."""
    dns_host = make.make_host("wr1dns", address=endpoint.ip, roles=["dns"])
    kind, blob, fp = probes.fetch_host_key(endpoint.ip, 22, bind=L.GATEWAY)
    _repoint(dns_host.id, host_key_type=kind, host_key=blob, fingerprint=fp)
    with db.unit_of_work() as s:
        s.add(DnsKey(name=DNS_KEY, secret_sealed=security.seal(central_ca.secret)))
        zone = Zone(org_id=world.a.id, name="a.gov.test")
        s.add(zone)
        s.flush()
        zone_id = zone.id
    from panel.services import jobs as jobs_svc

    job = jobs_svc.job_submit(
        system_actor("worker"), kind="dns.zone_create", org_id=world.a.id, host_ids=[dns_host.id],
        params={"zone_id": zone_id},
    )  # fmt: skip
    assert runner.run_job(job.id, booted) == "successful", job_output(job)
    with db.unit_of_work() as s:
        assert s.get(Zone, zone_id).status == ZoneStatus.ACTIVE


def _wire_cert(entries: list[dict]) -> SimpleNamespace:
    """The PFX, its password and the thumbprint bound, as they went over the wire."""
    by = {}
    for e in entries:
        by.setdefault(e["module"], []).append(e["args"])
    (write,) = by["ansible.windows.win_powershell"]
    (store,) = by["ansible.windows.win_certificate_store"]
    (site,) = by["microsoft.iis.website"]
    https = [b for b in site["bindings"]["set"] if b["protocol"] == "https"]
    return SimpleNamespace(
        pfx=base64.b64decode(write["parameters"]["Pfx"]),
        pfx_path=write["parameters"]["Path"],
        password=store["password"],
        store=store,
        https=https,
        thumbprints={b["certificate_hash"] for b in https},
    )


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        key = parent.public_key()
        if hasattr(key, "curve"):
            from cryptography.hazmat.primitives.asymmetric import ec

            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))
        else:
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), child.signature_hash_algorithm)
        return True
    except Exception:
        return False


def _txt(server: str, name: str) -> list[str]:
    q = dns.message.make_query(name, "TXT")
    r = dns.query.udp(q, server, timeout=3, source=L.GATEWAY)
    return [rr.to_text() for rrset in r.answer for rr in rrset] if r.rcode() == dns.rcode.NOERROR else []


def normalised_cert(entries: list[dict], site: Site, jobs: list[Job], wire) -> list[dict]:
    text = json.dumps(normalised(entries, site, jobs))
    text = text.replace(base64.b64encode(wire.pfx).decode(), "{PFX}").replace(wire.password, "{PFX_PASSWORD}")
    for t in wire.thumbprints:
        text = text.replace(t, "{THUMBPRINT}")
    return json.loads(text)


def test_central_certificate_issued_by_pebble_is_the_one_bound_by_thumbprint(
    world, win, booted, central_ca, make, endpoint
):
    _zone(world, booted, central_ca, make, endpoint)
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis", "aliases": ["www.a.gov.test"]})
    jobs = run_pending(booted)
    kinds = {j.kind: j for j in jobs}
    assert {k: j.status for k, j in kinds.items()} == {
        "sites.site_create": JobStatus.SUCCESSFUL,
        "dns.records_apply": JobStatus.SUCCESSFUL,
        "sites.site_cert": JobStatus.SUCCESSFUL,
    }, [job_output(j) for j in jobs]
    cert_job = kinds["sites.site_cert"]
    site = the_site("w.a.gov.test")
    everything = calls(endpoint)
    cert_calls = everything[[c.get("module") for c in everything].index("ansible.windows.win_tempfile") :]
    wire = _wire_cert(cert_calls)

    # Pebble issued it, for the site's names; the PFX opens with the password sent beside it.
    key, leaf, extra = pkcs12.load_key_and_certificates(wire.pfx, wire.password.encode())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sorted(names) == ["w.a.gov.test", "www.a.gov.test"]
    roots = x509.load_pem_x509_certificates(central_ca.pebble.roots.read_bytes())
    assert extra and _signed_by(leaf, extra[0]) and any(_signed_by(extra[-1], r) for r in roots)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, pub) == leaf.public_key().public_bytes(
        serialization.Encoding.DER, pub
    )
    # The thumbprint bound is that certificate's SHA-1, on every name, and the one the site records.
    thumb = leaf.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows' thumbprint
    assert wire.thumbprints == {thumb} and sorted(b["hostname"] for b in wire.https) == sorted(names)
    assert all(b["use_sni"] and b["certificate_store_name"] == "WebHosting" for b in wire.https)
    assert wire.store["key_exportable"] is False and wire.store["store_name"] == "WebHosting"
    with db.unit_of_work() as s:
        current = s.scalars(select(Certificate).where(Certificate.site_id == site.id, Certificate.is_current)).one()
        assert current.thumbprint == thumb and current.issuer.startswith("CN=Pebble Intermediate")
    check_against_reviewed("site_cert", normalised_cert(cert_calls, site, [cert_job], wire))
    # The DNS-01 answers are gone from govhost's BIND; no secret in anything an operator reads.
    assert _txt(endpoint.ip, "_acme-challenge.w.a.gov.test") == []
    with db.unit_of_work() as s:
        events = " ".join(f"{e.task} {e.stdout}" for e in s.scalars(select(JobEvent)).all())
        audit = " ".join(a.summary for a in s.scalars(select(AuditEntry)).all())
        params = json.dumps([j.params for j in s.scalars(select(Job)).all()])
    pfx_b64 = base64.b64encode(wire.pfx).decode()
    for secret in (wire.password, pfx_b64[100:160], central_ca.secret):
        for text in (events, audit, params, job_output(cert_job)):
            assert secret not in text

    # Renewal: the same sweep as Linux sites (every certificate is due in this test's settings).
    from panel.capabilities.sites import sweeps

    endpoint.record.write_text("")
    swept = sweeps.sites_renew_due(system_actor("worker"))
    assert [j.kind for j in swept] == ["sites.site_cert"]
    (renewal,) = run_pending(booted)
    assert renewal.status == JobStatus.SUCCESSFUL, job_output(renewal)
    again = _wire_cert(calls(endpoint))
    _key, new_leaf, _ = pkcs12.load_key_and_certificates(again.pfx, again.password.encode())
    new_thumb = new_leaf.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
    assert new_thumb != thumb and again.thumbprints == {new_thumb} and again.password != wire.password
    with db.unit_of_work() as s:
        rows = s.scalars(select(Certificate).where(Certificate.site_id == site.id)).all()
        assert sorted((c.thumbprint, c.is_current) for c in rows) == sorted([(thumb, False), (new_thumb, True)])


# ---- a ministry's own certificate on IIS (uploaded as a PFX; packed again by the panel) ----------


@pytest.fixture(scope="module")
def upload_pki(tmp_path_factory):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from tests.capabilities.sites.test_names_certs import _cert, _pem

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)
    ca = _cert("Government Test CA", ca_key, ca=True)
    leaf = _cert("w.a.gov.test", key, "Government Test CA", ca_key, names=["w.a.gov.test", "www.a.gov.test"])
    store = tmp_path_factory.mktemp("trust") / "gov-ca.pem"
    store.write_text(_pem(ca))
    return SimpleNamespace(ca=ca, leaf=leaf, key=key, store=store, pem=_pem)


def test_an_uploaded_pfx_is_imported_and_bound_by_its_thumbprint(world, win, booted, upload_pki):
    """The ministry uploads its own certificate as a PFX for an IIS site: the panel unpacks and
    checks it, the certificate job packs it again with the job's own password (the ministry's PFX
    password is used once and kept nowhere), orders nothing by ACME, and the Windows play imports it
    (key not exportable) and binds it on every name by its thumbprint, which the site records."""
    pki, ep = upload_pki, win.endpoint
    ask(world, "create", payload={"fqdn": "w.a.gov.test", "plan": "iis", "aliases": ["www.a.gov.test"], "tls": "none"})
    assert [j.status for j in run_pending(booted)] == [JobStatus.SUCCESSFUL]
    site = the_site("w.a.gov.test")
    ep.record.write_text("")
    own_password = "ministry-pfx-passw0rd"
    own_pfx = pkcs12.serialize_key_and_certificates(
        b"w", pki.key, pki.leaf, [pki.ca], serialization.BestAvailableEncryption(own_password.encode())
    )
    req = svc.site_request(
        world.wa, action="cert_upload", site_id=site.id, secrets={"pfx": own_pfx, "pfx_password": own_password}
    )
    assert req.status == RequestStatus.PROVISIONING  # installing one's own certificate: approved at once
    (job,) = run_pending(booted)
    assert (job.kind, job.status) == ("sites.site_cert", JobStatus.SUCCESSFUL), job_output(job)
    sent = calls(ep)
    assert sent[0]["module"] == "ansible.windows.win_tempfile"  # nothing ran for ACME: no zone, no BIND
    wire = _wire_cert(sent)
    key, leaf, chain = pkcs12.load_key_and_certificates(wire.pfx, wire.password.encode())
    assert leaf == pki.leaf and chain == [pki.ca] and wire.password != own_password
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, pub) == pki.key.public_key().public_bytes(
        serialization.Encoding.DER, pub
    )
    thumb = pki.leaf.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows' thumbprint
    assert wire.thumbprints == {thumb}
    assert sorted(b["hostname"] for b in wire.https) == ["w.a.gov.test", "www.a.gov.test"]
    assert wire.store["key_exportable"] is False and wire.store["store_name"] == "WebHosting"
    with db.unit_of_work() as s:
        current = s.scalars(select(Certificate).where(Certificate.site_id == site.id, Certificate.is_current)).one()
        assert (current.thumbprint, current.source.value) == (thumb, "custom")
        assert s.get(Site, site.id).tls_mode.value == "custom"
    check_against_reviewed("site_cert_upload", normalised_cert(sent, site, [job], wire))
    # Neither PFX, password nor key in anything an operator reads.
    with db.unit_of_work() as s:
        events = " ".join(f"{e.task} {e.stdout}" for e in s.scalars(select(JobEvent)).all())
        audit = " ".join(a.summary for a in s.scalars(select(AuditEntry)).all())
        params = json.dumps([j.params for j in s.scalars(select(Job)).all()])
    key_line = pki.pem(pki.key).splitlines()[2]
    pfx_part = base64.b64encode(wire.pfx).decode()[100:160]
    for secret in (wire.password, own_password, key_line, pfx_part, base64.b64encode(own_pfx).decode()[100:160]):
        for text in (events, audit, params, job_output(job)):
            assert secret not in text

    # A later job keeps the HTTPS bindings by the recorded thumbprint (here: suspension).
    ep.record.write_text("")
    ask(world, "suspend", site_id=site.id, payload={})
    assert [j.status for j in run_pending(booted)] == [JobStatus.SUCCESSFUL]
    (entry,) = next(c for c in calls(ep) if c["module"] == "govhost_iis_sites")["args"]["sites"]
    assert {b["certificate_hash"] for b in entry["bindings"] if b["protocol"] == "https"} == {thumb}
