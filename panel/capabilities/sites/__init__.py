"""Websites: nginx virtual hosts with PHP-FPM pools, SFTP, TLS (ACME or uploaded); see docs/sites.md."""

from panel.capabilities.base import Manifest, Quota, Sweep
from panel.services.request_kinds import N_

MANIFEST = Manifest(
    name="sites",
    package=__name__,
    label=N_("Websites"),
    requires=("dns",),
    models="models",
    kinds="kinds",
    jobs="jobs",
    subscribers=("service",),
    web="web:bp",
    api="api:blp",
    cli="cli:sites",
    dashboard="web:dashboard",
    public_pages=("sites.ca_pem",),  # the private ACME CA's public certificate
    quotas=(
        Quota("sites", N_("Sites"), 5, watched=True),
        Quota("disk_mb", N_("Disk (MB)"), 10240, watched=True),
    ),
    sweeps=(
        Sweep("sites.renew", "sweeps:sites_renew_due", every_minutes=360),
        Sweep("sites.usage", "sweeps:sites_usage_collect", every_setting="sites.usage_interval_minutes"),
    ),
    playbooks=(
        "site_create.yml",
        "site_update.yml",
        "site_suspend.yml",
        "site_unsuspend.yml",
        "site_delete.yml",
        "site_cert.yml",
        "site_usage.yml",
    ),
)
