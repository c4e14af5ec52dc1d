"""The Windows job path of sites: the same Site rows and request kinds, built for IIS.

A site job whose host runs Windows runs `site_<verb>_iis.yml` (the Capability's windows_playbook)
with `govhost_iis_sites` instead of the Linux batch: one entry per site with every name and path
computed here, so the roles pass values to modules as arguments and never build a path or a
PowerShell command from them. Each name and path is checked again with the Windows rules just
before the run: a hostile one fails the job before anything is sent (ProvisionError).

Certificates are issued centrally (`site_cert_iis.yml`, docs/windows.md): the controller orders
them by ACME with DNS-01 answers in govhost's own BIND (HTTP-01 cannot reach an IIS host from the
CA's side here), builds a PFX whose password is a job secret, and the Windows host only imports it
and binds it by thumbprint. No ACME client runs on Windows. A ministry's own certificate (uploaded
as PEM and key, or as a PFX the panel unpacked into those) takes the same Windows play: the panel
packs it into a PFX with the job's password, and the controller play orders nothing.
"""

from __future__ import annotations

import base64
import json
import secrets as pysecrets

from sqlalchemy.orm import Session

from panel import security
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.sites import certs
from panel.capabilities.sites.models import Site, SiteStatus
from panel.capabilities.sites.rules import check_windows_site
from panel.errors import Invalid, PanelError
from panel.jobs.capabilities import job_secrets, settings
from panel.models.jobs import Job
from provisioners.base import ProvisionError, Target

STATES = {"sites.site_suspend": "suspended", "sites.site_unsuspend": "active", "sites.site_delete": "absent"}
# The machine store IIS keeps SNI certificates in (one per site, many per host), and binds from.
CERT_STORE = "WebHosting"


def https_bindings(names: list[str]) -> list[dict]:
    """One SNI binding per name on *:443; the certificate hash is added by whoever knows it."""
    return [
        {"port": 443, "hostname": n, "protocol": "https", "use_sni": True, "certificate_store_name": CERT_STORE}
        for n in names
    ]


def bindings(names: list[str], thumbprint: str = "") -> list[dict]:
    """microsoft.iis.website bindings: HTTP by host name for every name, and HTTPS with SNI (the
    certificate by thumbprint) once the site has one. The role adds `ip: "*"` (every address):
    Ansible's loader cannot read a `!unsafe '*'` extravar back (it takes it for a YAML alias)."""
    out = [{"port": 80, "hostname": n, "protocol": "http"} for n in names]
    if thumbprint:
        out += [{**b, "certificate_hash": thumbprint} for b in https_bindings(names)]
    return out


def site_entry(site: Site, job: Job, root: str) -> dict:
    try:
        dirs = check_windows_site(root, site.org_id, site.fqdn, site.alias_names)
    except Invalid as e:
        raise ProvisionError(f"nothing was sent to the Windows host: {e.text()}") from None
    state = STATES.get(job.kind) or ("suspended" if site.status == SiteStatus.SUSPENDED else "active")
    cert = site.certificate
    return {
        "name": site.fqdn,
        "pool": site.system_user,  # site<id>: its own identity, IIS AppPool\site<id>
        "state": state,
        "hostnames": site.names,
        # a site keeps its HTTPS bindings through updates and suspension (the recorded thumbprint)
        "bindings": bindings(site.names, cert.thumbprint if cert is not None else ""),
        "runtime": site.plan.managed_runtime,
        # the plan's disk size, a hard FSRM quota on the site's folder (a plan change is an update job)
        "quota_mb": int(site.plan.disk_mb),
        **dirs,
        "archive": f"{root.rstrip(chr(92))}\\archive\\{site.fqdn}-job{job.id}.zip",
        "sftp": sftp_entry(site, dirs["path"]),
    }


def sftp_entry(site: Site, path: str) -> dict:
    """The site's SFTP account on Windows OpenSSH and its sshd Match block, written here from values
    the Windows rules checked (the role passes the lines to a fixed script, never templates them).
    Windows has no chroot(2): sshd's ChrootDirectory is a path check of its own SFTP server, so the
    account's NTFS rights (its folder listed, wwwroot written, logs read) are the real boundary."""
    user = f"sftp{site.id}"
    return {
        "user": user,
        "keys": [k.public_key for k in site.sftp_keys],
        "match": [
            f"Match User {user}",
            f'    ChrootDirectory "{path}"',
            "    ForceCommand internal-sftp -d /wwwroot",
            f"    AuthorizedKeysFile __PROGRAMDATA__/ssh/govhost_keys/{user}",
            "    PasswordAuthentication no",
            "    AllowTcpForwarding no",
            "    AllowStreamLocalForwarding no",
            "    AllowAgentForwarding no",
            "    X11Forwarding no",
            "    PermitTunnel no",
            "    PermitTTY no",
        ],
    }


def _challenges(session: Session, site: Site) -> tuple[dict, dns_svc.ChallengeTarget]:
    """name -> zone for every name of the site, and the one BIND they are answered at."""
    zones, target = {}, None
    for name in site.names:
        try:
            found = dns_svc.acme_challenge_target(session, site.org_id, name)
        except PanelError as e:
            raise ProvisionError(f"nothing was sent to the Windows host: {e.text()}") from None
        if found is None:
            raise ProvisionError(
                f"nothing was sent to the Windows host: {name} is not in a zone govhost's DNS serves,"
                " so its ACME DNS-01 answer cannot be published (IIS sites get certificates by DNS-01)"
            )
        zones[name], target = found.zone, found
    return zones, target


