"""The nginx_vhost role's path variables are honoured by the module that writes the files
(library/govhost_sites.py), not only by the templates that name them: with nginx_vhost_tls_dir,
_acme_webroot and _pages_dir moved, the certificate, the challenge webroot and the suspended page
land in the new folders and nginx serves from there (issue 14: the module used hard-coded paths,
so nginx -t failed on a certificate path the module never wrote)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from panel import db
from panel.jobs import capabilities
from panel.models.hosts import Host
from provisioners import lab as L
from provisioners.ansible import run_playbook
from provisioners.base import PlaybookSpec
from tests.capabilities.sites.conftest import SITE_HOSTS
from tests.support.clients import http_get

pytestmark = pytest.mark.lab

FQDN = "paths.a.gov.test"
MOVED = {
    "nginx_vhost_tls_dir": "/srv/govhost-moved/tls",
    "nginx_vhost_acme_webroot": "/srv/govhost-moved/acme-webroot",
    "nginx_vhost_pages_dir": "/srv/govhost-moved/pages",
}


def self_signed() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FQDN)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(FQDN)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key_pem


def site(tls: str, **extra) -> dict:
    limits = {"disk_mb": 100, "memory_mb": 64, "max_children": 2, "upload_mb": 8, "max_execution_s": 30}
    entry = {"fqdn": FQDN, "user": "site990", "state": "active", "aliases": [], "php_version": "8.2"}
    return {**entry, "tls": tls, "custom_nginx": "", "sftp_keys": [], "limits": limits, **extra}


def run(booted, host: Host, playbook: str, extravars: dict, secrets: dict | None = None, tmp=None):
    with db.unit_of_work() as s:
        targets = [capabilities.target_of(s.get(Host, host.id))]
    spec = PlaybookSpec(
        playbook,
        str(capabilities.PLAYBOOK_DIR),
        booted.ansible.ssh_key,
        extravars={**MOVED, **extravars},
        templates_dir=str(capabilities.TEMPLATES_DIR),
    )
    result = run_playbook(spec, targets, timeout=300, secrets=secrets, workdir_parent=tmp)
    assert result.ok, result.explanation


def on_host(*cmd: str):
    return L.host_exec("st2", *cmd, check=False)


def test_moved_role_paths_hold_the_files_nginx_serves(booted, web_host, tmp_path):
    host = web_host("st2")
    run(booted, host, "site_create.yml", {"govhost_sites": [site("none")], "site_user_archive_days": 30}, tmp=tmp_path)
    assert on_host("test", "-f", "/srv/govhost-moved/pages/suspended.html").returncode == 0
    assert on_host("test", "-d", MOVED["nginx_vhost_acme_webroot"]).returncode == 0
    assert on_host("test", "-e", "/var/lib/govhost/pages/suspended.html").returncode == 1  # not at the old place

    pem, key_pem = self_signed()
    run(
        booted,
        host,
        "site_cert.yml",
        {
            "govhost_sites": [site("custom", tls_chain_pem=pem)],
            "govhost_tls_key_fqdn": FQDN,
            "acme_cert_directory": "https://acme.invalid/directory",  # not used: the certificate is uploaded
            "acme_cert_email": "",
            "acme_cert_ca_bundle_pem": "",
            "acme_cert_force": False,
        },
        secrets={"govhost_tls_key": key_pem},
        tmp=tmp_path,
    )
    moved_key = f"/srv/govhost-moved/tls/{FQDN}/privkey.pem"
    assert on_host("stat", "-c", "%a", moved_key).stdout.strip() == "600"
    assert on_host("test", "-e", f"/etc/govhost/tls/{FQDN}").returncode == 1
    assert f"/srv/govhost-moved/tls/{FQDN}/fullchain.pem" in on_host("nginx", "-T").stdout
    cafile = tmp_path / "ca.pem"
    cafile.write_text(pem)
    page = http_get(f"https://{SITE_HOSTS['st2']}/", host_header=FQDN, cafile=str(cafile))  # verified: our cert
    assert page.status in (200, 403, 404)
