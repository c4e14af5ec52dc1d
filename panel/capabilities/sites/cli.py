"""`govhost sites ...`: list/show websites, request changes, SFTP keys, custom directives, plans,
certificate renewals and disk usage sweeps. Same service calls as the web UI and the API."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from panel.capabilities.sites import certs, moves
from panel.capabilities.sites import service as svc
from panel.capabilities.sites import sweeps as site_schedule
from panel.capabilities.sites.kinds import SiteAliasPayload, SiteCreatePayload, SitePlanPayload
from panel.cli.common import command, console, print_move, print_moves, print_page, print_swept, schema_type
from panel.cli.users import acting, as_option
from panel.services import hosts as hosts_svc


@click.group()
def sites() -> None:
    """Websites: nginx vhost, PHP-FPM pool, SFTP and TLS on a web host."""


@sites.command("list")
@click.option("--status", default=None, help="Only sites in this status.")
@click.option("--page", default=1, show_default=True, type=int)
@as_option
@command
def list_(status, page, as_user):
    """List websites."""
    result = svc.site_list(acting(as_user), page=page, per_page=50, status=status)
    table = Table("id", "fqdn", "aliases", "plan", "php", "status", "tls", "disk MB")
    for s in result.items:
        table.add_row(
            str(s.id),
            escape(s.fqdn),
            escape(", ".join(s.alias_names)),
            escape(s.plan.name),
            s.php_version,
            s.status.value,
            s.tls_mode.value,
            f"{s.disk_used_mb:.0f}/{s.plan.disk_mb}",
        )
    print_page(table, result, "sites")


@sites.command("show")
@click.argument("site_id", type=int)
@as_option
@command
def show(site_id, as_user):
    """Show one website."""
    s = svc.site_get(acting(as_user), site_id)
    cert = s.certificate
    console.print(
        f"[bold]{escape(s.fqdn)}[/] (id {s.id}) {s.status.value}, plan {escape(s.plan.name)}, "
        f"PHP {s.php_version}, user {s.system_user}"
    )
    console.print(f"aliases: {escape(', '.join(s.alias_names)) or '-'}")
    console.print(f"certificate: {cert.source.value} until {cert.not_after:%Y-%m-%d}" if cert else "certificate: none")
    for key in s.sftp_keys:
        console.print(f"sftp key {key.id}: {key.fingerprint} {escape(key.comment)}", markup=False)
    if s.last_error:
        console.print(f"[red]last error:[/] {escape(s.last_error)}")


@sites.command("create")
@click.argument("fqdn", type=schema_type(SiteCreatePayload, "fqdn"))
@click.option("--plan", required=True, type=schema_type(SiteCreatePayload, "plan"))
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    type=schema_type(SiteCreatePayload, "aliases[]"),
    help="Another name of the site (repeat).",
)
@click.option(
    "--php",
    "php_version",
    default="",
    type=schema_type(SiteCreatePayload, "php_version"),
    help="PHP version (default: the host's).",
)
@click.option("--tls", default="acme", show_default=True, type=click.Choice(["acme", "none"]), help="acme or none.")
@click.option("--org", "org_id", type=int, default=None, help="Organization id.")
@click.option(
    "--host",
    "host_id",
    type=schema_type(SiteCreatePayload, "host_id"),
    default=None,
    help="Operators: place on this host.",
)
@click.option("--exceed-capacity", is_flag=True, help="Operators: place on --host even past its sites capacity.")
@as_option
@command
def create(fqdn, plan, aliases, php_version, tls, org_id, host_id, exceed_capacity, as_user):
    """Request a new website FQDN."""
    payload = {"fqdn": fqdn, "plan": plan, "aliases": list(aliases), "tls": tls}
    payload.update({k: v for k, v in (("php_version", php_version), ("host_id", host_id)) if v})
    if exceed_capacity:
        payload["exceed_capacity"] = True
    req = svc.site_request(acting(as_user), action="create", org_id=org_id, payload=payload)
    console.print(f"request {req.id} ({req.kind}) is {req.status.value}")


def _action(name: str, help_text: str, *extra):
    @click.argument("site_id", type=int)
    @as_option
    @command
    def run(site_id, as_user, **fields):
        req = svc.site_request(
            acting(as_user), action=name, site_id=site_id, payload={k: v for k, v in fields.items() if v}
        )
        console.print(f"request {req.id} ({req.kind}) is {req.status.value}")

    for option in extra:
        run = option(run)
    run.__doc__ = help_text
    return sites.command(name.replace("_", "-"))(run)


_PLAN = click.option("--plan", required=True, type=schema_type(SitePlanPayload, "plan"))
_ALIAS = click.option("--alias", required=True, type=schema_type(SiteAliasPayload, "alias"))
_action("change_plan", "Request another plan for SITE_ID.", _PLAN)
_action("alias_add", "Request an alias for SITE_ID.", _ALIAS)
_action("alias_remove", "Remove an alias of SITE_ID.", _ALIAS)
_action("suspend", "Suspend SITE_ID (suspended page, PHP stopped).")
_action("unsuspend", "Unsuspend SITE_ID.")
_action("delete", "Delete SITE_ID (its files are archived on the host).")


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@sites.command("cert-upload")
@click.argument("site_id", type=int)
@click.option("--cert", "cert_file", type=_FILE, help="the certificate (PEM)")
@click.option("--key", "key_file", type=_FILE, help="its private key (PEM, no passphrase)")
@click.option("--chain", "chain_file", type=_FILE, help="intermediate certificates (PEM)")
@click.option("--pfx", "pfx_file", type=_FILE, help="instead: a PFX (PKCS#12) file with key and chain")
@click.option("--pfx-password-file", type=_FILE, help="a file holding the PFX's password (never an argument)")
@as_option
@command
def cert_upload(site_id, cert_file, key_file, chain_file, pfx_file, pfx_password_file, as_user):
    """Install a custom certificate on SITE_ID: --cert and --key (PEM files), or --pfx."""
    if pfx_file is None and (cert_file is None or key_file is None):
        raise click.UsageError("give --cert and --key (PEM files), or --pfx")
    if pfx_file is not None and (cert_file or key_file or chain_file):
        raise click.UsageError("give --pfx or the PEM files (--cert, --key, --chain), not both")
    if pfx_file is not None:
        password = pfx_password_file.read_text().rstrip("\r\n") if pfx_password_file else ""
        payload, secrets = {}, {"pfx": pfx_file.read_bytes()[: certs.MAX_PFX + 1], "pfx_password": password}
    else:
        payload = {"certificate": cert_file.read_text(), "chain": chain_file.read_text() if chain_file else ""}
        secrets = {"private_key": key_file.read_text()}
    req = svc.site_request(acting(as_user), action="cert_upload", site_id=site_id, payload=payload, secrets=secrets)
    console.print(f"request {req.id} ({req.kind}) is {req.status.value}")


@sites.command("sftp-key-add")
@click.argument("site_id", type=int)
@click.argument("public_key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@as_option
@command
def sftp_key_add(site_id, public_key_file, as_user):
    """Allow an SSH public key to log in to SITE_ID over SFTP."""
    key = svc.sftp_key_add(acting(as_user), site_id=site_id, public_key=public_key_file.read_text())
    console.print(f"key {key.id} added: {key.fingerprint}", markup=False)


@sites.command("sftp-key-remove")
@click.argument("key_id", type=int)
@as_option
@command
def sftp_key_remove(key_id, as_user):
    """Remove an SFTP key."""
    key = svc.sftp_key_remove(acting(as_user), key_id=key_id)
    console.print(f"key {key.id} removed", markup=False)


@sites.command("custom-nginx")
@click.argument("site_id", type=int)
@click.argument("directives_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@as_option
@command
def custom_nginx(site_id, directives_file, as_user):
    """Operators: set extra nginx directives (tested with nginx -t; rolled back on error)."""
    _site, job = svc.site_custom_nginx_set(acting(as_user), site_id=site_id, custom_nginx=directives_file.read_text())
    console.print(f"job {job.id} submitted")


@sites.command("plan-create")
@click.argument("name")
@click.option("--disk-mb", type=int, required=True)
@click.option("--memory-mb", type=int, default=128, show_default=True)
@click.option("--max-children", type=int, default=5, show_default=True)
@click.option("--upload-mb", type=int, default=32, show_default=True)
@click.option("--max-execution-s", type=int, default=30, show_default=True)
@click.option("--os", "os_name", default="linux", show_default=True, help="linux (nginx) or windows (IIS)")
@click.option("--runtime", default="", help="Windows: the app pool's .NET CLR, v4.0 or v2.0 (default: none)")
@as_option
@command
def plan_create(name, disk_mb, memory_mb, max_children, upload_mb, max_execution_s, os_name, runtime, as_user):
    """Admins: add a hosting plan."""
    plan = svc.plan_create(
        acting(as_user),
        name=name,
        disk_mb=disk_mb,
        memory_mb=memory_mb,
        max_children=max_children,
        upload_mb=upload_mb,
        max_execution_s=max_execution_s,
        os=os_name,
        managed_runtime=runtime,
    )
    console.print(f"plan {escape(plan.name)} created")


@sites.command("plans")
@as_option
@command
def plans(as_user):
    """List hosting plans."""
    table = Table("name", "disk MB", "memory MB", "PHP workers", "upload MB")
    for p in svc.plan_list(acting(as_user)):
        table.add_row(escape(p.name), str(p.disk_mb), str(p.memory_mb), str(p.max_children), str(p.upload_mb))
    console.print(table)


@sites.command("renew")
@as_option
@command
def renew(as_user):
    """Submit renewal jobs for every ACME certificate that is due (what the schedule runs)."""
    jobs = site_schedule.sites_renew_due(acting(as_user))
    print_swept(jobs, "renewal")


@sites.command("usage")
@as_option
@command
def usage(as_user):
    """Submit disk usage jobs for every host with sites (what the schedule runs)."""
    jobs = site_schedule.sites_usage_collect(acting(as_user))
    print_swept(jobs, "usage")


@sites.command("move")
@click.argument("site_id", type=int)
@click.option("--to", "to_host", default=None, help="Host name; default: the active web host with the most room.")
@as_option
@command
def move(site_id, to_host, as_user):
    """Operators: move a website to another web host (copy, DNS switch, then removal from the old host)."""
    a = acting(as_user)
    host_id = hosts_svc.host_find(a, to_host).id if to_host else None
    m = moves.site_move(a, site_id=site_id, host_id=host_id)
    print_move(m, f"site {m.site_id}")


@sites.command("moves")
@click.argument("site_id", type=int)
@as_option
@command
def moves_(site_id, as_user):
    """A website's moves, newest first."""
    print_moves(moves.site_moves(acting(as_user), site_id))
