"""Site capabilities: one job = one host = one playbook run for every site in params["site_ids"].

build() turns the Site rows into the batched `govhost_sites` list (states: active, suspended,
absent); the hooks move the sites through their states with what the playbook published
(set_stats: certificates, disk usage, archives). New sites with ACME (a batch of at most
INLINE_ACME of them) get their certificates in the create run itself, in the same module call once
the sites serve HTTP (role site_create): one playbook run, one task, no second job to chain. If the
CA fails there, the sites are active on HTTP, the run says why (site_acme_error) and a
`sites.site_cert` job is chained for them, as it is for a bigger batch (active first, certificates
after), so a slow CA never holds the sites back.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import events
from panel.capabilities.sites import iis
from panel.capabilities.sites.models import Certificate, CertSource, Site, SiteStatus, TlsMode
from panel.db import utcnow
from panel.jobs.capabilities import Capability, host_targets, job_secrets, register, settings
from panel.jobs.submit import job_create, usable_hosts
from panel.models.jobs import Job
from panel.models.tenants import Role
from panel.services.quotas import quota_release
from provisioners.base import Result


def N_(text: str) -> str:
    """Marks a notification message for the catalog; each reader sees it in their language."""
    return text


INLINE_ACME = 10  # new ACME sites whose certificates the create run issues itself (more: chained job)
OVER_LIMIT = N_("Site {fqdn} uses {used} MB, over its plan's {limit} MB")
STATES = {
    "sites.site_create": None,
    "sites.site_update": None,
    "sites.site_suspend": "suspended",
    "sites.site_unsuspend": "active",
    "sites.site_delete": "absent",
    "sites.site_cert": None,
    "sites.site_usage": None,
    "sites.site_move": None,
    "sites.site_move_cleanup": "absent",  # the old host's copy, once DNS points at the new one
    "sites.site_move_undo": "absent",  # the new host's copy of a move that failed
}


def _sites(job: Job, session: Session) -> list[Site]:
    ids = job.params.get("site_ids") or []
    return list(session.scalars(select(Site).where(Site.id.in_(ids)).order_by(Site.id)))


def _tls(site: Site, job: Job) -> str:
    if job.kind == "sites.site_cert":
        return "custom" if job.params.get("certificate") else "acme"
    cert = site.certificate
    return cert.source.value if cert is not None else "none"


def site_entry(site: Site, job: Job) -> dict:
    state = STATES.get(job.kind) or ("suspended" if site.status == SiteStatus.SUSPENDED else "active")
    entry = {
        "fqdn": site.fqdn,
        "user": site.system_user,
        "state": state,
        "aliases": site.alias_names,
        "php_version": site.php_version,
        "tls": _tls(site, job),
        "custom_nginx": site.custom_nginx,
        "app": site.app,
        "sftp_keys": [k.public_key for k in site.sftp_keys],
        "limits": site.plan.limits(),
    }
    if job.params.get("certificate"):
        entry["tls_chain_pem"] = job.params["certificate"].strip() + "\n" + (job.params.get("chain") or "").strip()
    return entry


def _ca_bundle() -> str:
    path = settings().sites.acme_ca_bundle
    return Path(path).read_text() if path and Path(path).is_file() else ""


def _acme_vars(cfg, force: bool = False) -> dict:
    return {
        "acme_cert_directory": cfg.acme_directory,
        "acme_cert_email": cfg.acme_email,
        "acme_cert_ca_bundle_pem": _ca_bundle(),
        "acme_cert_force": force,
    }


def _inline_acme(sites: list[Site], job: Job, cfg) -> list[dict]:
    """The create run's second pass: the new ACME sites, as the certificate job would send them."""
    wanted = [s for s in sites if s.tls_mode == TlsMode.ACME and s.certificate is None]
    if not cfg.acme_directory or not wanted or len(wanted) > INLINE_ACME:
        return []
    return [{**site_entry(s, job), "tls": "acme"} for s in wanted]


def build(job: Job, session: Session):
    targets = host_targets(job, session)
    if any(t.os == "windows" for t in targets):  # IIS: the Windows job path (docs/windows.md)
        return iis.build(job, session, _sites(job, session), targets)
    cfg = settings().sites
    sites = _sites(job, session)
    extravars = {
        "govhost_sites": [site_entry(s, job) for s in sites],
        "site_user_archive_days": cfg.archive_days,
    }
    if job.kind == "sites.site_create":
        extravars["govhost_sites_acme"] = _inline_acme(sites, job, cfg)
        if extravars["govhost_sites_acme"]:
            extravars.update(_acme_vars(cfg))
    if job.kind == "sites.site_cert":
        extravars.update(_acme_vars(cfg, bool(job.params.get("force"))))
        if job.params.get("certificate"):
            extravars["govhost_tls_key_fqdn"] = extravars["govhost_sites"][0]["fqdn"]
            # The uploaded key travels only as a job secret (sealed in the row, a 0600 vars file for
            # the run, redacted from every event); without it nginx has a chain and no key.
            key = job_secrets(job).get("govhost_tls_key", "")
            return extravars, ({"govhost_tls_key": key} if key else {}), host_targets(job, session)
    return extravars, {}, host_targets(job, session)


