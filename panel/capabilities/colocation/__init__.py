"""Colocation: ministries' own servers on the data-center floor (racks by the U, power feeds, switch
ports, addresses), capacity-checked requests for them, and visitor access; see docs/colocation.md."""

from panel.capabilities.base import Manifest, Quota, Sweep
from panel.services.request_kinds import N_

MANIFEST = Manifest(
    name="colocation",
    package=__name__,
    label=N_("Colocation"),
    models="models",
    kinds="kinds",
    web="web:bp",
    api="api:blp",
    cli="cli:colocation",
    quotas=(
        Quota("colo_units", N_("Rack units (U)"), 4),
        Quota("colo_power_w", N_("Contracted power (W)"), 2000),
        Quota("colo_ports", N_("Network ports"), 4),
        Quota("colo_addresses", N_("IP addresses"), 8),
    ),
    # approved visitor passes past their window or unused for visitors.INACTIVE_DAYS become expired
    sweeps=(Sweep("colocation.passes", "visitors:passes_expire", every_minutes=60),),
)
