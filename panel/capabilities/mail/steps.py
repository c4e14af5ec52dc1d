"""Plain-language job steps of the mail playbooks: the step of each task or play name.

Registered by the manifest (steps=); panel.services.job_steps explains what steps are for."""

from __future__ import annotations

from panel.services import job_steps
from panel.services.job_steps import N_

MAIL_SERVER = N_("Setting up the mail server")
MAIL_DOMAIN = N_("Setting up mail for the domain")
MAILBOXES = N_("Setting up mailboxes")
DKIM = N_("Setting up mail signing (DKIM)")
MAIL_CERT = N_("Installing the mail server's certificate")
WEBMAIL = N_("Setting up webmail")
USAGE = N_("Measuring disk and mailbox usage")
MOVE_PACK = N_("Packing the mail domain on its old host")
MOVE_SETUP = N_("Setting the mail domain up on its new host")

STEPS: dict[str, tuple[str, ...]] = {
    job_steps.REPORT: (
        "Publish the table for the panel",
        "Public keys read",
        "Public keys published to the panel (it puts them in DNS)",
    ),
    job_steps.RESTART: (
        "Services take the new maps, keys and certificate now",
        "Restart dovecot",
        "Restart postfix",
        "Restart opendkim",
        "Reload nginx",
    ),
    MOVE_PACK: (
        "Pack the domain on its old host",
        "Only the domain's old host packs",
        "The domain is a domain name (it becomes paths and arguments)",
        "Pack and fetch the domain's mail, key and users",
        "The domain's pack folder",
        "Does the domain have maildirs yet (made at a mailbox's first mail or login)",
        "Pack the domain's maildirs (owners and modes kept)",
        "Pack the domain's DKIM key",
        "The domain's lines of the users file (password hashes; never in the job's output)",
        "Fetch the domain's maildirs",
        "Fetch the domain's DKIM key",
        "Fetch the domain's users",
        "Remove the domain's packs from the old host",
    ),
    MOVE_SETUP: (
        "Set the domain up on its new host",
        "Only the domain's new host is set up",
        "Unpack and apply",
        "Unpack the domain's maildirs",
        "Key folder",
        "Unpack the domain's DKIM key (the key DNS publishes; opendkim_keys keeps it)",
        "The domain's users",
        "Mail certificate with the domain's mail name",
        "Postfix maps with the domain",
        "DKIM tables with the domain",
        "The domain's mailboxes in dovecot's users file, with their hashes",
        "Remove the users fragment",
        "Postfix accepts the domain",
        "Dovecot knows every mailbox",
        "Postfix answers",
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
        "Key directories on the host",
        "Keys of domains no longer served are removed",
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
    MAIL_CERT: (
        "TLS directory",
        "Private key",
        "Certificate chain",
    ),
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
    USAGE: (
        "Mailbox usage",
        "Read every user's quota usage",
    ),
}
