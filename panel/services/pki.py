"""The panel's own CA: issues the TLS certificates of the hosts govhost serves under its own names.

Mail hosts serve many ministries' domains under one host name (an ACME certificate per mail name
would need every domain's DNS first) and a DB host's web console is reached by the host's own name
or address; so govhost runs a small CA of its own (key 0600 under the data dir, never on a host) and
users install its certificate once (the mail pages offer it). A job that needs a certificate issues
a fresh one at each run; the host key travels as a job secret (0600 vars file, redacted from events).
The CA was the mail capability's first: its folder keeps the name `mail-ca`, so a CA users already
trust stays the one that signs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from panel.boot import current as current_settings

CA_DAYS = 3650
CERT_DAYS = 397
CA_FOLDER = "mail-ca"  # under the data dir (see above)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govhost"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_ca(ca_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The CA key and certificate, created on first use."""
    ca_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_file, cert_file = ca_dir / "ca.key", ca_dir / "ca.pem"
    if key_file.exists() and cert_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        return key, x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("govhost CA"))
        .issuer_name(_name("govhost CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_private(key_file, _pem_key(key))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def panel_ca_dir() -> Path:
    return current_settings().path(CA_FOLDER)


def ca_pem(ca_dir: Path | None = None) -> str:
    """The CA's certificate (PEM), what users install once to trust govhost's hosts."""
    return ensure_ca(ca_dir or panel_ca_dir())[1].public_bytes(serialization.Encoding.PEM).decode()


def issue(ca_dir: Path | None, names: list[str], addresses: list[str]) -> tuple[str, str]:
    """(private key PEM, certificate chain PEM) for a host; names[0] is the common name, every name
    and address is a subject alternative name."""
    ca_key, ca_cert = ensure_ca(ca_dir or panel_ca_dir())
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in dict.fromkeys(names)]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in dict.fromkeys(addresses)]
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    return _pem_key(key).decode(), chain.decode()
