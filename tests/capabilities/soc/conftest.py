"""SOC feed fixtures: a real rsyslog (TLS, client certificates) as the SIEM, its PKI, DC actors."""

from __future__ import annotations

import pytest

from panel.capabilities.soc import service as svc
from panel.models.tenants import OrgKind, Role
from tests.capabilities.soc.siem import Rsyslog, available, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("soc-pki"))


@pytest.fixture
def siem(tmp_path, pki):
    missing = available()
    if missing:
        pytest.skip(missing)  # the gate fails on a skip: CI installs rsyslog and rsyslog-gnutls
    r = Rsyslog(tmp_path / "siem", pki)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def dc(make):
    return make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")


@pytest.fixture
def admin(make, dc):
    return make.actor_of(make.make_user(Role.ADMIN, dc, username="socadmin"))


def syslog_destination(admin, siem, pki, **over) -> int:
    data = {
        "name": "siem",
        "transport": "syslog_tls",
        "target": siem.target,
        "ca_file": str(pki.ca),
        "client_cert": str(pki.client_cert),
        "client_key": str(pki.client_key),
        "server_name": "localhost",
    }
    data.update(over)
    return svc.destination_create(admin, data=svc.DestinationIn(**data)).id


# ---- lab: our own hosts (tests/lab/suites.py "soc"), jobs run by the real runner -----------------


@pytest.fixture(scope="session")
def soc_web_lab():
    from provisioners import lab as L
    from tests.lab.conftest import own_lab_hosts
    from tests.lab.suites import suite_hosts

    name = "socw1"
    with own_lab_hosts({name: suite_hosts("soc")[name]}) as hosts:
        L.close_control_sockets(hosts[name].ip)
        yield hosts[name]


@pytest.fixture(scope="session")
def soc_f2b_lab():
    """socf1 (the protected host) and socx1 (a lab host that attacks it: the panel's own address,
    the lab gateway, must never be the one banned)."""
    from provisioners import lab as L
    from tests.lab.conftest import own_lab_hosts
    from tests.lab.suites import suite_hosts

    wanted = {n: ip for n, ip in suite_hosts("soc").items() if n in ("socf1", "socx1")}
    with own_lab_hosts(wanted) as hosts:
        for h in hosts.values():
            L.close_control_sockets(h.ip)
        yield hosts


@pytest.fixture(scope="session")
def soc_jails_lab():
    """socm1 (a mail host), socp1 (a web host) and two lab hosts that attack them, socx2 and socx3
    (the mail host's two jails each ban their own attacker)."""
    from provisioners import lab as L
    from tests.lab.conftest import own_lab_hosts
    from tests.lab.suites import suite_hosts

    wanted = {n: ip for n, ip in suite_hosts("soc").items() if n in ("socm1", "socp1", "socx2", "socx3")}
    with own_lab_hosts(wanted) as hosts:
        for h in hosts.values():
            L.close_control_sockets(h.ip)
        yield hosts


@pytest.fixture
def settings(settings, request):
    """The lab key for SSH when a test drives a lab host."""
    if not {"soc_web_lab", "soc_f2b_lab", "soc_jails_lab"} & set(request.fixturenames):
        return settings
    import dataclasses

    from provisioners import lab as L

    return dataclasses.replace(settings, ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())))


def run_pending_jobs(settings) -> list:
    """Run every pending job with the real runner (ansible-runner over SSH), oldest first."""
    from tests.support.jobs import run_pending_jobs as run

    return [(j.kind, j.status.value, f"{j.explanation} {j.traceback[-1500:]}") for j in run(settings)]


def host_sh(name: str, cmd: str, timeout: float = 60) -> str:
    """A shell command on a lab host (from outside, no SSH); its stdout."""
    from provisioners import lab as L

    return L.host_exec(name, "bash", "-c", cmd, check=False, timeout=timeout).stdout


def assert_ran(jobs, *kinds: str) -> None:
    assert [k for k, _, _ in jobs] == list(kinds), jobs
    for k, status, text in jobs:
        assert status == "successful", f"{k}: {text}"


def wait_until(check, timeout: float):
    import time

    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s")
        time.sleep(0.5)
    return value
