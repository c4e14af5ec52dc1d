"""`govhost databases ...`: tenant databases, their users and privileges, DB servers.

Passwords are generated and printed once, or read from a prompt: never from the command line (it
shows in `ps` and shell history).
"""

from __future__ import annotations

import click
from rich.table import Table

from panel.capabilities.databases import rules
from panel.capabilities.databases import service as db_svc
from panel.cli.common import cli_actor, command, console, print_page
from panel.services import auth as auth_svc

AS = click.option("--as", "as_user", default=None, help="Act as this user (their rights) instead of root's.")


def acting(as_user: str | None):
    return auth_svc.actor_by_username(as_user, surface="cli") if as_user else cli_actor()


def _asked(req) -> None:
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)


def _issued(issued) -> None:
    _asked(issued.request)
    if issued.password is not None:
        console.print("password (shown once, govhost keeps no copy):", markup=False)
        click.echo(issued.password)


def _password(ask: bool) -> str | None:
    return click.prompt("Password", hide_input=True, confirmation_prompt=True) if ask else None


@click.group()
def databases() -> None:
    """Tenant databases (MariaDB, PostgreSQL) and their users."""


@databases.command("list")
@click.option("--page", default=1, type=int)
@AS
@command
def list_(page: int, as_user: str | None) -> None:
    """List databases."""
    result = db_svc.database_list(acting(as_user), page=page)
    table = Table("id", "name", "engine", "status", "used / budget MB")
    for d in result.items:
        table.add_row(str(d.id), d.name, d.engine.value, d.status.value, f"{d.used_mb} / {d.size_mb}")
    print_page(table, result, "databases")


@databases.command("create")
@click.argument("name")
@click.option("--org", "org_id", required=True, type=int, help="Ministry id.")
@click.option("--engine", type=click.Choice(rules.ENGINES), default="mariadb")
@click.option("--size", "size_mb", type=int, default=None, help="Size budget (MB).")
@click.option("--connections", "conn_limit", type=int, default=None)
@click.option("--host", "host_id", type=int, default=None, help="Host id (staff only).")
@AS
@command
def create(name, org_id, engine, size_mb, conn_limit, host_id, as_user) -> None:
    """Ask for a database NAME (the ministry's prefix is added)."""
    _asked(
        db_svc.database_create(
            acting(as_user),
            org_id=org_id,
            engine=engine,
            name=name,
            size_mb=size_mb,
            conn_limit=conn_limit,
            host_id=host_id,
        )
    )


@databases.command("delete")
@click.argument("name")
@AS
@command
def delete(name, as_user) -> None:
    """Ask to delete the database NAME (its full name)."""
    a = acting(as_user)
    _asked(db_svc.database_delete(a, database_id=db_svc.database_by_name(a, name).id))


@databases.command("link")
@click.argument("database")
@click.argument("site_id", type=int)
@click.option("--remove", is_flag=True, help="The site no longer uses the database.")
@AS
@command
def link(database, site_id, remove, as_user) -> None:
    """The site SITE_ID uses DATABASE: its web host may connect (no other address by default)."""
    a = acting(as_user)
    dbrow = db_svc.database_by_name(a, database)
    _asked(db_svc.database_link_set(a, database_id=dbrow.id, workload_id=site_id, linked=not remove))


@databases.command("links")
@click.argument("database")
@AS
@command
def links(database, as_user) -> None:
    """The sites that use DATABASE (their web hosts may connect)."""
    a = acting(as_user)
    table = Table("kind", "id", "name")
    for ln in db_svc.database_links(a, db_svc.database_by_name(a, database).id):
        table.add_row(ln.kind, str(ln.workload_id), ln.name or "(gone)")
    console.print(table)


@databases.command("remote-add")
@click.argument("database")
@click.argument("cidr")
@click.option("--reason", required=True, help="Why (one line).")
@click.option("--until", "expires_at", required=True, help="Expiry: a date (2027-01-31) or ISO date-time.")
@AS
@command
def remote_add(database, cidr, reason, expires_at, as_user) -> None:
    """Ask for access to DATABASE from the network CIDR (TLS required) until a date."""
    a = acting(as_user)
    dbrow = db_svc.database_by_name(a, database)
    _asked(db_svc.db_remote_request(a, database_id=dbrow.id, cidr=cidr, reason=reason, expires_at=expires_at))


@databases.command("remote")
@click.argument("database")
@AS
@command
def remote(database, as_user) -> None:
    """Remote access to DATABASE (newest first)."""
    a = acting(as_user)
    table = Table("id", "network", "until", "status", "reason")
    for r in db_svc.db_remote_list(a, db_svc.database_by_name(a, database).id):
        table.add_row(str(r.id), r.cidr, r.expires_at.isoformat(timespec="minutes"), r.status.value, r.reason)
    console.print(table)


@databases.command("remote-revoke")
@click.argument("database")
@click.argument("access_id", type=int)
@AS
@command
def remote_revoke(database, access_id, as_user) -> None:
    """End remote access ACCESS_ID (its id in 'databases remote') to DATABASE before its expiry."""
    a = acting(as_user)
    _asked(db_svc.db_remote_revoke(a, database_id=db_svc.database_by_name(a, database).id, access_id=access_id))


