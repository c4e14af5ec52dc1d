"""The sites capability offers its ACME server as the provider `sites.acme_server` (plain values), so
the lab's `govhost lab demo --pebble` starts Pebble there without a core module reading
`settings.sites`."""

from __future__ import annotations

import dataclasses

import pytest

from panel.services import providers

DIRECTORY = "https://10.77.0.1:14000/dir"
BUNDLE = "/var/lib/govhost/pebble/tls.crt"
ROOT = "/var/lib/govhost/pebble/roots.pem"


@pytest.fixture
def settings(settings):
    sites = dataclasses.replace(settings.sites, acme_directory=DIRECTORY, acme_ca_bundle=BUNDLE, acme_root_ca=ROOT)
    return dataclasses.replace(settings, sites=sites)


def test_sites_offers_its_acme_server(booted):
    assert "sites.acme_server" in providers.names()
    assert providers.call("sites.acme_server") == {"directory": DIRECTORY, "ca_bundle": BUNDLE, "root_ca": ROOT}


def test_the_lab_and_demo_commands_read_no_capability_settings():
    from pathlib import Path

    import panel.cli.demo
    import panel.cli.lab

    for module in (panel.cli.lab, panel.cli.demo):
        assert "settings.sites" not in Path(module.__file__).read_text(), module.__name__