# ---- hooks ---------------------------------------------------------------------------------------


def _done(job: Job, session: Session, sites: list[Site] | None = None) -> list[Site]:
    sites = _sites(job, session) if sites is None else sites
    for site in sites:
        if site.busy_job_id == job.id:
            site.busy_job_id = None
        site.last_error = ""
    return sites


def _outcome(result: Result) -> tuple[set[str], dict[str, str]] | None:
    """(sites applied, site -> why it failed) when the run reported each site's outcome (IIS:
    govhost_iis_sites applies each site all or nothing on its own), else None: all failed."""
    outcome = (result.data or {}).get("site_outcome")
    if not isinstance(outcome, dict):
        return None
    failed = outcome.get("failed") if isinstance(outcome.get("failed"), dict) else {}
    return {str(n) for n in outcome.get("applied") or []}, {str(k): str(v) for k, v in failed.items()}


def _failed(job: Job, session: Session, result: Result) -> None:
    sites, errors = _sites(job, session), {}
    outcome = _outcome(result) if job.kind in SUCCESS else None
    if outcome is not None:  # one bad site does not lose the others: they get what success gives
        applied, errors = outcome
        done = [s for s in sites if s.fqdn in applied]
        if done:
            SUCCESS[job.kind](job, session, result, done)
        sites = [s for s in sites if s.fqdn not in applied]
    for site in sites:
        if site.busy_job_id == job.id:
            site.busy_job_id = None
        why = f"{site.fqdn}: {errors[site.fqdn]}" if site.fqdn in errors else result.explanation
        site.last_error = (why or "the job failed")[:2000]
        if job.kind == "sites.site_create":
            site.move_to(SiteStatus.FAILED)
        elif job.kind == "sites.site_delete":
            site.move_to(SiteStatus(job.params.get("previous") or SiteStatus.ACTIVE.value))


def chain_job(session: Session, kind: str, sites: list[Site], params: dict | None = None) -> Job | None:
    """A follow-up job submitted by the panel itself (no request), queued after this commit. A
    host that went down meanwhile gets none: the sites are left for the next sweep."""
    if not sites:
        return None
    if not usable_hosts(session, [sites[0].host_id]).ids:
        return None
    job = job_create(
        session,
        kind=kind,
        org_id=sites[0].org_id,
        host_ids=[sites[0].host_id],
        created_by_name="panel:sites",
        params={"site_ids": [s.id for s in sites], **(params or {})},
    )
    for site in sites:
        site.busy_job_id = job.id
    return job


def _created(job: Job, session: Session, result: Result, sites: list[Site] | None = None) -> None:
    sites = _done(job, session, sites)
    for site in sites:
        site.move_to(SiteStatus.ACTIVE)
    data = result.data or {}
    _record_certs(sites, data.get("site_certs") or {}, CertSource.ACME)
    # IIS sites always get theirs by a chained job: its first play orders them on the controller
    # (ACME DNS-01 through govhost's BIND, docs/windows.md), its second imports and binds them.
    if settings().sites.acme_directory:
        missing = [s for s in sites if s.tls_mode == TlsMode.ACME and s.certificate is None]
        if data.get("site_acme_error"):  # the run's certificate pass failed: said on the site until the retry
            for site in missing:
                site.last_error = f"Certificate: {data['site_acme_error']}"[:2000]
        chain_job(session, "sites.site_cert", missing)


def _updated(job: Job, session: Session, result: Result, sites: list[Site] | None = None) -> None:
    _done(job, session, sites)


def _state(target: SiteStatus):
    def hook(job: Job, session: Session, result: Result, sites: list[Site] | None = None) -> None:
        for site in _done(job, session, sites):
            site.move_to(target)

    return hook


def _deleted(job: Job, session: Session, result: Result, sites: list[Site] | None = None) -> None:
    archives = (result.data or {}).get("site_archives") or {}
    for site in _done(job, session, sites):
        site.move_to(SiteStatus.DELETED)
        site.deleted_at, site.archive_path = utcnow(), str(archives.get(site.fqdn, ""))[:400]
        site.aliases = []  # the names are free again
        quota_release(session, site.quota_request_ids or [])


def cert_facts(pem: str) -> dict:
    cert = x509.load_pem_x509_certificates(pem.encode())[0]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    return {
        "names": names,
        "issuer": cert.issuer.rfc4514_string()[:300],
        "serial": format(cert.serial_number, "x"),
        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(":"),
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Windows' name for it
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
    }


