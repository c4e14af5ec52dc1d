"""ACME (RFC 8555) HTTP-01 certificates on the web host through certbot's own protocol library
(python3-acme, installed with certbot), without the certbot program.

Why not certbot: its client sleeps a fixed second before polling the authorizations and another
before polling the finalized order, and starts slowly; for a new site that was most of the 2.9 s
between its first HTTP 200 and its first HTTPS 200 (docs/sites.md, Benchmark). Here the same
library's calls are polled every POLL_S. The key is made on the host and never leaves it; the
files are where nginx_vhost reads them (<acme_dir>/live/<fqdn>/fullchain.pem and privkey.pem), as
certbot laid them out, so certificates certbot issued before are read and renewed the same way.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time

ACCOUNTS = "govhost-accounts"
POLL_S = 0.05
DEADLINE_S = 90
RENEW_WITHIN = datetime.timedelta(days=30)  # certbot's --keep-until-expiring window


class AcmeFailed(Exception):
    pass


def _write(path, data, mode):
    """Write atomically with `mode` from the start (a key is never readable by others, even briefly)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.govhost-tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def current(live, names):
    """Does live/ hold a certificate for exactly these names, valid beyond the renewal window?"""
    from cryptography import x509

    try:
        with open(os.path.join(live, "fullchain.pem"), "rb") as fh:
            cert = x509.load_pem_x509_certificate(fh.read())
        if not os.path.isfile(os.path.join(live, "privkey.pem")):
            return False
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    ends = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.UTC)
    wanted = {n.lower() for n in names}
    have = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    return have == wanted and ends - datetime.datetime.now(datetime.UTC) > RENEW_WITHIN


class Client:
    """One ACME account (kept per directory URL under <acme_dir>/govhost-accounts, 0600) and its calls."""

    def __init__(self, directory_url, email, ca_bundle, acme_dir):
        import josepy as jose
        from acme import client

        self.jose, self.email = jose, email
        self.path = os.path.join(acme_dir, ACCOUNTS, hashlib.sha256(directory_url.encode()).hexdigest()[:16] + ".json")
        saved = self._load()
        if saved:
            key = jose.JWK.json_loads(saved["key"])
        else:
            from cryptography.hazmat.primitives.asymmetric import ec

            key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
        self.net = client.ClientNetwork(key, alg=jose.ES256, verify_ssl=ca_bundle or True, user_agent="govhost")
        self.acme = client.ClientV2(client.ClientV2.get_directory(directory_url, self.net), self.net)
        if saved:
            from acme import messages

            self.net.account = messages.RegistrationResource(uri=saved["uri"], body=messages.Registration())
        else:
            self.register()

    def _load(self):
        try:
            with open(self.path) as fh:
                saved = json.load(fh)
            return saved if isinstance(saved, dict) and saved.get("key") and saved.get("uri") else None
        except (OSError, ValueError):
            return None

    def register(self):
        from acme import messages

        self.net.account = None
        reg = messages.NewRegistration.from_data(email=self.email or None, terms_of_service_agreed=True)
        regr = self.acme.new_account(reg)
        self.net.account = regr
        _write(self.path, json.dumps({"key": self.net.key.json_dumps(), "uri": regr.uri}), 0o600)

    def post(self, url, obj=None, **kw):
        """A signed POST (obj None: POST-as-GET), as the library's own client sends them."""
        return self.net.post(url, obj, new_nonce_url=self.acme.directory["newNonce"], **kw)

    def issue(self, names, webroot, deadline):
        """(fullchain PEM, key PEM) for `names` (the first is the certificate's name)."""
        from acme import messages

        try:
            return self._issue(names, webroot, deadline)
        except messages.Error as exc:
            # The CA forgot the account (a reset test CA, an account deactivated by its operator):
            # a new one, once.
            if exc.code not in ("accountDoesNotExist", "unauthorized") or not self.net.account:
                raise
        self.register()
        return self._issue(names, webroot, deadline)

    def _issue(self, names, webroot, deadline):
        import OpenSSL
        from acme import challenges, crypto_util, messages
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        csr_pem = crypto_util.make_csr(key_pem, list(names))
        order = self.acme.new_order(csr_pem)
        tokens = []
        try:
            pending = []
            for authz in order.authorizations:
                if authz.body.status == messages.STATUS_VALID:
                    continue
                chall = next((c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)), None)
                if chall is None:
                    raise AcmeFailed(f"{authz.body.identifier.value}: the CA offers no HTTP-01 challenge")
                response, validation = chall.chall.response_and_validation(self.net.key)
                token = os.path.join(webroot, chall.chall.path.lstrip("/"))
                os.makedirs(os.path.dirname(token), mode=0o755, exist_ok=True)
                _write(token, validation, 0o644)
                tokens.append(token)
                self.acme.answer_challenge(chall, response)
                pending.append(authz)
            for authz in pending:
                self._wait_valid(authz, deadline)
        finally:
            for token in tokens:
                if os.path.lexists(token):
                    os.unlink(token)
        csr = OpenSSL.crypto.load_certificate_request(OpenSSL.crypto.FILETYPE_PEM, csr_pem)
        self.post(order.body.finalize, messages.CertificateRequest(csr=self.jose.ComparableX509(csr)))
        while time.monotonic() < deadline:
            body = messages.Order.from_json(self.post(order.uri).json())
            if body.status == messages.STATUS_INVALID:
                raise AcmeFailed(f"the CA refused the order: {body.error or 'no reason given'}")
            if body.status == messages.STATUS_VALID and body.certificate is not None:
                return self.post(body.certificate).text, key_pem
            time.sleep(POLL_S)
        raise AcmeFailed(f"the CA did not issue within {DEADLINE_S} s")

    def _wait_valid(self, authz, deadline):
        from acme import messages

        while time.monotonic() < deadline:
            authz, _ = self.acme.poll(authz)
            status = authz.body.status
            if status == messages.STATUS_VALID:
                return
            if status != messages.STATUS_PENDING:
                why = "; ".join(str(c.error) for c in authz.body.challenges if c.error is not None)
                raise AcmeFailed(f"{authz.body.identifier.value}: validation {status}: {why or 'no reason given'}")
            time.sleep(POLL_S)
        raise AcmeFailed(f"{authz.body.identifier.value}: not validated within {DEADLINE_S} s")


def issue_all(sites, *, directory, email, ca_bundle, acme_dir, webroot, force):
    """Each site ({fqdn, aliases}) gets a certificate for its names in <acme_dir>/live/<fqdn>/ unless
    it has a current one (force: always). Returns (issued fqdns, {fqdn: why it failed})."""
    issued, errors, acme, unreachable = [], {}, None, ""
    for site in sites:
        names = [site["fqdn"], *site.get("aliases", [])]
        live = os.path.join(acme_dir, "live", site["fqdn"])
        if not force and current(live, names):
            issued.append(site["fqdn"])
            continue
        if unreachable:
            errors[site["fqdn"]] = unreachable
            continue
        try:
            if acme is None:
                acme = Client(directory, email, ca_bundle, acme_dir)
        except Exception as exc:  # no account or directory: every site says why
            unreachable = errors[site["fqdn"]] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        try:
            chain, key = acme.issue(names, webroot, time.monotonic() + DEADLINE_S)
        except Exception as exc:  # each failure is reported per site, the others go on
            errors[site["fqdn"]] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        _write(os.path.join(live, "privkey.pem"), key, 0o600)
        _write(os.path.join(live, "fullchain.pem"), chain, 0o644)
        issued.append(site["fqdn"])
    return issued, errors
