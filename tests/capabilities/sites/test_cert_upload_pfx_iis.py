"""A ministry's own certificate as a PFX file (web, API, CLI: unpacked by the panel into the PEM
parts a PEM upload gives, its password kept nowhere) and on an IIS site: refused when Windows could
not serve its key, and packed for the Windows play as a PFX protected by the job's password, bound
by its thumbprint, with nothing ordered by ACME (the wire test, rung 2, runs it)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import func, select

from panel import db
from panel.capabilities.sites import jobs as site_jobs
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.certs import from_pfx
from panel.capabilities.sites.models import Site, SiteStatus
from panel.errors import PanelError
from panel.jobs import capabilities
from panel.models.hosts import HostOS
from panel.models.jobs import Job
from panel.models.requests import Request
from panel.services import requests
from tests.capabilities.sites.test_names_certs import _cert, _pem, ec
from tests.support.fixtures import login_as, post_form, token_for  # noqa: F401 - fixtures

FQDN = "www.a.gov.test"


def _pfx(key, leaf, extra, password: bytes | None) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"x", key, leaf, extra or None, enc)


@pytest.fixture(scope="module")
def pki():
    root_key, mid_key, key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root = _cert("Government Root CA", root_key, ca=True)
    mid = _cert("Government Issuing CA", mid_key, "Government Root CA", root_key, ca=True)
    leaf = _cert(FQDN, key, "Government Issuing CA", mid_key, names=[FQDN])
    stray = _cert("Unrelated CA", other_key, ca=True)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_leaf = _cert(FQDN, ed_key, "Government Issuing CA", mid_key, names=[FQDN])
    return SimpleNamespace(root=root, mid=mid, leaf=leaf, key=key, stray=stray, ed_key=ed_key, ed_leaf=ed_leaf)


@pytest.fixture
def settings(settings, tmp_path_factory, pki):
    store = tmp_path_factory.mktemp("trust") / "gov-ca.pem"
    store.write_text(_pem(pki.root))
    return dataclasses.replace(settings, sites=dataclasses.replace(settings.sites, cert_trust_store=str(store)))


@pytest.fixture
def iis_site(world, make):
    host = make.make_host("win1", roles=["web"], capacities={"sites": 50}, os=HostOS.WINDOWS, ssh_user="govhost")
    plan = make.make_plan("iis", os=HostOS.WINDOWS, managed_runtime="v4.0", disk_mb=100)
    return make.make_site(world.a, FQDN, host=host, plan=plan, status=SiteStatus.ACTIVE)


def _requests() -> int:
    with db.unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(Request))


def test_a_pfx_is_unpacked_into_the_leaf_its_path_and_its_key(pki):
    # stored out of order, with a certificate not on the leaf's path (left out: it is not served)
    pfx = _pfx(pki.key, pki.leaf, [pki.root, pki.stray, pki.mid], b"s3cret")
    cert, chain, key = from_pfx(pfx, "s3cret")
    assert cert == _pem(pki.leaf) and chain == _pem(pki.mid) + _pem(pki.root)
    assert key == _pem(pki.key)
    assert from_pfx(base64.b64encode(pfx).decode(), "s3cret") == (cert, chain, key)  # the API's form
    assert from_pfx(_pfx(pki.key, pki.leaf, [], None), "")[0] == cert  # exported without a password


@pytest.mark.parametrize(
    ("data", "password", "key", "field"),
    [
        ("WRONG", "s3cret", "site.pfx_unreadable", "pfx"),
        ("GOOD", "wrong", "site.pfx_unreadable", "pfx"),
        (b"not a pfx", "", "site.pfx_unreadable", "pfx"),
        ("!!not base64!!", "", "site.pfx_unreadable", "pfx"),
        (b"\0" * 48_001, "", "site.pfx_too_large", "pfx"),
        ("NOKEY", "s3cret", "site.pfx_no_key", "pfx"),
        ("GOOD", "x" * 1025, "site.pfx_password_invalid", "pfx_password"),
    ],
)
def test_a_bad_pfx_is_refused_with_its_reason(pki, data, password, key, field):
    good = _pfx(pki.key, pki.leaf, [pki.mid], b"s3cret")
    data = {
        "GOOD": good,
        "WRONG": base64.b64encode(b"0" * 100).decode(),
        "NOKEY": pkcs12.serialize_key_and_certificates(
            b"x", None, None, [pki.leaf], serialization.BestAvailableEncryption(b"s3cret")
        ),
    }.get(data, data)
    with pytest.raises(PanelError) as exc:
        from_pfx(data, password)
    assert (exc.value.key, exc.value.field, exc.value.status) == (key, field, 422)


def test_a_pfx_upload_asks_for_the_same_request_as_pem(world, pki, iis_site):
    pfx = _pfx(pki.key, pki.leaf, [pki.mid], b"s3cret")
    req = svc.site_request(
        world.wa, action="cert_upload", site_id=iis_site.id, secrets={"pfx": pfx, "pfx_password": "s3cret"}
    )
    assert req.payload["certificate"] == _pem(pki.leaf) and req.payload["chain"] == _pem(pki.mid)
    assert requests.request_secrets(req) == {"private_key": _pem(pki.key)}  # the password is kept nowhere
    with db.unit_of_work() as s:
        assert "s3cret" not in json.dumps(s.get(Request, req.id).payload)
    before = _requests()
    with pytest.raises(PanelError) as exc:  # both forms at once
        svc.site_request(
            world.wa, action="cert_upload", site_id=iis_site.id, payload={"certificate": _pem(pki.leaf)},
            secrets={"pfx": pfx, "pfx_password": "s3cret"},
        )  # fmt: skip
    assert (exc.value.key, exc.value.field) == ("site.cert_two_forms", "pfx")
    assert _requests() == before


def test_an_iis_site_refuses_a_key_windows_cannot_serve(world, pki, iis_site, make):
    before = _requests()
    with pytest.raises(PanelError) as exc:
        svc.site_request(
            world.wa, action="cert_upload", site_id=iis_site.id,
            payload={"certificate": _pem(pki.ed_leaf), "chain": _pem(pki.mid)},
            secrets={"private_key": _pem(pki.ed_key)},
        )  # fmt: skip
    assert (exc.value.key, exc.value.field, exc.value.status) == ("site.cert_key_windows", "certificate", 422)
    assert "Ed25519" in exc.value.text() and _requests() == before


def test_api_and_cli_take_a_pfx(world, pki, iis_site, app, token_for, cli, tmp_path):
    pfx = _pfx(pki.key, pki.leaf, [pki.mid], b"s3cret")
    client = app.test_client()
    url, h = f"/api/v1/sites/{iis_site.id}/certificate", token_for(world.wa_user)
    r = client.post(url, json={"pfx": base64.b64encode(pfx).decode(), "pfx_password": "wrong"}, headers=h)
    assert r.status_code == 422 and r.json["key"] == "site.pfx_unreadable", r.json
    r = client.post(url, json={"pfx": base64.b64encode(pfx).decode(), "pfx_password": "s3cret"}, headers=h)
    assert r.status_code == 201, r.json
    (tmp_path / "site.pfx").write_bytes(pfx)
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "leaf.pem").write_text(_pem(pki.leaf))
    both = cli("sites", "cert-upload", str(iis_site.id), "--pfx", str(tmp_path / "site.pfx"),
               "--cert", str(tmp_path / "leaf.pem"), "--as", world.wa_user.username)  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output
    ok = cli("sites", "cert-upload", str(iis_site.id), "--pfx", str(tmp_path / "site.pfx"),
             "--pfx-password-file", str(tmp_path / "pw"), "--as", world.wa_user.username)  # fmt: skip
    assert ok.exit_code == 0, ok.output


def test_web_form_takes_a_pfx_file(world, pki, iis_site, login_as):
    """The file field sends the PFX (a multipart form); a wrong password is the form's message."""
    web = login_as(world.wa_user)
    page = web.get(f"/sites/{iis_site.id}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="cert-pfx"' in page
    pfx = _pfx(pki.key, pki.leaf, [pki.mid], b"s3cret")
    url = f"/sites/{iis_site.id}/certificate"

    def send(password):
        return post_form(web, url, {"cert-pfx": (io.BytesIO(pfx), "site.pfx"), "cert-pfx_password": password},
                         page=f"/sites/{iis_site.id}")  # fmt: skip

    bad = send("wrong")
    assert bad.status_code == 422 and "cannot be opened" in bad.get_data(as_text=True)
    assert send("s3cret").status_code in (302, 303)
    with db.unit_of_work() as s:
        req = s.scalars(select(Request).where(Request.kind == "sites.site_cert_upload")).one()
        assert req.payload["certificate"] == _pem(pki.leaf)


def test_an_uploaded_certificate_is_packed_for_iis(world, pki, iis_site):
    req = svc.site_request(
        world.wa, action="cert_upload", site_id=iis_site.id,
        payload={"certificate": _pem(pki.leaf), "chain": _pem(pki.mid)}, secrets={"private_key": _pem(pki.key)},
    )  # fmt: skip
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.request_id == req.id)).one()
        extravars, secrets, targets = site_jobs.build(job, s)
        assert capabilities.get(job.kind).playbook_for(targets) == "site_cert_iis.yml"
        params = json.dumps(job.params)
    thumb = pki.leaf.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows' thumbprint
    assert extravars["iis_cert_upload"] == {
        "name": FQDN, "thumbprint": thumb, "fullchain": _pem(pki.leaf) + _pem(pki.mid),
    }  # fmt: skip
    assert not any(k.startswith("acme_central") for k in extravars)  # nothing is ordered
    (entry,) = extravars["govhost_iis_sites"]
    assert [b["hostname"] for b in entry["https"]] == [FQDN]
    key, leaf, chain = pkcs12.load_key_and_certificates(
        base64.b64decode(secrets["iis_cert_upload_pfx"]), secrets["iis_cert_pfx_password"].encode()
    )
    assert leaf == pki.leaf and chain == [pki.mid]
    assert key.private_numbers() == pki.key.private_numbers()
    text = json.dumps(extravars) + params
    assert secrets["iis_cert_upload_pfx"][:60] not in text and secrets["iis_cert_pfx_password"] not in text
    assert _pem(pki.key).splitlines()[1] not in text
    with db.unit_of_work() as s:
        assert s.get(Site, iis_site.id).status == SiteStatus.ACTIVE
