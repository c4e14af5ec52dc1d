"""Plain-language steps for job progress: what a webmaster reads instead of Ansible's task names.

A job's events carry the playbook's task (or play) name, written for operators ("Validating
arguments against arg spec 'main'", "Pools of every site (php-fpm -t once per PHP version ...)").
People follow a job by a handful of steps instead; `step_of(task)` gives the step's English label,
which the surfaces translate (the labels are in the catalog). Operators still see the task name.

Every task and play name under playbooks/ must be listed here (tests/jobs/test_job_steps.py reads
the playbooks): a renamed or new task gets its step in the same change.
"""

from __future__ import annotations


def N_(text: str) -> str:
    """Marks a label for the translation catalog; the surfaces translate it when they show it."""
    return text


CHECK = N_("Checking the settings")
CONNECT = N_("Connecting to the server")
REPORT = N_("Reporting back to the panel")
PREPARE = N_("Preparing the server")
RESTART = N_("Restarting services")
DNS_SERVER = N_("Setting up the DNS server")
DNS_ZONE = N_("Updating the DNS zone")
MAIL_SERVER = N_("Setting up the mail server")
MAIL_DOMAIN = N_("Setting up mail for the domain")
MAILBOXES = N_("Setting up mailboxes")
DKIM = N_("Setting up mail signing (DKIM)")
MAIL_CERT = N_("Installing the mail server's certificate")
WEBMAIL = N_("Setting up webmail")
SITE_CREATE = N_("Creating the website")
SITE_UPDATE = N_("Updating the website")
SITE_DELETE = N_("Removing the website")
SITE_SUSPEND = N_("Suspending the website")
SITE_UNSUSPEND = N_("Bringing the website back online")
SITE_FILES = N_("Setting up the website's account and files")
WEB_SERVER = N_("Configuring the web server")
CERTIFICATE = N_("Getting the HTTPS certificate")
USAGE = N_("Measuring disk and mailbox usage")
OTHER = N_("Working on the server")

_GROUPS: dict[str, tuple[str, ...]] = {
    CHECK: (
        "Check the key name and secret shape before anything reaches a config file",
        "Check the zone name before it reaches a path or a config file",
    ),
    CONNECT: (
        "Gathering Facts",
        "Reach the host over SSH",
        "Reach the host",
        "Read the minimal facts",
        "Ping a managed host",
        "No-op",
    ),
    REPORT: (
        "Publish the facts for the panel",
        "Publish the table for the panel",
        "Publish what the panel records",
        "Public keys read",
        "Public keys published to the panel (it puts them in DNS)",
    ),
    PREPARE: (
        "Bootstrap a managed host",
        "Packages present",
        "Host name persisted",
        "Current host name read",
        "Host name set",
        "Host name resolves locally",
        "Time zone file",
        "Local time follows the time zone",
        "Service account present",
        "Service account SSH directory",
        "Service account keys",
        "Service account may use sudo without a password",
        "Key-only SSH logins",
        "Sites root present",
        "The govhost configuration directory",
        "Managed-host marker",
    ),
    RESTART: (
        "Restart named",
        "Reload named",
        "Reconfigure named",
        "Apply pending restarts and reloads now",
        "Apply the new configuration now",
        "Restart dovecot",
        "Restart postfix",
        "Restart opendkim",
        "Reload nginx",
        "Reload php-fpm",
        "Reload sshd",
        "Test and reload nginx",
    ),
    DNS_SERVER: (
        "BIND primary server",
        "BIND is installed",
        "Folders for the log, the dynamic zones and the per-zone stanzas",
        "BIND (named) starts with a file log (-L) and as user bind",
        "The TSIG key file (secret from the job's secrets)",
        "A fresh rndc key on this host (the image ships one shared by every host)",
        "The zones file exists (zone jobs assemble it)",
        "Server options and the includes",
        "The whole configuration parses (named-checkconf) before any start or reload",
        "BIND (named) is running",
        "BIND (named) answers on port 53",
        "The rndc tool reaches named with this host's key",
    ),
    DNS_ZONE: (
        "Create a zone",
        "Delete a zone",
        "The zone's stanza is gone",
        "Stanzas assembled into the zones file",
        "The zone's files are gone (after named let go of it)",
        "Add the zone",
        "Remove the zone",
        "The zone's first version (never overwrites a zone BIND already serves)",
        "The zone file parses (named-checkzone)",
        "The zone's stanza",
        "BIND (named) serves the zone",
    ),
    MAIL_SERVER: (
        "Mail host",
        "Group vmail",
        "User vmail (owns every maildir)",
        "Mail and users directories",
        "Users file exists (govhost_mailusers fills it)",
        "Dovecot's dovecot.conf (the whole configuration; Debian's conf.d is not read)",
        "Dovecot running",
        "Map directory",
        "Postfix main.cf and master.cf",
        "Mail name",
        "Postfix running",
    ),
    MAIL_DOMAIN: (
        "Mail domains",
        "Lookup tables (one module call; one postmap for the tables that changed)",
    ),
    MAILBOXES: (
        "Mailboxes",
        "Mailboxes of this batch, and postfix's maps (one module call for everything)",
    ),
    DKIM: (
        "Key directory of each domain",
        "Key of each domain (kept when it exists)",
        "Keys owned by opendkim",
        "Key and signing tables",
        "Key and run directories",
        "OpenDKIM configuration (opendkim.conf)",
        "Trusted hosts",
        "Signing tables exist (opendkim_keys fills them)",
        "OpenDKIM running",
    ),
    MAIL_CERT: ("TLS directory", "Private key", "Certificate chain"),
    WEBMAIL: (
        "Is Roundcube installed (Debian package roundcube-core)",
        "Webmail",
        "Session key made on the host (kept when present)",
        "Roundcube configuration",
        "Database directory",
        "Database schema (first run only)",
        "Webmail nginx site",
        "Webmail nginx site enabled",
        "Default nginx site off",
        "Services php-fpm and nginx running",
    ),
    SITE_CREATE: ("Create sites",),
    SITE_UPDATE: ("Update sites",),
    SITE_DELETE: ("Delete sites",),
    SITE_SUSPEND: ("Suspend sites",),
    SITE_UNSUSPEND: ("Unsuspend sites",),
    SITE_FILES: (
        "Users, directories and SFTP keys of every site, archive on delete (one call for the batch)",
        "The sshd drop-in that chroots site users to internal-sftp (sshd -t on the whole config, then HUP)",
    ),
    WEB_SERVER: (
        "Vhosts and TLS files of every site (one nginx -t, one reload; rollback and nginx's message on failure)",
        "Pools of every site (php-fpm -t once per PHP version, one graceful reload; rollback on failure)",
    ),
    CERTIFICATE: (
        "Site certificates",
        "Certificates by ACME HTTP-01 through each site's own vhost (certbot on the host; keys stay there)",
    ),
    USAGE: (
        "Mailbox usage",
        "Read every user's quota usage",
        "Site disk usage",
        "Measure each site's directory",
    ),
}
STEPS: dict[str, str] = {task: step for step, tasks in _GROUPS.items() for task in tasks}
# Names Ansible makes itself: a role checking its arguments ("... arg spec 'main' - <description>").
_GENERATED = (("Validating arguments against arg spec", CHECK),)


def step_of(task: str) -> str:
    """The plain-language step (English, translate it to show it) of a task or play name."""
    task = (task or "").strip()
    step = STEPS.get(task)
    if step is not None:
        return step
    for prefix, generated in _GENERATED:
        if task.startswith(prefix):
            return generated
    return OTHER
