"""A lab web host of this suite's own (sec1) and the real job path, reusing the sites fixtures."""

from __future__ import annotations

import dataclasses

import pytest

from panel.models.hosts import Host
from provisioners import lab as L
from tests.capabilities.sites.conftest import consumer, world  # noqa: F401  (fixtures)
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.factories import make_lab_host

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
    host = make_lab_host("sec1", ip, ["web"], facts={"php_versions": ["8.2"]})
    yield host
    L.close_control_sockets(ip)
