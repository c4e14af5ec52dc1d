"""`govhost tokens ...`: API tokens of a user. The token is printed once."""

from __future__ import annotations

import click
from rich.table import Table

from panel.cli.common import command, console, print_page
from panel.cli.users import acting, as_option
from panel.services import tokens as tokens_svc
from panel.services import users as users_svc


@click.group()
def tokens() -> None:
    """API tokens: create, list, revoke."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True)
@click.option("--days", type=int, default=90, show_default=True)
@as_option
@command
def create(username: str, name: str, scope: str, days: int, as_user: str | None) -> None:
    """Create a token for USERNAME and print it once."""
    a = acting(as_user)
    user = users_svc.user_by_name(a, username)
    token, plaintext = tokens_svc.token_create(a, name=name, scope=scope, days=days, user_id=user.id)
    console.print(f"token {token.id} ({token.scope.value}, expires {token.expires_at:%Y-%m-%d}):", highlight=False)
    click.echo(plaintext)
    console.print("[yellow]shown once; govhost keeps only its hash[/]")


@tokens.command("list")
@click.option("--user", "username", default=None, help="Only this user's tokens (default: all).")
@click.option("--all", "show_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--page", default=1, type=click.IntRange(min=1))
@as_option
@command
def list_(username: str | None, show_revoked: bool, page: int, as_user: str | None) -> None:
    """List tokens (never their secret)."""
    a = acting(as_user)
    user_id = users_svc.user_by_name(a, username).id if username else (a.user_id if as_user else 0)
    result = tokens_svc.token_list(a, page, 50, user_id=user_id, include_revoked=show_revoked)
    table = Table("id", "user", "name", "prefix", "scope", "expires", "last used", "revoked")
    for t in result.items:
        table.add_row(
            str(t.id),
            t.user.username,
            t.name,
            t.prefix + "…",
            t.scope.value,
            f"{t.expires_at:%Y-%m-%d}",
            f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-",
            f"{t.revoked_at:%Y-%m-%d}" if t.revoked_at else "",
        )
    print_page(table, result, "tokens")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@as_option
@command
def revoke(token_id: int, as_user: str | None) -> None:
    """Revoke a token by its id."""
    tokens_svc.token_revoke(acting(as_user), token_id)
    console.print(f"token {token_id} revoked", highlight=False)
