"""Web hosting fixtures: our own lab hosts (st1, st2), Pebble (ACME) in the root namespace with a
real BIND on st1 answering for gov.test, a verified domain claim, a plan, two ministries, and
the real job path (Huey consumer in a thread, ansible-runner, the lab hosts)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.sites.models import Plan
from panel.jobs import queue, tasks
from panel.models.hosts import Host
from panel.models.tenants import Role
from panel.services import policies
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.factories import make_lab_host

SITE_HOSTS = suite_hosts("sites")  # each suite its own addresses: tests/lab/suites.py
PEBBLE_PORT, PEBBLE_MGMT = 14050, 15050
DOMAIN = "gov.test"
SYSTEM = system_actor("cli", "test-system")


# ---- Pebble --------------------------------------------------------------------------------------


def _self_signed(path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble-lab")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(L.GATEWAY))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt, k = path / "pebble.crt", path / "pebble.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(k, 0o600)
    return crt, k


@pytest.fixture(scope="session")
def pebble(tmp_path_factory, site_lab):
    """Pebble on 10.77.0.1 (ACME directory + its root CA), resolving names at BIND on st1."""
    if not shutil.which("pebble"):
        pytest.skip("Debian package pebble is not installed")
    with pebble_at(tmp_path_factory.mktemp("pebble"), PEBBLE_PORT, PEBBLE_MGMT, SITE_HOSTS["st1"]) as ca:
        yield SimpleNamespace(directory=ca.directory, tls_cert=str(ca.tls_cert), root=str(ca.roots), log=ca.log)


@contextlib.contextmanager
def pebble_at(d: Path, port: int, mgmt: int, dns_server: str):
    """Pebble on the lab gateway resolving at dns_server (DNS-01 answers are looked up there); its
    directory, its listener's certificate (the ACME client's CA bundle) and its roots."""
    crt, key = _self_signed(d)
    cfg = {
        "pebble": {
            "listenAddress": f"{L.GATEWAY}:{port}", "managementListenAddress": f"{L.GATEWAY}:{mgmt}",
            "certificate": str(crt), "privateKey": str(key), "httpPort": 80, "tlsPort": 443,
            "ocspResponderURL": "", "externalAccountBindingRequired": False,
        }
    }  # fmt: skip
    (d / "pebble.json").write_text(json.dumps(cfg))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    with (d / "pebble.log").open("w") as log:
        proc = subprocess.Popen(
            ["pebble", "-config", str(d / "pebble.json"), "-dnsserver", f"{dns_server}:53"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: _listening(L.GATEWAY, port), 15)
        ctx = ssl.create_default_context(cafile=str(crt))
        root = urllib.request.urlopen(f"https://{L.GATEWAY}:{mgmt}/roots/0", context=ctx, timeout=10).read()
        (d / "roots.pem").write_bytes(root)
        yield SimpleNamespace(
            directory=f"https://{L.GATEWAY}:{port}/dir", tls_cert=crt, roots=d / "roots.pem", log=d / "pebble.log"
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def _listening(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), 0.5).close()
        return True
    except OSError:
        return False


# ---- lab hosts -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site_lab():
    with own_lab_hosts(SITE_HOSTS) as hosts:
        yield hosts


ZONE = """$TTL 60
@ IN SOA ns.gov.test. hostmaster.gov.test. 1 60 60 600 60
@ IN NS ns.gov.test.
ns IN A {ip}
* IN A {ip}
"""


def start_bind(name: str) -> None:
    """Authoritative gov.test on the host (every name -> the host), for Pebble's HTTP-01 lookups."""
    ip = SITE_HOSTS[name]
    script = (
        f"cat > /var/lib/bind/db.gov.test <<'EOF'\n{ZONE.format(ip=ip)}EOF\n"
        'echo \'zone "gov.test" { type master; file "/var/lib/bind/db.gov.test"; };\' '
        "> /etc/bind/named.conf.local\n"
        "/etc/init.d/named start </dev/null >/dev/null 2>&1; sleep 0.3\n"
    )
    L.host_exec(name, "bash", "-c", script)


@pytest.fixture
def settings(settings, request):
    """Lab key for SSH; ACME against Pebble when the test asks for the `pebble` fixture."""
    acme = request.getfixturevalue("pebble") if "pebble" in request.fixturenames else None
    return dataclasses.replace(
        settings,
        ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())),
        sites=dataclasses.replace(
            settings.sites, acme_directory=acme.directory if acme else "", acme_ca_bundle=acme.tls_cert if acme else ""
        ),
    )


@pytest.fixture
def web_host(site_lab, booted):
    """web_host("st1") -> a Host row (role web, PHP 8.2) for the pristine lab host."""
    made = []

    def make(name: str = "st1", *, bind: bool = False, capacity: int = 200) -> Host:
        L.close_control_sockets(SITE_HOSTS[name])
        lab_host = L.host_reset(name)
        assert_lab_route(lab_host.ip)
        if bind:
            start_bind(name)
        host = make_lab_host(
            name, lab_host.ip, ["web"], capacities={"sites": capacity}, facts={"php_versions": ["8.2"]}
        )
        made.append(name)
        return host

    yield make
    for name in made:
        L.close_control_sockets(SITE_HOSTS[name])


@pytest.fixture
def consumer(booted):
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    queue.huey().flush()
    c = tasks.consumer(booted, workers=2)
    c.start()
    yield c
    c.stop(graceful=True)
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@pytest.fixture
def world(make):
    """Two ministries (A owns gov.test names under a.gov.test, B under b.gov.test), their
    webmasters, an operator, a plan, and the site kinds approved by one operator."""
    a, b = make.make_org("Ministry A"), make.make_org("Ministry B")
    wa, wb = make.make_user(Role.WEBMASTER, a), make.make_user(Role.WEBMASTER, b)
    op = make.make_user(Role.OPERATOR)
    with db.unit_of_work() as s:
        for org, dom in ((a, "a.gov.test"), (b, "b.gov.test")):
            s.add(
                DomainClaim(org_id=org.id, domain=dom, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow())
            )
        s.add(Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))
        s.add(Plan(name="large", disk_mb=2000, memory_mb=256, max_children=8, upload_mb=64))
    return SimpleNamespace(
        a=a, b=b, wa=make.actor_of(wa), wb=make.actor_of(wb), op=make.actor_of(op), wa_user=wa, wb_user=wb, op_user=op
    )


def set_policy(kind: str, mode: str) -> None:
    policies.policy_set(SYSTEM, kind=kind, mode=mode)


def wait_for(check, timeout: float = 60.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {check}")
        time.sleep(every)


@pytest.fixture(autouse=True)
def _report_jobs(request):
    """On failure, show every site job that did not succeed (what the operator would read)."""
    yield
    rep = getattr(request.node, "rep_call", None)
    if "booted" not in request.fixturenames or rep is None or not rep.failed:
        return
    from panel.models.jobs import Job

    with db.unit_of_work() as s:
        for job in s.query(Job).order_by(Job.id):
            print(f"job {job.id} {job.kind} {job.status}: {job.explanation} {job.traceback[-1500:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
