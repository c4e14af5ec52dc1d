"""DNS: zones and records on BIND (RFC 2136 updates with TSIG), ownership claims for domains.

Other capabilities publish their records through `panel.capabilities.dns.service` only (the one
public module of a capability); see docs/dns.md.
"""

from panel.capabilities.base import Manifest, Quota
from panel.services.request_kinds import N_

MANIFEST = Manifest(
    name="dns",
    package=__name__,
    label=N_("DNS"),
    models="models",
    kinds="kinds",
    jobs="jobs",
    web="web:bp",
    api="api:blp",
    cli="cli:dns",
    quotas=(Quota("dns_zones", N_("DNS zones"), 5, watched=True),),
    playbooks=("dns_server.yml", "zone_create.yml", "zone_delete.yml"),
)
