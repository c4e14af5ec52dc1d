"""A webmaster's SFTP account cannot plant links where root-run daemons write (privilege escalation).

nginx's master (root) opens the vhost's access/error logs and would follow a symlink the site user
put in their place, appending request text to any file on the host (/etc/cron.d, /etc/passwd...).
"""

from __future__ import annotations

import io
import socket
import stat

import paramiko
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from panel.capabilities.sites import service as sites_svc
from panel.services import requests  # noqa: F401  (first: sites imports back into it)
from provisioners import lab as L
from provisioners import probes
from tests.capabilities.sites.conftest import wait_for
from tests.capabilities.sites.test_lab_sites import create_site, site_row
from tests.security.lab.conftest import SEC_HOSTS
from tests.support.clients import http_get

pytestmark = pytest.mark.lab

IP = SEC_HOSTS["sec1"]


def _sftp(user: str, public_key_for) -> paramiko.SFTPClient:
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " wm@a"
    public_key_for(public)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    transport = paramiko.Transport(socket.create_connection((IP, 22), 10, (L.GATEWAY, 0)))
    transport.start_client(timeout=10)
    _kind, blob, _fp = probes.fetch_host_key(IP, 22, bind=L.GATEWAY)
    assert transport.get_remote_server_key().get_base64() == blob
    transport.auth_publickey(user, paramiko.Ed25519Key.from_private_key(io.StringIO(pem)))
    return paramiko.SFTPClient.from_transport(transport)


def host_sh(cmd: str) -> str:
    return L.host_exec("sec1", "bash", "-c", cmd, check=False).stdout


def test_site_user_cannot_redirect_root_written_logs(world, web_host, consumer):
    site = create_site(world, "logs.a.gov.test", tls="none")

    def add_key(public):
        sites_svc.sftp_key_add(world.wa, site_id=site.id, public_key=public)
        wait_for(lambda: site_row("logs.a.gov.test").busy_job_id is None, 60)

    sftp = _sftp(site.system_user, add_key)
    try:
        assert stat.S_ISDIR(sftp.stat("/logs").st_mode)
        for attempt in (
            lambda: sftp.remove("/logs/access.log"),
            lambda: sftp.symlink("/etc/cron.d/pwned", "/logs/planted.log"),
            lambda: sftp.rename("/logs/error.log", "/logs/old.log"),
            lambda: sftp.open("/logs/new.log", "w").close(),
        ):
            with pytest.raises(OSError):
                attempt()
        sftp.open("/public/boom.php", "w").write("<?php trigger_error('govhost-sec-marker', E_USER_WARNING);")
        assert http_get(f"http://{IP}/boom.php", host_header="logs.a.gov.test").status == 200
        assert "govhost-sec-marker" in sftp.open("/logs/php-error.log").read().decode()  # PHP still logs
        # and the user reads them: nginx writes the access line in its log phase, after the response
        # went out, so under load the line can land a moment after the client has the page.
        wait_for(lambda: "GET /boom.php" in sftp.open("/logs/access.log").read().decode(), 10, every=0.2)
    finally:
        transport = sftp.get_channel().get_transport()
        sftp.close()
        transport.close()  # and its socket: a leaked one fails the run with a ResourceWarning at exit
    assert host_sh("ls /etc/cron.d/pwned 2>/dev/null; find /srv/www -type l") == ""