@databases.command("users")
@click.argument("database")
@AS
@command
def users(database, as_user) -> None:
    """List the users of the database DATABASE (its full name)."""
    a = acting(as_user)
    dbrow = db_svc.database_by_name(a, database)
    table = Table("id", "user", "status", "privileges")
    for u in db_svc.db_user_list(a, database_id=dbrow.id, per_page=200).items:
        table.add_row(
            str(u.id), u.name, u.status.value, ", ".join(g.profile.value for g in u.grants if g.database_id == dbrow.id)
        )
    console.print(table)


@databases.command("user-add")
@click.argument("database")
@click.argument("name")
@click.option("--profile", type=click.Choice(rules.PROFILES), default="owner")
@click.option("--ask-password", is_flag=True, help="Type the password (else govhost makes one and prints it once).")
@AS
@command
def user_add(database, name, profile, ask_password, as_user) -> None:
    """Ask for a user NAME with PROFILE on DATABASE (its full name)."""
    a = acting(as_user)
    dbrow = db_svc.database_by_name(a, database)
    _issued(
        db_svc.db_user_create(a, database_id=dbrow.id, name=name, profile=profile, password=_password(ask_password))
    )


@databases.command("user-password")
@click.argument("user")
@click.option("--ask-password", is_flag=True, help="Type the password (else govhost makes one and prints it once).")
@AS
@command
def user_password(user, ask_password, as_user) -> None:
    """Ask for a new password for USER (its full name)."""
    a = acting(as_user)
    u = db_svc.db_user_by_name(a, user)
    _issued(db_svc.db_user_password_reset(a, user_id=u.id, password=_password(ask_password)))


@databases.command("console")
@click.argument("user")
@AS
@command
def console_open(user, as_user) -> None:
    """Open the web console (phpMyAdmin or Adminer) as USER (its full name) for a few minutes. The
    last line is the sign-on link: single-use, it works once the job has succeeded."""
    a = acting(as_user)
    u = db_svc.db_user_by_name(a, user)
    opened = db_svc.db_console_open(a, user_id=u.id)
    c = opened.console
    console.print(
        f"console #{c.id} for {u.name}: job #{opened.job.id}; ends {c.expires_at:%Y-%m-%d %H:%M} UTC", markup=False
    )
    console.print("sign-on link (single-use; open it once the job has succeeded):", markup=False)
    click.echo(f"{opened.url}?ticket={opened.ticket}")


@databases.command("grant")
@click.argument("user")
@click.argument("database")
@click.argument("profile", type=click.Choice([*rules.PROFILES, "none"]))
@AS
@command
def grant(user, database, profile, as_user) -> None:
    """Give USER the PROFILE on DATABASE (none: revoke)."""
    a = acting(as_user)
    u, dbrow = db_svc.db_user_by_name(a, user), db_svc.database_by_name(a, database)
    _asked(db_svc.db_grant_set(a, user_id=u.id, database_id=dbrow.id, profile=profile))


@databases.command("user-delete")
@click.argument("user")
@AS
@command
def user_delete(user, as_user) -> None:
    """Ask to delete USER (its full name)."""
    a = acting(as_user)
    _asked(db_svc.db_user_delete(a, user_id=db_svc.db_user_by_name(a, user).id))


@databases.command("server-setup")
@click.argument("host_id", type=int)
@click.option("--engine", "engines", multiple=True, type=click.Choice(rules.ENGINES), default=("mariadb",))
@AS
@command
def server_setup(host_id, engines, as_user) -> None:
    """Install or repair the engines on DB host HOST_ID (data-center staff)."""
    job = db_svc.db_server_setup(acting(as_user), host_id=host_id, engines=list(engines))
    console.print(f"job #{job.id} ({job.kind}) {job.status.value}", markup=False)


def _drift_table(drifts) -> None:
    for d in drifts:
        when = f"checked {d.checked_at} UTC, job #{d.job_id}" if d.checked_at else "not checked yet"
        head = f"{d.host} (host {d.host_id}, {', '.join(d.engines)}): {when}: {d.count} difference(s)"
        console.print(head, markup=False)
        if d.count:
            table = Table("engine", "difference", "name", "where", "detail")
            for engine, f in d.found.items():
                for i in f["items"]:
                    table.add_row(engine, i["kind"], i["name"], i["where"], i["detail"])
            console.print(table)


@databases.command("drift")
@click.option("--host", "host_id", type=int, default=None, help="Only this DB host.")
@AS
@command
def drift(host_id, as_user) -> None:
    """Show each DB host's last drift check against the catalog (data-center staff)."""
    _drift_table(db_svc.db_drift_list(acting(as_user), host_id=host_id))


@databases.command("drift-check")
@click.option("--host", "host_id", type=int, default=None, help="Only this DB host (else every usable one).")
@AS
@command
def drift_check(host_id, as_user) -> None:
    """Submit drift check jobs; 'databases drift' shows what they found once they ran."""
    for job in db_svc.db_drift_check(acting(as_user), host_id=host_id):
        console.print(f"job #{job.id} ({job.kind}) {job.status.value}", markup=False)


@databases.command("drift-repair")
@click.argument("host_id", type=int)
@AS
@command
def drift_repair(host_id, as_user) -> None:
    """Repair DB host HOST_ID: its tenant users, grants and access become what the catalog says."""
    job = db_svc.db_drift_repair(acting(as_user), host_id=host_id)
    console.print(f"job #{job.id} ({job.kind}) {job.status.value}", markup=False)
