"""Site capabilities: one job = one host = one playbook run for every site in params["site_ids"].

build() turns the Site rows into the batched `govhost_sites` list (states: active, suspended,
absent); the hooks move the sites through their states with what the playbook published
(set_stats: certificates, disk usage, archives). A new site with ACME gets its certificate job
chained once it serves HTTP, so a slow CA never holds the site itself back.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import events
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


OVER_LIMIT = N_("Site {fqdn} uses {used} MB, over its plan's {limit} MB")
STATES = {
    "sites.site_create": None,
    "sites.site_update": None,
    "sites.site_suspend": "suspended",
    "sites.site_unsuspend": "active",
    "sites.site_delete": "absent",
    "sites.site_cert": None,
    "sites.site_usage": None,
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
        "sftp_keys": [k.public_key for k in site.sftp_keys],
        "limits": site.plan.limits(),
    }
    if job.params.get("certificate"):
        entry["tls_chain_pem"] = job.params["certificate"].strip() + "\n" + (job.params.get("chain") or "").strip()
    return entry


def _ca_bundle() -> str:
    path = settings().sites.acme_ca_bundle
    return Path(path).read_text() if path and Path(path).is_file() else ""


def build(job: Job, session: Session):
    cfg = settings().sites
    extravars = {
        "govhost_sites": [site_entry(s, job) for s in _sites(job, session)],
        "site_user_archive_days": cfg.archive_days,
    }
    if job.kind == "sites.site_cert":
        extravars.update(
            acme_cert_directory=cfg.acme_directory,
            acme_cert_email=cfg.acme_email,
            acme_cert_ca_bundle_pem=_ca_bundle(),
            acme_cert_force=bool(job.params.get("force")),
        )
        if job.params.get("certificate"):
            extravars["govhost_tls_key_fqdn"] = extravars["govhost_sites"][0]["fqdn"]
            # The uploaded key travels only as a job secret (sealed in the row, a 0600 vars file for
            # the run, redacted from every event); without it nginx has a chain and no key.
            key = job_secrets(job).get("govhost_tls_key", "")
            return extravars, ({"govhost_tls_key": key} if key else {}), host_targets(job, session)
    return extravars, {}, host_targets(job, session)


# ---- hooks ---------------------------------------------------------------------------------------


def _done(job: Job, session: Session) -> list[Site]:
    sites = _sites(job, session)
    for site in sites:
        if site.busy_job_id == job.id:
            site.busy_job_id = None
        site.last_error = ""
    return sites


def _failed(job: Job, session: Session, result: Result) -> None:
    for site in _sites(job, session):
        if site.busy_job_id == job.id:
            site.busy_job_id = None
        site.last_error = (result.explanation or "the job failed")[:2000]
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


def _created(job: Job, session: Session, result: Result) -> None:
    sites = _done(job, session)
    for site in sites:
        site.move_to(SiteStatus.ACTIVE)
    if settings().sites.acme_directory:
        chain_job(
            session, "sites.site_cert", [s for s in sites if s.tls_mode == TlsMode.ACME and s.certificate is None]
        )


def _state(target: SiteStatus):
    def hook(job: Job, session: Session, result: Result) -> None:
        for site in _done(job, session):
            site.move_to(target)

    return hook


def _deleted(job: Job, session: Session, result: Result) -> None:
    archives = (result.data or {}).get("site_archives") or {}
    for site in _done(job, session):
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
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
    }


def _certified(job: Job, session: Session, result: Result) -> None:
    pems = (result.data or {}).get("site_certs") or {}
    source = CertSource.CUSTOM if job.params.get("certificate") else CertSource.ACME
    for site in _done(job, session):
        if site.fqdn not in pems:
            continue
        facts = cert_facts(pems[site.fqdn])
        if site.certificate is not None and site.certificate.fingerprint == facts["fingerprint"]:
            continue
        for old in site.certificates:
            old.is_current = False
        site.certificates.append(Certificate(source=source, is_current=True, **facts))
        site.tls_mode = TlsMode(source.value)


def _measured(job: Job, session: Session, result: Result) -> None:
    usage = (result.data or {}).get("site_usage") or {}
    for site in _done(job, session):
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


register(
    Capability(
        "sites.site_create",
        "site_create.yml",
        build,
        on_success=_created,
        on_failure=_failed,
        description=N_("Create sites: user, directories, PHP pool, SFTP, vhost"),
    )
)
register(
    Capability(
        "sites.site_update",
        "site_update.yml",
        build,
        on_success=lambda j, s, r: _done(j, s) and None,
        on_failure=_failed,
        description=N_("Converge sites to their settings"),
    )
)
register(
    Capability(
        "sites.site_suspend",
        "site_suspend.yml",
        build,
        on_success=_state(SiteStatus.SUSPENDED),
        on_failure=_failed,
        description=N_("Suspend sites"),
    )
)
register(
    Capability(
        "sites.site_unsuspend",
        "site_unsuspend.yml",
        build,
        on_success=_state(SiteStatus.ACTIVE),
        on_failure=_failed,
        description=N_("Unsuspend sites"),
    )
)
register(
    Capability(
        "sites.site_delete",
        "site_delete.yml",
        build,
        on_success=_deleted,
        on_failure=_failed,
        description=N_("Delete sites (docroot archived)"),
    )
)
register(
    Capability(
        "sites.site_cert",
        "site_cert.yml",
        build,
        on_success=_certified,
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
        on_success=_measured,
        on_failure=_failed,
        description=N_("Measure sites' disk usage"),
    )
)
