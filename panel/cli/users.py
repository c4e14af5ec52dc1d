"""`govhost users ...`: accounts and roles from the panel server. Secrets are printed once."""

from __future__ import annotations

import click
from rich.table import Table

from panel.cli.common import cli_actor, command, console, print_page
from panel.services import auth as auth_svc
from panel.services import users as users_svc
from panel.services.actor import Actor

ROLES = click.Choice(["webmaster", "org_admin", "operator", "admin", "auditor"])
as_option = click.option(
    "--as",
    "as_user",
    metavar="USERNAME",
    default=None,
    help="Act with this user's rights instead of the server's (root) rights.",
)


def acting(as_user: str | None) -> Actor:
    return auth_svc.actor_by_username(as_user) if as_user else cli_actor()


def _one_time(label: str, secret: str) -> None:
    console.print(f"{label}: [bold]{secret}[/]", highlight=False)
    console.print("[yellow]shown once; the user must choose a new password at the first login[/]")


@click.group()
def users() -> None:
    """Accounts, roles, password and two-factor resets."""


@users.command("create")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--full-name", default="")
@click.option("--org", "org", required=True, metavar="SLUG|ID", help="Organization of the first role.")
@click.option("--role", type=ROLES, required=True)
@as_option
@command
def create(username: str, email: str, full_name: str, org: str, role: str, as_user: str | None) -> None:
    """Create an account; prints its one-time password once."""
    a = acting(as_user)
    org_id = users_svc.org_ref(a, org).id
    user, one_time = users_svc.user_create(
        a, username=username, email=email, full_name=full_name, org_id=org_id, role=role
    )
    console.print(f"created user {user.username} (id {user.id})", highlight=False)
    _one_time("one-time password", one_time)


@users.command("list")
@click.option("--q", "q", default="", help="Search in username, name and e-mail.")
@click.option("--page", default=1, type=click.IntRange(min=1))
@as_option
@command
def list_(q: str, page: int, as_user: str | None) -> None:
    """List accounts (50 a page)."""
    result = users_svc.user_list(acting(as_user), page, 50, q=q)
    table = Table("id", "username", "full name", "roles", "2fa", "active")
    for u in result.items:
        roles = ", ".join(f"{m.role.value}@{m.org.slug}" for m in u.memberships)
        table.add_row(
            str(u.id), u.username, u.full_name, roles, "yes" if u.totp_enabled else "no", "yes" if u.is_active else "no"
        )
    print_page(table, result, "users")


def _user_id(a: Actor, username: str) -> int:
    return users_svc.user_by_name(a, username).id


@users.command("set-role")
@click.argument("username")
@click.option("--org", "org", required=True, metavar="SLUG|ID")
@click.option("--role", type=ROLES, required=True)
@as_option
@command
def set_role(username: str, org: str, role: str, as_user: str | None) -> None:
    """Give USERNAME a role in an organization (adds or changes the membership)."""
    a = acting(as_user)
    users_svc.user_set_role(a, _user_id(a, username), org_id=users_svc.org_ref(a, org).id, role=role)
    console.print(f"{username}: {role} in {org}", highlight=False)


@users.command("reset-password")
@click.argument("username")
@as_option
@command
def reset_password(username: str, as_user: str | None) -> None:
    """Set a new one-time password (printed once) and end the user's sessions."""
    a = acting(as_user)
    _user, one_time = users_svc.user_reset_password(a, _user_id(a, username))
    _one_time("one-time password", one_time)


@users.command("reset-2fa")
@click.argument("username")
@as_option
@command
def reset_2fa(username: str, as_user: str | None) -> None:
    """Remove the user's second factor (staff enrol again at the next login)."""
    a = acting(as_user)
    users_svc.user_reset_2fa(a, _user_id(a, username))
    console.print(f"{username}: two-factor login reset", highlight=False)


@users.command("end-sessions")
@click.argument("username")
@as_option
@command
def end_sessions(username: str, as_user: str | None) -> None:
    """Log USERNAME out everywhere: every web session ends (API tokens stay valid)."""
    a = acting(as_user)
    users_svc.user_sessions_end(a, a.user_id if a.username == username else _user_id(a, username))
    console.print(f"{username}: logged out everywhere", highlight=False)


@users.command("deactivate")
@click.argument("username")
@as_option
@command
def deactivate(username: str, as_user: str | None) -> None:
    """Stop the account: no login, no API tokens."""
    a = acting(as_user)
    users_svc.user_deactivate(a, _user_id(a, username))
    console.print(f"{username}: deactivated", highlight=False)
