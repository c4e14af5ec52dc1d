"""Plain-language job steps of the web hosting playbooks (Linux and Windows): the step of each task
or play name.

Registered by the manifest (steps=); panel.services.job_steps explains what steps are for."""

from __future__ import annotations

from panel.services import job_steps
from panel.services.job_steps import N_

SITE_CREATE = N_("Creating the website")
SITE_UPDATE = N_("Updating the website")
SITE_DELETE = N_("Removing the website")
SITE_SUSPEND = N_("Suspending the website")
SITE_UNSUSPEND = N_("Bringing the website back online")
SITE_FILES = N_("Setting up the website's account and files")
WEB_SERVER = N_("Configuring the web server")
CERTIFICATE = N_("Getting the HTTPS certificate")
USAGE = N_("Measuring disk and mailbox usage")
MOVE_PACK = N_("Packing the website on its old host")
MOVE_SETUP = N_("Setting the website up on its new host")

STEPS: dict[str, tuple[str, ...]] = {
    job_steps.REPORT: (
        "Publish what the panel records",
        "Publish each site's outcome and the archives for the panel",
        "Sites that failed (the others are applied)",
    ),
    job_steps.RESTART: (
        "Reload php-fpm",
        "Test and reload nginx",
        "Handlers before the per-site outcome (a failed site must not hold back the others' sshd restart)",
    ),
    SITE_CREATE: (
        "Create sites",
        "Create sites in one call (users, SFTP, pools, vhosts; the new ACME sites' certificates and HTTPS)",
        "Create sites on IIS",
    ),
    SITE_UPDATE: (
        "Update sites",
        "Converge IIS sites to their settings (names, bindings, pool)",
    ),
    SITE_DELETE: (
        "Delete sites",
        "Delete IIS sites",
    ),
    SITE_SUSPEND: (
        "Suspend sites",
        "Suspend IIS sites",
    ),
    SITE_UNSUSPEND: (
        "Unsuspend sites",
        "Unsuspend IIS sites",
    ),
    SITE_FILES: (
        "Users, directories and SFTP keys of every site, archive on delete (one call for the batch)",
        "The sshd drop-in that chroots site users to internal-sftp (sshd -t on the whole config, then HUP)",
        "SFTP accounts may not log on at the console or by Remote Desktop",
        "A changed sshd_config needs sshd restarted (once per run)",
        "Restart sshd for the new Match blocks",
    ),
    WEB_SERVER: (
        "Sites applied (folders, ACLs, pool, website and bindings, logs; SFTP when asked)",
        "Vhosts and TLS files of every site (one nginx -t, one reload; rollback and nginx's message on failure)",
        "Pools of every site (php-fpm -t once per PHP version, one graceful reload; rollback on failure)",
    ),
    CERTIFICATE: (
        "Site certificates",
        "Certificates by ACME HTTP-01 through each site's own vhost (made on the host; keys stay there)",
        "Certificates issued on the controller (ACME DNS-01 through govhost's BIND, PFX built)",
        "ACME orders, unless the ministry uploaded its own certificate",
        "Working folder on the controller (removed at the end of the run)",
        "Order, answer and build each site's certificate",
        "ACME account key of this run",
        "Each site's certificate, one after the other",
        "Working folder removed",
        "Certificate key (controller memory only)",
        "Certificate request for the site's names",
        "ACME order (the DNS-01 challenges to answer)",
        "Answer, validate and fetch the certificate (answers removed whatever happens)",
        "DNS-01 answers in govhost's BIND",
        "ACME validation and the certificate",
        "DNS-01 answers removed",
        "PFX of the key and the chain (cryptography's PKCS#12; the job's password)",
        "The certificate's thumbprint (SHA-1, what IIS binds by)",
        "Issued certificate kept for the Windows play",
        "Certificates imported and bound by thumbprint on IIS",
        "Every site's certificate was issued on the controller (else nothing is sent)",
        "Private folder for the PFX files (the connecting administrator's temporary folder)",
        "Import and bind each certificate (the PFX folder removed whatever happens)",
        "PFX written from the controller's bytes",
        "Certificate imported in the machine's WebHosting store (key not exportable)",
        "PFX folder removed",
        "HTTPS bindings by thumbprint beside the HTTP ones (SNI, one per name)",
    ),
    MOVE_PACK: (
        "Pack the site on its old host",
        "Only the old host packs",
        "The site's name and user are what the panel makes (they become paths and arguments)",
        "Pack and fetch the site's files and certificate",
        "Pack folder",
        "Pack the site's files",
        "Pack the site's certificate and key",
        "Fetch the site's files",
        "Fetch the site's certificate and key",
        "Remove the packs from the old host",
    ),
    MOVE_SETUP: (
        "Set the site up on its new host",
        "Only the new host is set up",
        "Site user, folders and SFTP keys",
        "Default page of a new site removed (the old host's files replace it)",
        "Unpack the site's files",
        "Certificate folder",
        "Unpack the site's certificate and key",
        "PHP pool",
        "SFTP chroot",
        "Vhost with the copied certificate",
    ),
    USAGE: (
        "Site disk usage",
        "Measure each site's directory",
        "Site disk usage on IIS",
        "Measure each IIS site's folder",
    ),
}
