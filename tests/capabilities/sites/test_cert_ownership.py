"""An uploaded certificate may only name the ministry's own verified domains (web, API, CLI), must
chain to a CA of the configured trust store, and is refused when self-signed unless the settings
accept that. A certificate that also names another ministry's site would let one ministry's server
impersonate the other's."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from panel import db
from panel.capabilities.sites.certs import check_upload, load_trust
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.errors import Invalid
from panel.models.hosts import Host
from tests.capabilities.sites.test_names_certs import _cert, _pem, ec
from tests.support.fixtures import login_as, post_form, token_for  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def pki():
    ca_key, key, stranger_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("Government Test CA", ca_key, ca=True)
    own = _cert("www.a.gov.test", key, "Government Test CA", ca_key, names=["www.a.gov.test", "a.gov.test"])
    both = _cert("www.a.gov.test", key, "Government Test CA", ca_key, names=["www.a.gov.test", "www.b.gov.test"])
    stranger_ca = _cert("Stranger CA", stranger_key, ca=True)
    untrusted = _cert("www.a.gov.test", key, "Stranger CA", stranger_key, names=["www.a.gov.test"])
    self_signed = _cert("www.a.gov.test", key, names=["www.a.gov.test"])
    return SimpleNamespace(
        ca=ca, key=key, own=own, both=both, stranger_ca=stranger_ca, untrusted=untrusted, self_signed=self_signed
    )


@pytest.fixture
def settings(settings, tmp_path_factory, pki):
    """The trust store is the test's government CA (instead of the system's public CAs)."""
    store = tmp_path_factory.mktemp("trust") / "gov-ca.pem"
    store.write_text(_pem(pki.ca))
    return dataclasses.replace(settings, sites=dataclasses.replace(settings.sites, cert_trust_store=str(store)))


@pytest.fixture
def site(world):
    with db.unit_of_work() as s:
        host = Host(name="webx", address="10.77.0.250", host_key_type="ssh-ed25519", host_key="AAAA", fingerprint="x")
        host.roles = ["web"]
        s.add(host)
        s.flush()
        plan = s.query(Plan).filter_by(name="basic").one()
        row = Site(
            org_id=world.a.id,
            fqdn="www.a.gov.test",
            plan_id=plan.id,
            host_id=host.id,
            status=SiteStatus.ACTIVE,
            system_user="site1",
        )
        s.add(row)
        s.flush()
        return row.id


def _body(cert, pki, chain=None):
    return {"certificate": _pem(cert), "chain": _pem(chain or pki.ca), "private_key": _pem(pki.key)}


def test_api_refuses_a_certificate_naming_another_ministry(site, world, pki, app, token_for):
    client = app.test_client()
    r = client.post(f"/api/v1/sites/{site}/certificate", json=_body(pki.both, pki), headers=token_for(world.wa_user))
    assert r.status_code == 422 and r.get_json()["key"] == "site.cert_foreign_names", r.get_json()
    assert "www.b.gov.test" in r.get_json()["detail"]
    ok = client.post(f"/api/v1/sites/{site}/certificate", json=_body(pki.own, pki), headers=token_for(world.wa_user))
    assert ok.status_code in (201, 202), ok.get_json()


def test_web_and_cli_refuse_it_too(site, world, pki, login_as, cli, tmp_path):
    web = login_as(world.wa_user)
    r = post_form(
        web,
        f"/sites/{site}/certificate",
        {f"cert-{k}": v for k, v in _body(pki.both, pki).items()},
        page=f"/sites/{site}",
    )
    assert r.status_code == 422 and "www.b.gov.test" in r.get_data(as_text=True)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(_pem(pki.both))
    key.write_text(_pem(pki.key))
    result = cli(
        "sites", "cert-upload", str(site), "--cert", str(cert), "--key", str(key), "--as", world.wa_user.username
    )
    assert result.exit_code == 2 and "site.cert_foreign_names" in result.output


def test_trust_store_and_self_signed(site, world, pki, app, token_for, booted):
    client, h = app.test_client(), token_for(world.wa_user)
    r = client.post(f"/api/v1/sites/{site}/certificate", json=_body(pki.untrusted, pki, pki.stranger_ca), headers=h)
    assert r.status_code == 422 and r.get_json()["key"] == "site.cert_untrusted", r.get_json()
    r = client.post(f"/api/v1/sites/{site}/certificate", json={**_body(pki.self_signed, pki), "chain": ""}, headers=h)
    assert r.status_code == 422 and r.get_json()["key"] == "site.cert_self_signed", r.get_json()


def test_check_upload_rules(pki, booted):
    trusted = load_trust(booted.sites.cert_trust_store)
    names = ["www.a.gov.test"]
    assert check_upload(_pem(pki.own), "", _pem(pki.key), names, trusted=trusted).names[0] == "www.a.gov.test"
    with pytest.raises(Invalid) as err:
        check_upload(_pem(pki.self_signed), "", _pem(pki.key), names, trusted=trusted)
    assert err.value.key == "site.cert_self_signed"
    facts = check_upload(_pem(pki.self_signed), "", _pem(pki.key), names, trusted=trusted, accept_self_signed=True)
    assert facts.names == names
    with pytest.raises(Invalid) as err:
        check_upload(_pem(pki.untrusted), _pem(pki.stranger_ca), _pem(pki.key), names, trusted=trusted)
    assert err.value.key == "site.cert_untrusted"
    assert load_trust("")  # the system bundle is read when no store is configured
