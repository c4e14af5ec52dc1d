"""The mail suite's lab hosts (a mail host and a BIND), once per test session.

tests/conftest.py registers this module as a plugin, so every test that needs the hosts shares one
fixture: a test outside this folder (tests/bulk) that imported `mail_lab` from the mail conftest
got a second session fixture of its own, which brought the hosts up and ran the mail server job
again (about 100 s of the gate)."""

from __future__ import annotations

import base64
import os
from types import SimpleNamespace

import pytest

from provisioners import lab as L
from tests.capabilities.dns.conftest import run_bare
from tests.lab.conftest import assert_lab_route, lab_unavailable
from tests.lab.suites import suite_hosts

MAIL_HOST = ("mt1", suite_hosts("mail")["mt1"])  # each suite its own addresses: tests/lab/suites.py
DNS_HOST = ("mtdns", suite_hosts("mail")["mtdns"])


@pytest.fixture(scope="session")
def mail_lab(tmp_path_factory):
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    names = [MAIL_HOST, DNS_HOST]
    try:
        L.build()
        L.net_up()
        L.hosts_up([f"{n}={ip}" for n, ip in names], fresh=True)
        for _, ip in names:
            assert_lab_route(ip)
        secret = base64.b64encode(os.urandom(32)).decode()
        r = run_bare(
            "dns_server.yml",
            DNS_HOST[1],
            {"bind_server_key_name": "govhost"},
            {"tsig_secret": secret},
            tmp_path_factory.mktemp("jobs"),
        )
        assert r.ok, r.explanation
        yield SimpleNamespace(secret=secret, mail_ip=MAIL_HOST[1], dns_ip=DNS_HOST[1], state={"server": None})
    finally:
        for _, ip in names:
            L.close_control_sockets(ip)
        L.hosts_down([n for n, _ in names], forget=True)
