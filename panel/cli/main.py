"""Entry point of the `govhost` command; each domain adds its group here."""

from __future__ import annotations

import click

from panel.cli import db as db_cli
from panel.cli import serve as serve_cli


@click.group()
@click.option("--config", "-c", envvar="GOVHOST_CONFIG", default="config.yaml", show_default=True,
              help="Path of the YAML configuration.")
@click.pass_context
def cli(ctx: click.Context, config: str) -> None:
    """govhost: the government data center's hosting panel."""
    ctx.ensure_object(dict)["config"] = config


cli.add_command(db_cli.db)
cli.add_command(serve_cli.setup)
cli.add_command(serve_cli.serve)


def main() -> None:
    cli(prog_name="govhost")


if __name__ == "__main__":
    main()
