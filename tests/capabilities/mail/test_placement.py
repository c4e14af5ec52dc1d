"""Mail is placed only on hosts whose mail role is set up (a mail.server job finished there): a host
merely tagged "mail" has no postfix/dovecot configuration and every mailbox job would fail on it.
Asked on every surface, the answer names the host to set up; once it is set up, placement uses it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.capabilities.mail.kinds import place_mail_host
from panel.errors import Conflict
from panel.models.hosts import Host
from panel.models.requests import Request
from panel.models.tenants import OrgKind, Role
from tests.support.surfaces import api_headers, web_login

DOMAIN = "mail.min.gov.kh"


@pytest.fixture
def world(make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    org = make.make_org("Ministry", slug="min")
    user = make.make_user(Role.ORG_ADMIN, org, username="minadmin")
    org_id = org.id
    with db.unit_of_work() as s:
        s.add(
            DomainClaim(org_id=org_id, domain=DOMAIN, token="t" * 32, method=ClaimMethod.TXT, verified_at=db.utcnow())
        )
        host = Host(
            name="demo1",
            address="10.77.0.248",
            host_key_type="ssh-ed25519",
            host_key="AAAAC3NzaC1lZDI1NTE5AAAAIA" + "x" * 43,
            fingerprint="SHA256:" + "y" * 43,
            capacities={"mailboxes": 100},
        )
        host.roles = ["web", "mail"]  # tagged mail, but mail server-setup never ran
        s.add(host)
        s.flush()
        host_id = host.id
    return dc, org_id, SimpleNamespace(id=user.id), host_id


def _set_up(host_id: int) -> None:
    """What the mail.server job records when it finishes on the host."""
    with db.unit_of_work() as s:
        host = s.get(Host, host_id)
        host.facts = {**(host.facts or {}), "mail_server_at": "2026-01-01T00:00:00+00:00"}


def test_placement_skips_a_host_whose_mail_role_is_not_set_up(world):
    _dc, _org, _user, host_id = world
    with db.unit_of_work() as s, pytest.raises(Conflict) as err:
        place_mail_host(s)
    assert err.value.key == "mail.no_host_ready" and "demo1" in err.value.text()
    _set_up(host_id)
    with db.unit_of_work() as s:
        assert place_mail_host(s) == host_id


def test_every_surface_refuses_then_places_after_setup(app, cli, world):
    _dc, org_id, user, host_id = world
    body = {"org_id": org_id, "name": DOMAIN, "contact": "it@example.org"}
    client = app.test_client()
    r = client.post("/api/v1/mail/domains", json=body, headers=api_headers(user))
    assert r.status_code == 409 and r.get_json()["key"] == "mail.no_host_ready", r.get_json()
    assert "demo1" in r.get_json()["detail"]

    result = cli("mail", "domain-add", DOMAIN, "--org", str(org_id), "--contact", "it@example.org", "--as", "minadmin")
    assert result.exit_code == 2 and "mail.no_host_ready" in result.output

    web = app.test_client()
    web_login(app, web, user)
    app.config["WTF_CSRF_ENABLED"] = False
    page = web.post(
        "/mail/new",
        data={**body, "on_suspend": "defer", "default_quota_mb": "1024"},
        follow_redirects=True,
    )
    assert "No mail host is set up yet" in page.get_data(as_text=True)
    with db.unit_of_work() as s:
        assert s.scalars(select(Request).where(Request.kind == "mail.domain_create")).first() is None

    _set_up(host_id)
    r = client.post("/api/v1/mail/domains", json=body, headers=api_headers(user))
    assert r.status_code in (201, 202), r.get_json()
    with db.unit_of_work() as s:
        req = s.scalars(select(Request).where(Request.kind == "mail.domain_create")).one()
        assert req.target_host_id == host_id