def _certified(job: Job, session: Session, result: Result, sites: list[Site] | None = None) -> None:
    pems = (result.data or {}).get("site_certs") or {}
    source = CertSource.CUSTOM if job.params.get("certificate") else CertSource.ACME
    _record_certs(_done(job, session, sites), pems, source)


def _record_certs(sites: list[Site], pems: dict, source: CertSource) -> None:
    """The certificates a run published (fqdn -> chain PEM) become each site's current one."""
    for site in sites:
        if site.fqdn not in pems:
            continue
        facts = cert_facts(pems[site.fqdn])
        if site.certificate is not None and site.certificate.fingerprint == facts["fingerprint"]:
            continue
        for old in site.certificates:
            old.is_current = False
        site.certificates.append(Certificate(source=source, is_current=True, **facts))
        site.tls_mode = TlsMode(source.value)


def _measured(job: Job, session: Session, result: Result, sites: list[Site] | None = None) -> None:
    usage = (result.data or {}).get("site_usage") or {}
    for site in _done(job, session, sites):
        if site.fqdn not in usage:
            continue
        site.disk_used_mb, site.disk_measured_at = float(usage[site.fqdn]), utcnow()
        over = site.disk_used_mb > site.plan.disk_mb
        if over and site.over_limit_since is None:
            site.over_limit_since = utcnow()
            _notify_over(session, site)
        elif not over:
            site.over_limit_since = None


def _notify_over(session: Session, site: Site) -> None:
    """The ministry's members and the data center's operators hear of it once per excess."""
    events.usage_over_limit.send(
        "sites",
        session=session,
        org_id=site.org_id,
        kind="site.over_limit",
        subject=OVER_LIMIT,
        params={"fqdn": site.fqdn, "used": round(site.disk_used_mb), "limit": site.plan.disk_mb},
        link=f"/sites/{site.id}",
        roles=(Role.WEBMASTER, Role.ORG_ADMIN),
        staff=True,
    )


# What success gives a site, by kind: also given to the sites a failed run reports applied.
SUCCESS = {
    "sites.site_create": _created,
    "sites.site_update": _updated,
    "sites.site_suspend": _state(SiteStatus.SUSPENDED),
    "sites.site_unsuspend": _state(SiteStatus.ACTIVE),
    "sites.site_delete": _deleted,
    "sites.site_cert": _certified,
    "sites.site_usage": _measured,
}

register(
    Capability(
        "sites.site_create",
        "site_create.yml",
        build,
        windows_playbook="site_create_iis.yml",
        on_success=SUCCESS["sites.site_create"],
        on_failure=_failed,
        description=N_("Create sites: user, directories, PHP pool, SFTP, vhost"),
    )
)
register(
    Capability(
        "sites.site_update",
        "site_update.yml",
        build,
        windows_playbook="site_update_iis.yml",
        on_success=SUCCESS["sites.site_update"],
        on_failure=_failed,
        description=N_("Converge sites to their settings"),
    )
)
register(
    Capability(
        "sites.site_suspend",
        "site_suspend.yml",
        build,
        windows_playbook="site_suspend_iis.yml",
        on_success=SUCCESS["sites.site_suspend"],
        on_failure=_failed,
        description=N_("Suspend sites"),
    )
)
register(
    Capability(
        "sites.site_unsuspend",
        "site_unsuspend.yml",
        build,
        windows_playbook="site_unsuspend_iis.yml",
        on_success=SUCCESS["sites.site_unsuspend"],
        on_failure=_failed,
        description=N_("Unsuspend sites"),
    )
)
register(
    Capability(
        "sites.site_delete",
        "site_delete.yml",
        build,
        windows_playbook="site_delete_iis.yml",
        on_success=SUCCESS["sites.site_delete"],
        on_failure=_failed,
        description=N_("Delete sites (docroot archived)"),
    )
)
register(
    Capability(
        "sites.site_cert",
        "site_cert.yml",
        build,
        windows_playbook="site_cert_iis.yml",
        on_success=SUCCESS["sites.site_cert"],
        on_failure=_failed,
        timeout_s=900,
        description=N_("Issue, renew or install site certificates"),
    )
)
register(
    Capability(
        "sites.site_usage",
        "site_usage.yml",
        build,
        windows_playbook="site_usage_iis.yml",
        on_success=SUCCESS["sites.site_usage"],
        on_failure=_failed,
        description=N_("Measure sites' disk usage"),
    )
)


def app_entry(session: Session, site_id: int, job: Job) -> dict:
    """`sites.app_entry`: the site's entry of the batched `govhost_sites` list, as sites' own jobs
    build it, for another capability's job that runs the nginx_vhost / php_fpm_pool roles on the
    site's host (a WordPress install renders the site's vhost and pool for its app)."""
    site = session.get(Site, site_id)
    if site is None:
        raise ValueError(f"no site {site_id}")
    return site_entry(site, job)
