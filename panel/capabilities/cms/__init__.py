"""The CMS platform: WordPress instances on a ministry's sites, from Debian's package; see docs/cms.md.

An instance needs a site (sites capability) and a database with its user (databases capability):
it gets both through their providers (`sites.app_site`, `sites.app_entry`, `databases.app_database`,
see panel.services.providers), never by importing them.
"""

from panel.capabilities.base import Manifest, Quota, Sweep
from panel.services.request_kinds import N_

APP = "wordpress"  # the site application this capability installs

MANIFEST = Manifest(
    name="cms",
    package=__name__,
    label=N_("CMS (WordPress)"),
    requires=("sites", "databases"),
    models="models",
    kinds="kinds",
    jobs="jobs",
    web="web:bp",
    api="api:blp",
    # the catalogue, its installs and the mass updates (issue 16, updates by policy), suspend,
    # unsuspend and delete, app passwords, the hardening check, staging copies and their push: their
    # own request kinds and job kinds, registered when imported
    subscribers=("catalogue", "plugins", "updates", "lifecycle", "apps", "hardening", "staging"),
    settings="settings:CmsSettings",
    sweeps=(Sweep("cms.hardening", "hardening:hardening_check", every_setting="cms.hardening_interval_minutes"),),
    cli="cli:cms",
    dashboard="web:dashboard",
    quotas=(Quota("cms_instances", N_("CMS instances"), 3, watched=True),),
    steps="steps:STEPS",
    playbooks=(
        "cms_instance.yml",
        "cms_plugin.yml",
        "cms_update.yml",
        "cms_instance_state.yml",
        "cms_instance_delete.yml",
        "cms_app_password.yml",
        "cms_hardening.yml",
        "cms_staging_push.yml",
    ),
)
