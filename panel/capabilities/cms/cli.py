"""`govhost cms ...`: WordPress instances. The administrator's password is printed once."""

from __future__ import annotations

import click
from rich.table import Table

from panel.capabilities.cms import hardening, rules
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import InstanceStatus
from panel.cli.common import cli_actor, command, console, print_page, print_swept
from panel.services import auth as auth_svc

AS = click.option("--as", "as_user", default=None, help="Act as this user (their rights) instead of root's.")


def acting(as_user: str | None):
    return auth_svc.actor_by_username(as_user, surface="cli") if as_user else cli_actor()


@click.group()
def cms() -> None:
    """WordPress instances on the ministries' sites."""


@cms.command("list")
@click.option("--page", default=1, type=int)
@click.option("--org", "org_id", type=int, default=None, help="Only this ministry's instances.")
@click.option("--status", type=click.Choice([s.value for s in InstanceStatus]), default=None)
@AS
@command
def list_(page: int, org_id: int | None, status: str | None, as_user: str | None) -> None:
    """List WordPress instances, 50 a page."""
    result = cms_svc.instance_list(acting(as_user), page=page, org_id=org_id, status=status)
    table = Table("id", "org", "site", "status", "version", "admin")
    for i in result.items:
        table.add_row(str(i.id), str(i.org_id), i.fqdn, i.status.value, i.wp_version or "-", i.admin_user)
    print_page(table, result, "instances")


@cms.command("show")
@click.argument("instance_id", type=int)
@AS
@command
def show(instance_id: int, as_user: str | None) -> None:
    """One instance: site, database, status, last error."""
    i = cms_svc.instance_get(acting(as_user), instance_id)
    for label, value in (
        ("site", f"{i.fqdn} (site {i.site_id})"),
        ("title", i.title),
        ("status", i.status.value),
        ("version", i.wp_version or "-"),
        ("database", i.db_name),
        ("admin", i.admin_user),
        ("language", i.language),
        ("request", f"#{i.request_id}" if i.request_id else "-"),
        *((("staging of", f"instance {i.staging_of_id}"),) if i.staging_of_id else ()),
        ("last error", i.last_error or "-"),
        *((("archive", i.archive_path or "-"),) if i.status == InstanceStatus.DELETED else ()),
        ("hardening checked", i.hardening_checked_at.isoformat(timespec="seconds") if i.hardening_checked_at else "-"),
        *((name, "ok" if got["ok"] else f"CHANGED: {got['detail']}") for name, got in (i.hardening or {}).items()),
    ):
        console.print(f"{label}: {value}", markup=False)


@cms.command("hardening-check")
@click.option("--instance", "instance_id", type=int, default=None, help="Only this instance; default: every live one.")
@AS
@command
def hardening_check(instance_id: int | None, as_user: str | None) -> None:
    """Staff: check every live instance's hardening now (what the schedule runs), one job per host and ministry."""
    print_swept(hardening.hardening_check(acting(as_user), instance_id), "hardening check")


@cms.command("hardening-repair")
@click.argument("instance_id", type=int)
@AS
@command
def hardening_repair(instance_id: int, as_user: str | None) -> None:
    """Ask to put INSTANCE_ID's hardening back (config, plugin, web server's rules), then check it again."""
    req = cms_svc.hardening_repair(acting(as_user), instance_id=instance_id)
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)


@cms.command("create")
@click.option("--org", "org_id", required=True, type=int, help="Ministry id.")
@click.option("--site", "site_id", type=int, help="Id of an active site of the ministry (or --new-site).")
@click.option("--new-site", "new_fqdn", help="Name of a new site, made in the same request (one approval).")
@click.option("--plan", help="The new site's hosting plan (with --new-site).")
@click.option("--php", "php_version", help="The new site's PHP version (with --new-site; default: the host's).")
@click.option("--tls", type=click.Choice(["acme", "none"]), help="The new site's TLS (with --new-site; default acme).")
@click.option("--title", required=True)
@click.option("--admin", "admin_user", required=True, help="WordPress administrator login.")
@click.option("--email", "admin_email", required=True)
@click.option("--language", type=click.Choice(rules.LANGUAGES), default="en")
@AS
@command
def create(
    org_id, site_id, new_fqdn, plan, php_version, tls, title, admin_user, admin_email, language, as_user
) -> None:
    """Ask for WordPress on a site, or on a new site (--new-site NAME --plan PLAN) in one request;
    prints the administrator's one-time password."""
    new_site = None
    if new_fqdn is not None:
        extra = {"php_version": php_version, "tls": tls}
        new_site = {"fqdn": new_fqdn, "plan": plan, **{k: v for k, v in extra.items() if v is not None}}
    issued = cms_svc.instance_create(
        acting(as_user),
        org_id=org_id,
        site_id=site_id,
        new_site=new_site,
        title=title,
        admin_user=admin_user,
        admin_email=admin_email,
        language=language,
    )
    req = issued.request
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)
    console.print("administrator password (shown once, govhost keeps no copy):", markup=False)
    click.echo(issued.password)


