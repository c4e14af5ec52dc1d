"""A lab web host of this suite's own (sec1) and the real job path, reusing the sites fixtures."""

from __future__ import annotations

import dataclasses

import pytest

from panel import db
from panel.models.hosts import Host, HostRole
from provisioners import lab as L
from provisioners import probes
from tests.capabilities.sites.conftest import consumer, world  # noqa: F401  (fixtures)
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts

SEC_HOSTS = suite_hosts("security")


@pytest.fixture(scope="session")
def sec_lab():
    with own_lab_hosts(SEC_HOSTS) as hosts:
        yield hosts


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())))


@pytest.fixture
def web_host(sec_lab, booted) -> Host:
    ip = SEC_HOSTS["sec1"]
    L.close_control_sockets(ip)
    assert_lab_route(L.host_reset("sec1").ip)
    kind, blob, fp = probes.fetch_host_key(ip, 22, bind=L.GATEWAY)
    with db.unit_of_work() as s:
        host = Host(
            name="sec1",
            address=ip,
            port=22,
            ssh_user="root",
            host_key_type=kind,
            host_key=blob,
            fingerprint=fp,
            facts={"php_versions": ["8.2"]},
        )
        host.roles = [HostRole.WEB]
        s.add(host)
        s.flush()
    yield host
    L.close_control_sockets(ip)
