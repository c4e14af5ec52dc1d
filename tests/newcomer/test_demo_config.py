"""The quick start's pieces that need no lab: `govhost demo config` writes a config that points
DNS, ACME and the resolver at the demo lab (and keeps what a user changed), and the demo CA is
offered for download on the web (no login) and the API."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from click.testing import CliRunner

from panel.cli.main import cli as root
from panel.config import Settings, validate
from provisioners import lab as L

DEMO_IP = L.lab_ip(10)  # the lab block in use (GOVHOST_LAB_NET, docs/lab.md): the demo follows it


def _config(tmp_path, *args):
    path = tmp_path / "config.yaml"
    result = CliRunner().invoke(root, ["--config", str(path), "demo", "config", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path


def test_demo_config_points_everything_at_the_lab_and_keeps_user_values(tmp_path):
    path = _config(tmp_path)
    s = validate(Settings.load(path, env={}))
    assert len(s.secret_key) > 40 and "dev-only" not in s.secret_key
    assert s.secret_keys[0] != "ket2vYjlxjLbwi9tvtua96OS0H_yjC9dErimY-31I6U="
    assert (s.lab.demo_host, s.lab.demo_address) == ("demo1", DEMO_IP)
    assert (s.network.source_network, s.network.source_address) == (str(L.SUBNET), L.GATEWAY)
    assert (s.dns.primary_host, s.dns.resolver, s.dns.nameservers) == ("demo1", DEMO_IP, ("ns1.gov.test",))
    assert s.sites.acme_directory == f"https://{L.GATEWAY}:14000/dir"
    assert s.sites.acme_ca_bundle == str(tmp_path / "var/pebble/tls.crt")
    assert s.sites.acme_root_ca == str(tmp_path / "var/pebble/roots.pem")
    assert s.smtp.host == "" and path.stat().st_mode & 0o077 == 0  # nothing sent out; keys private
    # A user's own value survives a re-run; the comments of the example stay.
    text = path.read_text().replace('primary_host: "demo1"', 'primary_host: "ns-main"')
    path.write_text(text)
    key = s.secret_key
    _config(tmp_path)
    again = Settings.load(path, env={})
    assert again.dns.primary_host == "ns-main" and again.secret_key == key
    assert "# Name of the registered host (role dns)" in path.read_text()


def test_demo_config_options_and_an_old_config_without_the_new_keys(tmp_path):
    path = _config(tmp_path, "--host", "nc1", "--address", L.lab_ip(246), "--acme-port", "14060")
    s = Settings.load(path, env={})
    assert (s.lab.demo_host, s.dns.primary_host, s.dns.resolver) == ("nc1", "nc1", L.lab_ip(246))
    assert s.sites.acme_directory == f"https://{L.GATEWAY}:14060/dir"
    raw = yaml.safe_load(path.read_text())
    del raw["lab"]["demo_address"], raw["sites"]["acme_root_ca"]
    path.write_text(yaml.safe_dump(raw))
    _config(tmp_path)
    s = Settings.load(path, env={})
    # A config from before these keys gets them (the demo host was always at .10 then).
    assert s.lab.demo_address == DEMO_IP and s.sites.acme_root_ca.endswith("pebble/roots.pem")


@pytest.fixture
def with_ca(settings, tmp_path):
    pem = tmp_path / "roots.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return dataclasses.replace(settings, sites=dataclasses.replace(settings.sites, acme_root_ca=str(pem)))


@pytest.mark.parametrize("url", ["/sites/ca.pem", "/api/v1/sites/ca.pem"])
def test_demo_ca_download_without_login(with_ca, url):
    from panel.app import create_app
    from panel.boot import boot

    app = create_app(boot(with_ca))
    r = app.test_client().get(url)
    assert r.status_code == 200 and r.mimetype == "application/x-pem-file"
    assert r.get_data(as_text=True).startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("url", ["/sites/ca.pem", "/api/v1/sites/ca.pem"])
def test_no_private_ca_is_a_404(client, url):
    r = client.get(url)
    assert r.status_code == 404
