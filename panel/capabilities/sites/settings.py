"""The `sites:` section of config.yaml (every key has a default; config.example.yaml shows them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from panel.config import PATH


@dataclass(frozen=True)
class SitesSettings:
    acme_directory: str = ""  # empty: no automatic certificates
    acme_ca_bundle: str = field(default="", metadata=PATH)  # verifies the ACME server's own TLS
    acme_email: str = "hostmaster@localhost"
    acme_root_ca: str = field(default="", metadata=PATH)  # a private ACME CA users may download
    cert_trust_store: str = field(default="", metadata=PATH)  # uploaded certificates chain to it; "" = system
    accept_self_signed: bool = False
    renew_days_before: int = 30
    archive_days: int = 30
    usage_interval_minutes: int = 60
    iis_root: str = "C:\\govhost\\sites"  # on Windows hosts: <iis_root>\org<id>\<fqdn>\{wwwroot,logs}
