"""Checks of an uploaded certificate (with `cryptography`): it parses, its key matches, the chain
links up, the dates are current, and it covers every name of the site. Each failure has its own
key and a message that says exactly what is wrong. Also: the public facts of a PEM certificate,
an uploaded PFX (PKCS#12) unpacked into the same PEM parts, and the PFX an IIS host imports.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from panel.errors import Invalid

MAX_PEM = 64_000
MAX_PFX = 48_000  # bytes of an uploaded PFX file (a key and a dozen certificates fit)
MAX_PFX_B64 = 4 * (MAX_PFX // 3) + 4  # the same file in base64 (the API's form)
MAX_PFX_PASSWORD = 1024
MIN_DAYS_LEFT = 1
SYSTEM_TRUST = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle of the public CAs


@dataclass(frozen=True)
class CertInfo:
    names: list[str]
    issuer: str
    serial: str
    fingerprint: str
    not_before: dt.datetime
    not_after: dt.datetime


def _bad(key: str, message: str, field: str = "certificate", **params) -> Invalid:
    return Invalid(key, message, field=field, **params)


def _text(value, field: str) -> bytes:
    if not isinstance(value, str) or not value.strip():
        raise _bad("site.cert_required", "Paste the {what} in PEM form.", field, what=field.replace("_", " "))
    if len(value) > MAX_PEM or "\x00" in value:
        raise _bad("site.cert_too_large", "The {what} is too large.", field, what=field.replace("_", " "))
    return value.strip().encode()


def parse_chain(pem: str, field: str = "certificate") -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(_text(pem, field))
    except ValueError:
        raise _bad(
            "site.cert_unreadable",
            "The {what} is not a PEM certificate (-----BEGIN CERTIFICATE-----).",
            field,
            what=field.replace("_", " "),
        ) from None
    return certs


def info(cert: x509.Certificate) -> CertInfo:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    return CertInfo(
        names=names,
        issuer=cert.issuer.rfc4514_string()[:300],
        serial=format(cert.serial_number, "x"),
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(":"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def info_from_pem(pem: str) -> CertInfo:
    return info(parse_chain(pem)[0])


def other_names(cert: x509.Certificate) -> list[str]:
    """Subject alternative names that are not DNS names (IP addresses, e-mail, URIs...)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(getattr(n, "value", n))[:80] for n in san if not isinstance(n, x509.DNSName)]


_trust_cache: dict[tuple, list[x509.Certificate]] = {}


def load_trust(path: str) -> list[x509.Certificate]:
    """The CA certificates of a trust store: one PEM bundle, or a directory of .pem/.crt files.
    Read once per change of the file (the panel checks uploads often, the store changes rarely)."""
    from pathlib import Path

    root = Path(path or SYSTEM_TRUST)
    files = sorted(p for p in root.iterdir() if p.suffix in (".pem", ".crt")) if root.is_dir() else [root]
    stamp = tuple((str(f), f.stat().st_mtime_ns) for f in files if f.is_file())
    if stamp not in _trust_cache:
        certs: list[x509.Certificate] = []
        for f in files:
            try:
                with warnings.catch_warnings():  # old roots of the system bundle carry odd serials
                    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                    certs += x509.load_pem_x509_certificates(f.read_bytes())
            except (OSError, ValueError):
                continue  # a stray non-certificate file in the directory
        _trust_cache.clear()
        _trust_cache[stamp] = certs
    return _trust_cache[stamp]


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _signed_by(cert, cert)


def covers(pattern: str, name: str) -> bool:
    """RFC 6125: a wildcard stands for exactly one left-most label."""
    if pattern == name:
        return True
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return False


def _load_key(pem: str):
    try:
        return serialization.load_pem_private_key(_text(pem, "private_key"), password=None)
    except TypeError:
        raise _bad(
            "site.cert_key_encrypted",
            "The private key is protected by a passphrase; upload it without one.",
            "private_key",
        ) from None
    except Exception as exc:  # every parse failure means the same to the user
        if isinstance(exc, Invalid):
            raise
        raise _bad("site.cert_key_unreadable", "The private key is not a PEM private key.", "private_key") from None


