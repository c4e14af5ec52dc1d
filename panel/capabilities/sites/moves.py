"""Moving a site to another web host: the sites' part of the core's move (panel.services.moves;
docs/sites.md, "Moving a site"; drains a host).

`site_move` (DC operators and admins: web, API, CLI) checks the new host the way placement does
(web role, the plan's OS, active, room under its `sites` capacity, the site's PHP version). The
`sites.site_move` job runs on both hosts: the old host packs the files and certificate, the
controller carries them, the new host gets user, pool, files, certificate and vhost. The switch
re-publishes the site's A records through DNS's public service; `sites.site_move_cleanup` removes
the site from the old host (archived there as a delete does), `sites.site_move_undo` removes a
failed move's copy from the new host. Once moved, an ACME site gets its own certificate there.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel.capabilities.dns import service as dns_svc
from panel.capabilities.sites import service as sites
from panel.capabilities.sites.jobs import build, site_entry
from panel.capabilities.sites.models import LIVE, Site, SiteMove, SiteStatus, TlsMode
from panel.errors import Invalid
from panel.jobs.capabilities import Capability, target_of
from panel.jobs.capabilities import settings as job_settings
from panel.jobs.submit import job_create
from panel.models.hosts import Host, HostOS
from panel.models.jobs import Job
from panel.services import moves
from panel.services.actor import Actor, system_actor
from panel.services.audit import audited
from panel.services.workloads import Placed

KIND = "site"


def N_(text: str) -> str:
    return text


def move_target(s: Session, site: Site, host_id: int | None) -> Host:
    """Where the site may go: the operator's host (checked as placement checks a chosen host, never
    past its capacity) or the active web host with the most room, never the one it is on."""
    sites.site_ready(site)
    if site.plan.os != HostOS.LINUX:
        raise Invalid("site.move_windows", "Moving a Windows (IIS) site is not offered yet.", field="host_id")
    if site.app:
        raise Invalid(
            "site.move_app",
            "The site runs {app}; its application and database settings do not move with it yet.",
            field="host_id",
            app=site.app,
        )
    if host_id is not None and host_id == site.host_id:
        raise Invalid("site.move_same_host", "The site is already on that host.", field="host_id")
    host = sites.site_place(
        s, count=1, php_version=site.php_version, host_id=host_id, os=HostOS.LINUX, exclude=site.host_id
    )
    sites.clean_php(site.php_version, host)
    return host


@audited("site.move", "site_move")
def site_move(actor: Actor, *, site_id, host_id=None) -> SiteMove:
    """Move a site to another web host (`host_id`, or the one with the most room); returns the move,
    whose first job is queued once this commits."""
    return moves.move_start(actor, KIND, site_id, host_id)


def site_moves(actor: Actor, site_id) -> list[SiteMove]:
    """The site's moves, newest first: data-center staff only; another ministry's site is not found."""
    return moves.move_list(actor, KIND, site_id)


def sites_on_host(session: Session, host_id: int) -> list[Placed]:
    """Draining a host: the sites it holds (every live status: one that cannot move now says why)."""
    rows = session.execute(
        select(Site.id, Site.fqdn).where(Site.host_id == host_id, Site.status.in_(LIVE)).order_by(Site.id)
    )
    return [Placed(i, fqdn, host_id) for i, fqdn in rows]


def _copy_build(job: Job, session: Session):
    move = session.get(SiteMove, job.params["move_id"])
    site = session.get(Site, move.site_id)
    old, new = session.get(Host, move.from_host_id), session.get(Host, move.to_host_id)
    entry = site_entry(site, job)
    # The new host gets the old one's certificate files as they are (certbot's own copy stays behind;
    # an ACME site gets a certificate of its own on the new host once DNS points there).
    entry["tls"] = "custom" if site.certificate is not None else "none"
    extravars = {"govhost_sites": [entry], "govhost_move_from": old.name, "govhost_move_to": new.name}
    return extravars, {}, [target_of(old), target_of(new)]


def _switch(session: Session, site: Site, host_id: int):
    """The site's names point at `host_id`."""
    address = session.get(Host, host_id).address
    return dns_svc.records_switch(
        system_actor("worker", "panel:sites-move"), session, org_id=site.org_id, fqdn=site.fqdn,
        source=f"site:{site.id}", records=[{"name": n + ".", "type": "A", "data": address} for n in site.names],
    )  # fmt: skip


def _done(session: Session, site: Site) -> None:
    """certbot on the new host issues the site's own ACME certificate (the copied one serves meanwhile)."""
    if site.tls_mode == TlsMode.ACME and site.status == SiteStatus.ACTIVE and job_settings().sites.acme_directory:
        job = job_create(
            session, kind="sites.site_cert", org_id=site.org_id, host_ids=[site.host_id],
            params={"site_ids": [site.id]}, created_by_name="panel:sites-move",
        )  # fmt: skip
        site.busy_job_id = job.id


MOVERS = (
    moves.Mover(
        kind=KIND,
        noun="site",
        model=Site,
        move_model=SiteMove,
        audit="site",
        object_type="site_move",
        name=lambda site: site.fqdn,
        copy=Capability(
            "sites.site_move",
            "site_move.yml",
            _copy_build,
            timeout_s=1800,
            description=N_("Copy a site to another host (files, certificate, vhost)"),
        ),
        cleanup=Capability(
            "sites.site_move_cleanup",
            "site_delete.yml",
            build,
            description=N_("Remove a moved site from its old host (docroot archived)"),
        ),
        undo=Capability(
            "sites.site_move_undo",
            "site_delete.yml",
            build,
            description=N_("Remove a failed move's copy from the new host"),
        ),
        get=sites.site_get,
        target=move_target,
        params=lambda site: {"site_ids": [site.id]},
        switch=_switch,
        start=lambda actor, site_id: site_move(actor, site_id=site_id),
        on_host=sites_on_host,
        done=_done,
        busy=True,
    ),
)
