"""An uploaded certificate reaches the host: a ministry uploads a certificate (signed by the test's
"government CA", the panel's configured trust store) for its site, the site.cert job installs it,
and the site answers over TLS presenting exactly that certificate (same DER bytes)."""

from __future__ import annotations

import dataclasses
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from panel import db
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.sites.models import Site
from panel.models.jobs import Job, JobStatus
from provisioners import lab as L
from tests.capabilities.sites.conftest import SITE_HOSTS, wait_for
from tests.capabilities.sites.test_lab_sites import create_site, site_row
from tests.capabilities.sites.test_names_certs import _cert, _pem, ec
from tests.support.clients import SOURCE, http_get

pytestmark = pytest.mark.lab
IP = SITE_HOSTS["st1"]
FQDN = "up.a.gov.test"


@pytest.fixture(scope="module")
def pki():
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Government Test CA", ca_key, ca=True)
    leaf = _cert(FQDN, key, "Government Test CA", ca_key, names=[FQDN])
    return ca, leaf, key


@pytest.fixture
def settings(settings, tmp_path_factory, pki):
    store = tmp_path_factory.mktemp("trust") / "gov-ca.pem"
    store.write_text(_pem(pki[0]))
    return dataclasses.replace(settings, sites=dataclasses.replace(settings.sites, cert_trust_store=str(store)))


def presented_der(ip: str, sni: str) -> bytes:
    L.assert_pinned(ip)
    ctx = ssl._create_unverified_context()  # noqa: S323 - we compare the bytes ourselves
    with socket.create_connection((ip, 443), 10, SOURCE) as sock, ctx.wrap_socket(sock, server_hostname=sni) as tls:
        return tls.getpeercert(binary_form=True)


def test_uploaded_certificate_is_served_exactly(world, web_host, consumer, pki, tmp_path):
    ca, leaf, key = pki
    web_host("st1")
    site = create_site(world, FQDN, tls="none")
    req = sites_svc.site_request(
        world.wa,
        action="cert_upload",
        site_id=site.id,
        payload={"certificate": _pem(leaf), "chain": _pem(ca)},
        secrets={"private_key": _pem(key)},
    )

    def finished():
        with db.unit_of_work() as s:
            jobs = s.query(Job).filter(Job.request_id == req.id).all()
            return jobs if jobs and all(j.status not in (JobStatus.PENDING, JobStatus.RUNNING) for j in jobs) else None

    jobs = wait_for(finished, 180)
    assert [j.status for j in jobs] == [JobStatus.SUCCESSFUL], [(j.status, j.explanation) for j in jobs]
    row = wait_for(lambda: (r := site_row(FQDN)) and r.certificate and r, 30)
    assert isinstance(row, Site) and row.certificate.names == [FQDN]
    assert presented_der(IP, FQDN) == leaf.public_bytes(Encoding.DER)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(_pem(ca))
    page = http_get(f"https://{IP}/", host_header=FQDN, cafile=str(ca_file))  # verified against the CA
    assert page.status == 200
    assert x509.load_der_x509_certificate(presented_der(IP, FQDN)).serial_number == leaf.serial_number
