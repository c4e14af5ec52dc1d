"""Websites: nginx virtual hosts with PHP-FPM pools, SFTP, TLS (ACME or uploaded); see docs/sites.md."""

from panel.capabilities.base import HostCapacity, HostRole, Manifest, Provide, Quota, Sweep, Workload
from panel.services.request_kinds import N_

WEB_ROLE = "web"  # the host role sites are placed on
CAPACITY = "sites"  # the host capacity they count against

MANIFEST = Manifest(
    name="sites",
    package=__name__,
    bulk="bulk:ROWS",
    label=N_("Websites"),
    requires=("dns",),
    models="models",
    kinds="kinds",
    jobs="jobs",
    subscribers=("service",),
    web="web:bp",
    api="api:blp",
    cli="cli:sites",
    settings="settings:SitesSettings",
    dashboard="web:dashboard",
    public_pages=("sites.ca_pem",),  # the private ACME CA's public certificate
    quotas=(
        Quota("sites", N_("Sites"), 5, watched=True),
        Quota("disk_mb", N_("Disk (MB)"), 10240, watched=True),
    ),
    host_roles=(HostRole(WEB_ROLE, N_("Web (nginx, PHP)")),),
    host_capacities=(HostCapacity(CAPACITY, N_("Most sites"), 100, role=WEB_ROLE),),
    sweeps=(
        Sweep("sites.renew", "sweeps:sites_renew_due", every_minutes=360),
        Sweep("sites.usage", "sweeps:sites_usage_collect", every_setting="sites.usage_interval_minutes"),
    ),
    workloads=(Workload("site", N_("Website"), "service:site_workloads"),),
    moves="moves:MOVERS",
    steps="steps:STEPS",
    playbooks=(
        "site_create.yml",
        "site_update.yml",
        "site_suspend.yml",
        "site_unsuspend.yml",
        "site_delete.yml",
        "site_cert.yml",
        "site_usage.yml",
        "site_move.yml",
    ),
    provides=(  # the cms capability's WordPress instances use the app_* ones
        Provide("sites.app_site", "service:app_site"),
        Provide("sites.app_release", "service:app_release"),
        Provide("sites.app_state", "service:app_state"),
        Provide("sites.app_entry", "jobs:app_entry"),
        # a new site for an application, in the caller's one request (cms.site_instance_create)
        Provide("sites.app_new_site_fields", "kinds:app_new_site_fields"),
        Provide("sites.app_new_site_validate", "kinds:app_new_site_validate"),
        Provide("sites.app_new_site_quota", "kinds:app_new_site_quota"),
        Provide("sites.app_new_site_place", "kinds:app_new_site_place"),
        Provide("sites.app_new_site_hold", "kinds:app_new_site_hold"),
        Provide("sites.app_new_site_release", "kinds:app_new_site_release"),
        Provide("sites.app_new_site_kept", "kinds:app_new_site_kept"),
        Provide("sites.app_new_site", "kinds:app_new_site"),
        Provide("sites.plan_names", "service:plan_names"),
        Provide("sites.acme_server", "service:acme_server"),  # the lab's ACME server (lab demo --pebble)
    ),
)