def _public_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    key = parent.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), child.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(child.signature_hash_algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return child.issuer == parent.subject


def check_upload(
    cert_pem: str,
    chain_pem: str,
    key_pem: str,
    names: list[str],
    now: dt.datetime | None = None,
    *,
    trusted: list[x509.Certificate] | None = None,
    accept_self_signed: bool = False,
) -> CertInfo:
    """The leaf's facts if the upload can be served for `names`; else Invalid with what is wrong.

    With `trusted` (the panel's trust store) the chain must end at one of those CAs, or at a
    certificate one of them signed. A self-signed leaf is refused unless `accept_self_signed`:
    browsers warn on it and nothing vouches for it, while a government CA chain can be checked.
    """
    now = now or dt.datetime.now(dt.UTC)
    certs = parse_chain(cert_pem)
    leaf, chain = certs[0], certs[1:] + (parse_chain(chain_pem, "chain") if (chain_pem or "").strip() else [])
    key = _load_key(key_pem)
    if _public_bytes(key.public_key()) != _public_bytes(leaf.public_key()):
        raise _bad(
            "site.cert_key_mismatch",
            "The private key does not belong to this certificate (their public keys differ).",
            "private_key",
        )
    facts = info(leaf)
    if facts.not_before > now:
        raise _bad(
            "site.cert_not_yet_valid",
            "The certificate is valid only from {date}.",
            date=facts.not_before.isoformat(timespec="minutes"),
        )
    if facts.not_after <= now + dt.timedelta(days=MIN_DAYS_LEFT):
        raise _bad(
            "site.cert_expired",
            "The certificate expired (or expires within a day) on {date}.",
            date=facts.not_after.isoformat(timespec="minutes"),
        )
    missing = [n for n in names if not any(covers(p, n) for p in facts.names)]
    if missing:
        raise _bad(
            "site.cert_names",
            "The certificate does not cover {names} (it names {has}).",
            names=", ".join(missing),
            has=", ".join(facts.names) or "no DNS names",
        )
    current = leaf
    for parent in chain:
        if not _signed_by(current, parent):
            raise _bad(
                "site.cert_chain",
                "The chain is broken: {child} is not signed by {parent}.",
                "chain",
                child=current.subject.rfc4514_string()[:120],
                parent=parent.subject.rfc4514_string()[:120],
            )
        if parent.not_valid_after_utc <= now:
            raise _bad(
                "site.cert_chain_expired",
                "A certificate of the chain expired: {name}.",
                "chain",
                name=parent.subject.rfc4514_string()[:120],
            )
        current = parent
    if current is leaf and _self_signed(leaf):
        if accept_self_signed:
            return facts
        raise _bad(
            "site.cert_self_signed",
            "The certificate is self-signed; upload one issued by a certificate authority"
            " (the government CA or a public one).",
        )
    if trusted is not None:
        top = _public_bytes(current.public_key())
        if any(_public_bytes(t.public_key()) == top or _signed_by(current, t) for t in trusted):
            return facts
        if current.issuer != current.subject and not chain:
            raise _bad(
                "site.cert_chain_missing",
                "Add the intermediate certificate(s) of {issuer} as the chain.",
                "chain",
                issuer=current.issuer.rfc4514_string()[:120],
            )
        raise _bad(
            "site.cert_untrusted",
            "The certificate does not lead to a certificate authority this panel trusts (issuer: {issuer}).",
            "chain",
            issuer=current.issuer.rfc4514_string()[:120],
        )
    if current.issuer != current.subject and not chain:
        raise _bad(
            "site.cert_chain_missing",
            "Add the intermediate certificate(s) of {issuer} as the chain.",
            "chain",
            issuer=current.issuer.rfc4514_string()[:120],
        )
    return facts


# ---- PFX (PKCS#12): an upload unpacked, and the file an IIS host imports ----------------------------


def _pfx_bad(key: str, message: str, **params) -> Invalid:
    return _bad(key, message, "pfx", **params)


def _pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _path_from(leaf: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """The certificates of `others` that lead up from the leaf, in order (a PFX keeps them in no
    particular order; what is not on the leaf's path is not served, so it is left out)."""
    path, current, left = [], leaf, [c for c in others if c != leaf]
    while True:
        parent = next((c for c in left if c.subject == current.issuer and _signed_by(current, c)), None)
        if parent is None or parent == current:
            return path
        path.append(parent)
        left.remove(parent)
        current = parent


def from_pfx(data, password) -> tuple[str, str, str]:
    """(certificate PEM, chain PEM, private key PEM) of an uploaded PFX file (bytes, or base64 as
    the API sends it), which are then checked like a PEM upload. The password only opens it here:
    it is not kept anywhere."""
    if isinstance(data, str):
        if len(data) > MAX_PFX_B64:
            raise _pfx_bad("site.pfx_too_large", "The PFX file is too large (at most {max} bytes).", max=MAX_PFX)
        try:
            data = base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError):
            data = b""
    if not isinstance(data, bytes | bytearray):
        data = b""
    if len(data) > MAX_PFX:
        raise _pfx_bad("site.pfx_too_large", "The PFX file is too large (at most {max} bytes).", max=MAX_PFX)
    if not isinstance(password, str) or len(password) > MAX_PFX_PASSWORD or "\x00" in password:
        raise _bad("site.pfx_password_invalid", "The PFX password is text of at most {max} characters.",
                   "pfx_password", max=MAX_PFX_PASSWORD)  # fmt: skip
    opened = None
    # a PFX exported without a password is protected by the empty one (or by none at all)
    for secret in [password.encode()] if password else [None, b""]:
        try:
            opened = pkcs12.load_key_and_certificates(bytes(data), secret)
            break
        except (ValueError, TypeError):
            continue
    if opened is None:
        raise _pfx_bad(
            "site.pfx_unreadable", "The PFX file cannot be opened: it is not a PKCS#12 file, or its password is wrong."
        )
    key, leaf, others = opened
    if key is None or leaf is None:
        raise _pfx_bad("site.pfx_no_key", "The PFX file holds no private key and certificate; export it with its key.")
    chain = _path_from(leaf, list(others))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return _pem_of(leaf), "".join(_pem_of(c) for c in chain), key_pem


def windows_key_refusal(cert_pem: str) -> Invalid | None:
    """Why IIS could not serve this certificate (Schannel takes RSA and ECDSA keys only), or None."""
    key = parse_chain(cert_pem)[0].public_key()
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return None
    return _bad(
        "site.cert_key_windows",
        "IIS cannot serve a certificate with an {type} key; upload one with an RSA or ECDSA key.",
        type=type(key).__name__.removesuffix("PublicKey").removeprefix("_"),
    )


def windows_pfx(cert_pem: str, chain_pem: str, key_pem: str, password: str, name: str) -> tuple[bytes, str]:
    """(PFX bytes, SHA-1 thumbprint) of an uploaded certificate for an IIS host: key, leaf and chain,
    protected by `password` with 3DES/SHA-1 as Windows Server 2016/2019 import it (what the central
    ACME path builds, community.crypto's compatibility2022), friendly name the site's name."""
    leaf, *rest = parse_chain(cert_pem)
    chain = rest + (parse_chain(chain_pem, "chain") if (chain_pem or "").strip() else [])
    key = _load_key(key_pem)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - what older Windows verifies a PFX's MAC with
        .build(password.encode())
    )
    pfx = pkcs12.serialize_key_and_certificates(name.encode(), key, leaf, chain or None, encryption)
    return pfx, leaf.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows' thumbprint
