"""Host inventory fixtures: our own lab hosts (hp1, hp2: names and addresses no other test session
uses, so they run beside the shared `lab` fixture), staff and ministry users, logged-in clients."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import time

import pyotp
import pytest

from panel import security
from panel.models.tenants import OrgKind, Role
from panel.services.tokens import token_create
from provisioners import lab as L
from tests.lab.conftest import assert_lab_route, own_lab_hosts
from tests.lab.suites import suite_hosts
from tests.support.factories import PASSWORD

PROBE_HOSTS = {n: ip for n, ip in suite_hosts("hosts").items() if n != "hpdemo"}  # far from the automatic .11 up
TOKEN_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(settings):
    """The panel reaches lab hosts with the lab key (config.example.yaml does the same)."""
    return dataclasses.replace(settings, ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())))


@pytest.fixture(scope="session")
def probe_lab():
    with own_lab_hosts(PROBE_HOSTS) as hosts:
        yield hosts


@pytest.fixture
def lab_target(probe_lab):
    """lab_target("hp1") -> the host, pristine for this test (its original host key back)."""

    def get(name: str) -> L.Host:
        host = L.host_reset(name)
        assert_lab_route(host.ip)
        return host

    return get


def keyscan(ip: str) -> tuple[str, str]:
    """What OpenSSH's own client sees (the kernel routes 10.77.0.0/24 via lab0 from 10.77.0.1)."""
    assert_lab_route(ip)
    out = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-t", "ed25519", ip], capture_output=True, text=True, timeout=20
    ).stdout
    _, kind, blob = out.split()[:3]
    return kind, blob


def openssh_fingerprint(kind: str, blob: str) -> str:
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", "-"],
        input=f"{kind} {blob}\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[1]


def change_host_key(name: str) -> None:
    """A rebuilt (or impostor) host: new ed25519 host key, sshd told to re-read it (SIGHUP re-execs it)."""
    L.host_exec(name, "rm", "-f", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub")
    L.host_exec(name, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/etc/ssh/ssh_host_ed25519_key")
    L.host_exec(name, "sh", "-c", "kill -HUP $(cat /run/sshd.pid)")
    host = L.host_get(name)
    L.wait_port(host.ip, 22, 10)
    time.sleep(0.2)  # the re-exec'd sshd listens again only after loading its keys


@pytest.fixture
def dc(make):
    return make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")


@pytest.fixture
def operator(make, dc):
    return make.make_user(Role.OPERATOR, dc, username="op1", totp_secret=pyotp.random_base32())


@pytest.fixture
def admin(make, dc):
    return make.make_user(Role.ADMIN, dc, username="adm1", totp_secret=pyotp.random_base32())


@pytest.fixture
def auditor(make, dc):
    return make.make_user(Role.AUDITOR, dc, username="aud1", totp_secret=pyotp.random_base32())


@pytest.fixture
def webmaster(make):
    return make.make_user(Role.WEBMASTER, make.make_org("Ministry A", slug="min-a"), username="wm1")


def _csrf(html: str) -> str:
    m = TOKEN_RE.search(html)
    assert m, "no CSRF token on the page"
    return m.group(1) or m.group(2)


def post_form(client, url: str, data: dict, page: str | None = None):
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": _csrf(html)})


@pytest.fixture
def web_login(client):
    """web_login(user) -> the client logged in through the real login (and TOTP) pages."""

    def login(user):
        r = post_form(client, "/login", {"username": user.username, "password": PASSWORD})
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        if user.totp_enabled:
            code = pyotp.TOTP(security.unseal(user.totp_secret)).now()
            r = post_form(client, "/twofa", {"code": code})
            assert r.status_code == 302, r.get_data(as_text=True)[:500]
        return client

    return login


@pytest.fixture
def api_token(make):
    """api_token(user) -> Authorization headers with a fresh write token of that user."""

    def token(user, scope="write"):
        _, plain = token_create(make.actor_of(user, "api"), name="test", scope=scope, days=1)
        return {"Authorization": f"Bearer {plain}"}

    return token