UPLOAD_PFX = "iis_cert_upload_pfx"  # the secret var of an uploaded certificate's PFX (base64)


def _upload_build(job: Job, sites: list[Site], targets: list[Target]):
    """A ministry's own certificate for its one site: packed here into a PFX protected by the job's
    password (the key is a job secret, so is the PFX), bound by its thumbprint like an ACME one."""
    cfg = settings().sites
    if len(sites) != 1:
        raise ProvisionError("nothing was sent to the Windows host: an uploaded certificate is for one site")
    (site,) = sites
    cert_pem, chain_pem = job.params["certificate"], job.params.get("chain") or ""
    key_pem = job_secrets(job).get("govhost_tls_key", "")
    refusal = certs.windows_key_refusal(cert_pem)
    if refusal is not None or not key_pem:
        why = refusal.text() if refusal is not None else "the uploaded certificate's private key is missing"
        raise ProvisionError(f"nothing was sent to the Windows host: {why}")
    pfx, thumbprint = certs.windows_pfx(cert_pem, chain_pem, key_pem, pfx_password(job), site.fqdn)
    fullchain = cert_pem.strip() + "\n" + (chain_pem.strip() + "\n" if chain_pem.strip() else "")
    extravars = {
        "govhost_iis_sites": [{**site_entry(site, job, cfg.iis_root), "https": https_bindings(site.names)}],
        "iis_site_root": cfg.iis_root,
        # public parts only: the role adds the PFX from the secrets
        "iis_cert_upload": {"name": site.fqdn, "thumbprint": thumbprint, "fullchain": fullchain},
    }
    secrets = {PFX_PASSWORD: pfx_password(job), UPLOAD_PFX: base64.b64encode(pfx).decode()}
    return extravars, secrets, targets


def _cert_build(job: Job, session: Session, sites: list[Site], targets: list[Target]):
    cfg = settings().sites
    if job.params.get("certificate"):
        return _upload_build(job, sites, targets)
    if not cfg.acme_directory:
        raise ProvisionError(
            "nothing was sent to the Windows host: no ACME server is configured (sites.acme_directory)"
        )
    entries, target = [], None
    for site in sites:
        zones, target = _challenges(session, site)
        entries.append({**site_entry(site, job, cfg.iis_root), "zones": zones, "https": https_bindings(site.names)})
    extravars = {
        "govhost_iis_sites": entries,
        "iis_site_root": cfg.iis_root,
        "acme_central_directory": cfg.acme_directory,
        "acme_central_email": cfg.acme_email,
        "acme_central_ca_bundle": cfg.acme_ca_bundle,  # a file on the controller, where the play runs
        "acme_central_dns_server": target.server if target else "",
        "acme_central_dns_port": target.port if target else 53,
        "acme_central_key_name": target.key_name if target else "",
        "acme_central_key_algorithm": target.key_algorithm if target else "",
    }
    # Secrets travel only as job secrets (a 0600 vars file for the run, redacted from every event):
    # the TSIG key that writes the challenge records, and the job's PFX password (the PFX is deleted
    # on Windows right after the import; its key is imported not exportable).
    secrets = {"acme_central_key_secret": target.key_secret if target else "", PFX_PASSWORD: pfx_password(job)}
    return extravars, secrets, targets


PFX_PASSWORD = "iis_cert_pfx_password"  # noqa: S105 (the secret's name, not a password)


def pfx_password(job: Job) -> str:
    """The job's PFX password: random, made at its first build and sealed with the job's secrets
    (a rerun of a handed-back job builds the same PFX protection); never a param or an output."""
    known = job_secrets(job)
    if not known.get(PFX_PASSWORD):
        known[PFX_PASSWORD] = pysecrets.token_urlsafe(24)
        job.secrets = security.seal(json.dumps(known))
    return known[PFX_PASSWORD]


def _usage_build(sites: list[Site], targets: list[Target]):
    """Each site's name and folder (checked again like every Windows path), for govhost_iis_usage."""
    cfg = settings().sites
    entries = []
    for site in sites:
        try:
            dirs = check_windows_site(cfg.iis_root, site.org_id, site.fqdn, site.alias_names)
        except Invalid as e:
            raise ProvisionError(f"nothing was sent to the Windows host: {e.text()}") from None
        entries.append({"name": site.fqdn, "path": dirs["path"]})
    extravars = {"govhost_iis_usage": entries, "iis_site_root": cfg.iis_root}
    return {**extravars, "site_user_archive_days": cfg.archive_days}, {}, targets


def build(job: Job, session: Session, sites: list[Site], targets: list[Target]):
    if job.kind == "sites.site_cert":
        return _cert_build(job, session, sites, targets)
    if job.kind == "sites.site_usage":
        return _usage_build(sites, targets)
    cfg = settings().sites
    extravars = {
        "govhost_iis_sites": [site_entry(s, job, cfg.iis_root) for s in sites],
        "iis_site_root": cfg.iis_root,
    }
    return extravars, {}, targets