def _action(name: str, help_text: str) -> None:
    @click.argument("instance_id", type=int)
    @AS
    @command
    def run(instance_id: int, as_user: str | None) -> None:
        req = cms_svc.instance_request(acting(as_user), action=name, instance_id=instance_id)
        console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)

    run.__doc__ = help_text
    cms.command(name)(run)


_action("suspend", "Suspend INSTANCE_ID: the site answers its suspended page, PHP and WP-cron stop.")
_action("unsuspend", "Unsuspend INSTANCE_ID.")
_action("delete", "Delete INSTANCE_ID: its files and a database dump are archived on the host, then the database goes.")


@cms.command("staging")
@click.argument("instance_id", type=int)
@click.option("--name", "fqdn", required=True, help="The staging copy's own name (a domain of the ministry).")
@AS
@command
def staging(instance_id: int, fqdn: str, as_user: str | None) -> None:
    """Ask for a staging copy of INSTANCE_ID on its own name: files and database copied, not
    indexed, behind WordPress's login; prints its own administrator's one-time password."""
    issued = cms_svc.staging_create(acting(as_user), instance_id=instance_id, fqdn=fqdn)
    req = issued.request
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)
    console.print(
        f"staging administrator {req.payload['admin_user']}, password (shown once, govhost keeps no copy):",
        markup=False,
    )
    click.echo(issued.password)


@cms.command("push")
@click.argument("instance_id", type=int)
@AS
@command
def push(instance_id: int, as_user: str | None) -> None:
    """Ask to push the staging copy INSTANCE_ID to its live site (snapshot of live first, rolled
    back when it does not answer well after)."""
    req = cms_svc.staging_push(acting(as_user), instance_id=instance_id)
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)


@cms.group("app-password")
def app_password() -> None:
    """App passwords (the Mobile App Platform): WordPress application passwords for named apps."""


@app_password.command("issue")
@click.argument("instance_id", type=int)
@click.option("--name", required=True, help="The app's name.")
@click.option("--role", type=click.Choice(rules.APP_ROLES), default=rules.APP_ROLES[0], help="Its WordPress role.")
@AS
@command
def app_password_issue(instance_id: int, name: str, role: str, as_user: str | None) -> None:
    """Ask for an app password of INSTANCE_ID; prints it once (it works once approved and set)."""
    issued = cms_svc.app_password_issue(acting(as_user), instance_id=instance_id, name=name, role=role)
    req = issued.request
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)
    console.print("app password (shown once, govhost keeps no copy):", markup=False)
    click.echo(issued.password)


@app_password.command("list")
@click.argument("instance_id", type=int)
@click.option("--page", default=1, type=int)
@AS
@command
def app_password_list(instance_id: int, page: int, as_user: str | None) -> None:
    """INSTANCE_ID's app passwords: the app, its WordPress login and role, the state."""
    result = cms_svc.app_password_list(acting(as_user), instance_id, page=page)
    table = Table("id", "app", "login", "role", "status")
    for r in result.items:
        table.add_row(str(r.id), r.name, r.wp_user, r.role, r.status.value)
    console.print(table)
    console.print(f"page {result.page} of {result.pages}, {result.total} app passwords")


@app_password.command("revoke")
@click.argument("app_password_id", type=int)
@AS
@command
def app_password_revoke(app_password_id: int, as_user: str | None) -> None:
    """Revoke an app password: the app gets 401 from then on."""
    req = cms_svc.app_password_revoke(acting(as_user), app_password_id)
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)


# The catalogue's and the updates' commands live in their own module (cms.cli_catalogue).
from panel.capabilities.cms import cli_catalogue  # noqa: E402

cli_catalogue.add_to(cms)
