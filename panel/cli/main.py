"""Entry point of the `govhost` command: the core's groups, then each enabled capability's group."""

from __future__ import annotations

import click

from panel import capabilities
from panel.cli import audit as audit_cli
from panel.cli import bulk as bulk_cli
from panel.cli import db as db_cli
from panel.cli import demo as demo_cli
from panel.cli import hosts as hosts_cli
from panel.cli import jobs as jobs_cli
from panel.cli import lab as lab_cli
from panel.cli import orgs as orgs_cli
from panel.cli import quotas as quotas_cli
from panel.cli import requests as requests_cli
from panel.cli import secrets as secrets_cli
from panel.cli import serve as serve_cli
from panel.cli import tokens as tokens_cli
from panel.cli import users as users_cli


@click.group()
@click.option(
    "--config",
    "-c",
    envvar="GOVHOST_CONFIG",
    default="config.yaml",
    show_default=True,
    help="Path of the YAML configuration.",
)
@click.pass_context
def cli(ctx: click.Context, config: str) -> None:
    """govhost: the government data center's hosting panel."""
    obj = ctx.ensure_object(dict)
    obj["config"] = config
    # the enabled capabilities' own processes, which `serve --with-worker` starts beside the worker
    obj["daemons"] = capabilities.daemons()


cli.add_command(db_cli.db)
cli.add_command(hosts_cli.hosts)
cli.add_command(lab_cli.lab)
cli.add_command(demo_cli.demo)
cli.add_command(serve_cli.setup)
cli.add_command(serve_cli.serve)
cli.add_command(users_cli.users)
cli.add_command(requests_cli.requests)
cli.add_command(requests_cli.policies)
cli.add_command(quotas_cli.quotas)
cli.add_command(tokens_cli.tokens)
cli.add_command(orgs_cli.orgs)
cli.add_command(audit_cli.audit)
cli.add_command(secrets_cli.secrets)
cli.add_command(jobs_cli.jobs)
cli.add_command(jobs_cli.worker)
cli.add_command(bulk_cli.bulk)
capabilities.load()
for group in capabilities.cli_groups():
    cli.add_command(group)


def main() -> None:
    cli(prog_name="govhost")


if __name__ == "__main__":
    main()
