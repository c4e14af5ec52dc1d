"""`govhost secrets rotate|new-key`: the keys that seal secrets at rest."""

from __future__ import annotations

import click

from panel.cli.common import cli_actor, command, console
from panel.services import secrets as secrets_svc


@click.group()
def secrets() -> None:
    """Keys of the secrets stored encrypted (MultiFernet)."""


@secrets.command("new-key")
def new_key() -> None:
    """Print a new key. Put it FIRST in secret_keys, keep the old ones, then run `govhost secrets rotate`."""
    click.echo(secrets_svc.secrets_new_key())


@secrets.command("rotate")
@command
def rotate() -> None:
    """Re-encrypt every stored secret with the first key in secret_keys; then the old keys can go."""
    n = secrets_svc.secrets_rotate(cli_actor())
    console.print(f"re-encrypted {n} secrets with the first key; the other keys can now be removed")
