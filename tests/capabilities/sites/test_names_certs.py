"""Pure checks: the shared DNS name validator and the custom certificate validation."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import NameOID

from panel.capabilities.sites.certs import check_upload
from panel.errors import Invalid
from panel.services.names import clean_hostname, is_under, to_unicode

HOSTILE = {
    "a;rm -rf /": "name.characters",
    "{{ lookup('pipe','id') }}": "name.characters",
    "../x": "name.characters",
    "www.gov.kh\nid": "name.characters",
    "www\x00.gov.kh": "name.characters",
    ("a" * 60 + ".") * 5 + "gov.kh": "name.too_long",
    "a" * 300 + ".gov.kh": "name.label_too_long",
    ("a" * 64) + ".gov.kh": "name.label_too_long",
    "-bad.gov.kh": "name.label_invalid",
    "under_score.gov.kh": "name.label_invalid",
    "www..gov.kh": "name.empty_label",
    "localhost": "name.not_qualified",
    "www.gov.123": "name.tld_invalid",
    "": "name.required",
}


@pytest.mark.parametrize(("value", "key"), HOSTILE.items())
def test_hostile_names_refused_with_their_rule(value, key):
    with pytest.raises(Invalid) as exc:
        clean_hostname(value)
    assert exc.value.key == key and exc.value.field == "fqdn"
    assert "\x00" not in exc.value.text() and "\n" not in exc.value.text()


def test_names_normalised_and_idna():
    assert clean_hostname(" WWW.MPTC.Gov.KH. ") == "www.mptc.gov.kh"
    khmer = clean_hostname("ក្រសួង.gov.kh")
    assert khmer.startswith("xn--") and khmer.endswith(".gov.kh") and khmer.isascii()
    assert to_unicode(khmer) == "ក្រសួង.gov.kh"
    assert is_under("www.a.gov.kh", "gov.kh") and not is_under("evilgov.kh", "gov.kh")


# ---- certificates --------------------------------------------------------------------------------

NOW = dt.datetime.now(dt.UTC)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer=None, issuer_key=None, names=(), days=(-1, 90), ca=False):
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def _pem(obj) -> str:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(Encoding.PEM).decode()
    return obj.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


@pytest.fixture(scope="module")
def pki():
    ca_key, key, other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("Test CA", ca_key, ca=True)
    leaf = _cert("www.a.gov.kh", key, "Test CA", ca_key, names=["www.a.gov.kh", "*.a.gov.kh"])
    return {"ca_key": ca_key, "key": key, "other": other, "ca": ca, "leaf": leaf}


def test_good_certificate_passes(pki):
    facts = check_upload(_pem(pki["leaf"]), _pem(pki["ca"]), _pem(pki["key"]), ["www.a.gov.kh", "shop.a.gov.kh"])
    assert facts.names == ["www.a.gov.kh", "*.a.gov.kh"] and facts.not_after > NOW


def _refused(cert, chain, key, names=("www.a.gov.kh",)):
    with pytest.raises(Invalid) as exc:
        check_upload(cert, chain, key, list(names))
    return exc.value


def test_key_mismatch_is_precise(pki):
    err = _refused(_pem(pki["leaf"]), _pem(pki["ca"]), _pem(pki["other"]))
    assert err.key == "site.cert_key_mismatch" and err.field == "private_key"


def test_names_not_covered(pki):
    err = _refused(_pem(pki["leaf"]), _pem(pki["ca"]), _pem(pki["key"]), ["www.a.gov.kh", "a.b.a.gov.kh"])
    assert err.key == "site.cert_names" and "a.b.a.gov.kh" in err.text()


def test_expired_and_not_yet_valid(pki):
    old = _cert("www.a.gov.kh", pki["key"], "Test CA", pki["ca_key"], names=["www.a.gov.kh"], days=(-90, -1))
    assert _refused(_pem(old), _pem(pki["ca"]), _pem(pki["key"])).key == "site.cert_expired"
    future = _cert("www.a.gov.kh", pki["key"], "Test CA", pki["ca_key"], names=["www.a.gov.kh"], days=(2, 90))
    assert _refused(_pem(future), _pem(pki["ca"]), _pem(pki["key"])).key == "site.cert_not_yet_valid"


def test_broken_or_missing_chain(pki):
    stranger = _cert("Other CA", pki["other"], ca=True)
    assert _refused(_pem(pki["leaf"]), _pem(stranger), _pem(pki["key"])).key == "site.cert_chain"
    assert _refused(_pem(pki["leaf"]), "", _pem(pki["key"])).key == "site.cert_chain_missing"


def test_garbage_is_unreadable(pki):
    assert _refused("not a cert", "", _pem(pki["key"])).key == "site.cert_unreadable"
    assert (
        _refused(_pem(pki["leaf"]), _pem(pki["ca"]), "-----BEGIN PRIVATE KEY-----\nxx").key
        == "site.cert_key_unreadable"
    )
