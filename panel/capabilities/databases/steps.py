"""Plain-language job steps of the databases playbooks: the step of each task or play name.

Registered by the manifest (steps=); panel.services.job_steps explains what steps are for."""

from __future__ import annotations

from panel.services import job_steps
from panel.services.job_steps import N_

DB_SERVER = N_("Setting up the database server")
DRIFT = N_("Comparing the database servers with the catalog")
DATABASES = N_("Setting up databases and their users")
USAGE = N_("Measuring the databases' size")
CONSOLE_SERVER = N_("Setting up the web console")
CONSOLE_SESSION = N_("Opening a web console session")

STEPS: dict[str, tuple[str, ...]] = {
    job_steps.RESTART: (
        "Restart mariadb",
        "Restart postgresql",
        "Reload mariadb TLS",
        "Reload postgresql",
        "Restart php-fpm",
        "Serve the console now (the sign-on pages are checked right after)",
        "Apply the configuration now (later tasks and jobs rely on it)",
    ),
    CONSOLE_SERVER: (
        "Web console (nginx, php-fpm, TLS)",
        "MariaDB's console (phpMyAdmin)",
        "PostgreSQL's console (Adminer)",
        "Nginx, php-fpm and the snakeoil certificate are installed",
        "PHP-FPM has the driver now",
        "Console nginx site",
        "Console nginx site enabled",
        "The console's TLS folder",
        "The console's private key (from the panel's CA)",
        "The console's certificate chain (from the panel's CA)",
        "The console's pages",
        "The ticket folder's parent",
        "The ticket folder (only the web server reads it; tickets are single-use)",
        "The ticket exchange every sign-on page uses",
        "The sign-on page (trades a ticket for the console login)",
        "The phpMyAdmin package and PHP's MySQL driver are installed",
        "Signon authentication against this host's socket (replaces the package's server 1)",
        "The temporary folder of phpMyAdmin",
        "Adminer and PHP's PostgreSQL driver",
        "Adminer and PHP's PostgreSQL driver are installed",
        "Adminer's wrapper folder",
        "The wrapper (sign-on by ticket, this host's socket only)",
        "Web console logins (role govhost_console) by the local socket only, with their password",
        "Web console logins never over TCP (not even from this host; Debian's host lines would allow it)",
        "The MariaDB console is ready",
        "The PostgreSQL console is ready",
        "The PostgreSQL console is not ready",
    ),
    CONSOLE_SESSION: (
        "Web console sessions",
        "MariaDB console logins",
        "PostgreSQL console logins",
        "Console logins and their tickets (one module call)",
    ),
    DB_SERVER: (
        "DB host",
        "MariaDB",
        "PostgreSQL",
        "MariaDB and the driver govhost_mariadb uses are installed",
        "PostgreSQL and the driver govhost_postgresql uses are installed",
        "Listening address, TLS and utf8mb4",
        "Listening address, TLS and SCRAM passwords",
        "The server may read the host's TLS key",
        "The server's TLS folder",
        "The server's private key (from the panel's CA)",
        "The server's certificate chain (from the panel's CA)",
        "MariaDB runs",
        "PostgreSQL runs",
    ),
    DATABASES: (
        "Tenant databases",
        "MariaDB objects",
        "PostgreSQL objects",
        "Databases, users and grants of this batch (one module call for everything)",
        "Databases, roles, privileges and pg_hba lines of this batch (one module call for everything)",
    ),
    DRIFT: (
        "Tenant database drift",
        "MariaDB drift",
        "PostgreSQL drift",
        "Compare (or repair) govhost's MariaDB users and grants with the catalog",
        "Publish the MariaDB differences",
        "Compare (or repair) govhost's PostgreSQL roles, privileges and pg_hba lines with the catalog",
        "Publish the PostgreSQL differences",
    ),
    USAGE: ("Size of the tenant databases (one query per engine)",),  # databases.usage (no playbook)
}
