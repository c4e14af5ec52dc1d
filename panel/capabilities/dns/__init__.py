"""DNS: zones and records on BIND (RFC 2136 updates with TSIG), ownership claims for domains.

Other capabilities publish their records through `panel.capabilities.dns.service` only (the one
public module of a capability); see docs/dns.md.
"""

from panel.capabilities.base import HostRole, Manifest, Quota
from panel.services.request_kinds import N_

DNS_ROLE = "dns"  # the host role of the BIND servers

MANIFEST = Manifest(
    name="dns",
    package=__name__,
    bulk="bulk:ROWS",
    label=N_("DNS"),
    models="models",
    kinds="kinds",
    jobs="jobs",
    web="web:bp",
    api="api:blp",
    cli="cli:dns",
    settings="settings:DnsSettings",
    quotas=(Quota("dns_zones", N_("DNS zones"), 5, watched=True),),
    host_roles=(HostRole(DNS_ROLE, N_("DNS (BIND)")),),
    steps="steps:STEPS",
    playbooks=("dns_server.yml", "zone_create.yml", "zone_delete.yml"),
)
