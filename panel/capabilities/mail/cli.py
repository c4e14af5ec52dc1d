"""`govhost mail ...`: mail domains, mailboxes (batches from CSV), aliases, DNS status, mail hosts.

Passwords are read from a prompt or a CSV file, never from the command line (it shows in `ps`
and shell history).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from panel.capabilities.mail import moves
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.kinds import AliasPayload, MailboxesPayload, MailboxQuotaPayload, MailDomainPayload
from panel.capabilities.mail.rules import BATCH_COLUMNS, MAX_BATCH
from panel.cli.common import cli_actor, command, console, print_move, print_moves, print_page, print_swept, schema_type
from panel.errors import PanelError
from panel.services import auth as auth_svc
from panel.services import hosts as hosts_svc
from panel.services.tabular import read_table_lines

AS = click.option("--as", "as_user", default=None, help="Act as this user (their rights) instead of root's.")


def acting(as_user: str | None):
    return auth_svc.actor_by_username(as_user, surface="cli") if as_user else cli_actor()


def _asked(req) -> None:
    console.print(f"request #{req.id} ({req.kind}) {req.status.value}: {req.summary}", markup=False)


@click.group()
def mail() -> None:
    """Mail domains, mailboxes and aliases."""


@mail.command("domains")
@click.option("--page", default=1, type=int)
@AS
@command
def domains(page: int, as_user: str | None) -> None:
    """List mail domains."""
    result = mail_svc.mail_domain_list(acting(as_user), page=page)
    table = Table("id", "domain", "status", "forwarding", "on suspend", "DNS")
    for d in result.items:
        dns = ", ".join(f"{k}: {v}" for k, v in sorted(d.dns_status.items())) or "-"
        table.add_row(
            str(d.id),
            d.name,
            d.status.value,
            "external" if d.external_forwarding else "internal",
            d.on_suspend.value,
            dns,
        )
    print_page(table, result, "domains")


@mail.command("domain-add")
@click.argument("name", type=schema_type(MailDomainPayload, "name"))
@click.option("--org", "org_id", required=True, type=int, help="Ministry id.")
@click.option(
    "--contact",
    required=True,
    type=schema_type(MailDomainPayload, "contact"),
    help="Where postmaster@ and abuse@ deliver.",
)
@click.option("--external-forwarding/--no-external-forwarding", default=False)
@click.option("--on-suspend", type=click.Choice(["defer", "reject"]), default="defer")
@click.option(
    "--quota",
    "quota_mb",
    default=1024,
    type=schema_type(MailDomainPayload, "default_quota_mb"),
    help="Default mailbox size (MB).",
)
@click.option("--host", "host_id", type=int, default=None, help="Operators: place on this mail host.")
@click.option("--exceed-capacity", is_flag=True, help="Operators: place on --host even past its mailboxes capacity.")
@AS
@command
def domain_add(name, org_id, contact, external_forwarding, on_suspend, quota_mb, host_id, exceed_capacity, as_user):
    """Ask for mail for NAME (a verified domain of the ministry)."""
    _asked(
        mail_svc.mail_domain_create(
            acting(as_user),
            org_id=org_id,
            name=name,
            contact=contact,
            external_forwarding=external_forwarding,
            on_suspend=on_suspend,
            default_quota_mb=quota_mb,
            host_id=host_id,
            exceed_capacity=exceed_capacity,
        )
    )


@mail.command("dns-check")
@click.argument("domain")
@AS
@command
def dns_check(domain: str, as_user: str | None) -> None:
    """Ask the resolver for the domain's MX, SPF, DKIM and DMARC records."""
    a = acting(as_user)
    d = mail_svc.mail_domain_dns_check(a, domain_id=mail_svc.mail_domain_by_name(a, domain).id)
    for rec, status in sorted(d.dns_status.items()):
        console.print(f"{status:8} {rec}", markup=False)


@mail.command("move")
@click.argument("domain")
@click.option("--to", "to_host", default=None, help="Host name; default: the set-up mail host with the most room.")
@AS
@command
def move(domain: str, to_host: str | None, as_user: str | None) -> None:
    """Operators: move DOMAIN with its mailboxes to another mail host (copy, DNS switch, old host cleaned)."""
    a = acting(as_user)
    host_id = hosts_svc.host_find(a, to_host).id if to_host else None
    m = moves.mail_domain_move(a, domain_id=mail_svc.mail_domain_by_name(a, domain).id, host_id=host_id)
    print_move(m, f"domain {domain}")


@mail.command("moves")
@click.argument("domain")
@AS
@command
def moves_(domain: str, as_user: str | None) -> None:
    """A mail domain's moves, newest first."""
    a = acting(as_user)
    print_moves(moves.mail_domain_moves(a, mail_svc.mail_domain_by_name(a, domain).id))


@mail.command("mailboxes")
@click.argument("domain")
@click.option("--page", default=1, type=int)
@AS
@command
def mailboxes(domain: str, page: int, as_user: str | None) -> None:
    """List the mailboxes of DOMAIN with their use of quota."""
    a = acting(as_user)
    result = mail_svc.mailbox_list(a, domain_id=mail_svc.mail_domain_by_name(a, domain).id, page=page)
    table = Table("id", "address", "status", "used / quota (MB)")
    for m in result.items:
        table.add_row(str(m.id), m.address, m.status.value, f"{m.used_mb} / {m.quota_mb}")
    print_page(table, result, "mailboxes")


def _read_csv(path: Path) -> tuple[list[dict], list[int]]:
    return read_table_lines(path.read_text(encoding="utf-8"), BATCH_COLUMNS, field="csv", max_rows=MAX_BATCH)


@mail.command("create")
@click.argument("domain")
@click.argument("local_part", required=False, type=schema_type(MailboxesPayload, "local_parts[]"))
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Many mailboxes: lines of local_part,password[,display name] (one request, one job).",
)
@click.option(
    "--quota",
    "quota_mb",
    default=None,
    type=schema_type(MailboxesPayload, "quota_mb"),
    help="MB each (default: the domain's).",
)
@AS
@command
def create(domain, local_part, csv_file, quota_mb, as_user) -> None:
    """Create LOCAL_PART@DOMAIN (password prompted), or a batch from --csv."""
    a = acting(as_user)
    dom = mail_svc.mail_domain_by_name(a, domain)
    lines: list[int] = []
    if csv_file:
        boxes, lines = _read_csv(csv_file)
    elif local_part:
        boxes = [
            {"local_part": local_part, "password": click.prompt("Password", hide_input=True, confirmation_prompt=True)}
        ]
    else:
        raise click.UsageError("give LOCAL_PART or --csv FILE")
    try:
        _asked(mail_svc.mailbox_create(a, domain_id=dom.id, mailboxes=boxes, quota_mb=quota_mb))
    except PanelError as e:
        n = e.params.get("entry")
        if isinstance(n, int) and 1 <= n <= len(lines):  # name the line of the file, as the web does
            e.params["line"] = lines[n - 1]
            e.message = "Line {line}: " + e.message
        raise


@mail.command("password")
@click.argument("address")
@AS
@command
def password(address: str, as_user: str | None) -> None:
    """Set a new password for ADDRESS (prompted)."""
    a = acting(as_user)
    box = mail_svc.mailbox_by_address(a, address)
    secret = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _asked(mail_svc.mailbox_password_set(a, mailbox_id=box.id, password=secret))


@mail.command("quota")
@click.argument("address")
@click.argument("quota_mb", type=schema_type(MailboxQuotaPayload, "quota_mb"))
@AS
@command
def quota(address: str, quota_mb: int, as_user: str | None) -> None:
    """Change the size of ADDRESS's mailbox."""
    a = acting(as_user)
    _asked(mail_svc.mailbox_quota_set(a, mailbox_id=mail_svc.mailbox_by_address(a, address).id, quota_mb=quota_mb))


def _simple(name: str, fn, doc: str):
    @mail.command(name, help=doc)
    @click.argument("address")
    @AS
    @command
    def run(address: str, as_user: str | None) -> None:
        a = acting(as_user)
        _asked(fn(a, mailbox_id=mail_svc.mailbox_by_address(a, address).id))

    return run


suspend = _simple("suspend", mail_svc.mailbox_suspend, "Suspend ADDRESS: no login; mail deferred or rejected.")
unsuspend = _simple("unsuspend", mail_svc.mailbox_unsuspend, "Reactivate a suspended ADDRESS.")
delete = _simple("delete", mail_svc.mailbox_delete, "Delete ADDRESS (its mail is archived on the host).")


@mail.command("alias-add")
@click.argument("domain")
@click.argument("source", type=schema_type(AliasPayload, "source"))
@click.argument("destinations", nargs=-1, required=True, type=schema_type(AliasPayload, "destinations[]"))
@AS
@command
def alias_add(domain: str, source: str, destinations: tuple[str, ...], as_user: str | None) -> None:
    """SOURCE@DOMAIN delivers to DESTINATIONS (outside addresses only where the policy allows)."""
    a = acting(as_user)
    dom = mail_svc.mail_domain_by_name(a, domain)
    _asked(mail_svc.alias_create(a, domain_id=dom.id, source=source, destinations=list(destinations)))


@mail.command("alias-delete")
@click.argument("alias_id", type=int)
@AS
@command
def alias_delete(alias_id: int, as_user: str | None) -> None:
    """Remove an alias."""
    _asked(mail_svc.alias_delete(acting(as_user), alias_id=alias_id))


@mail.command("server-setup")
@click.argument("host_id", type=int)
@AS
@command
def server_setup(host_id: int, as_user: str | None) -> None:
    """(Re)build a mail host: postfix, dovecot, opendkim, TLS, webmail (data-center staff)."""
    job = mail_svc.mail_server_setup(acting(as_user), host_id=host_id)
    console.print(f"job #{job.id} {job.kind} {job.status.value}", markup=False)


@mail.command("usage")
@AS
@command
def usage(as_user: str | None) -> None:
    """Read mailbox usage from every mail host now: one job per host (what the schedule runs)."""
    jobs = mail_svc.mail_usage_collect(acting(as_user))
    print_swept(jobs, "usage")


@mail.command("ca")
@AS
@command
def ca(as_user: str | None) -> None:
    """Print the certificate of govhost's mail CA (users install it in their mail apps)."""
    sys.stdout.write(mail_svc.mail_ca_pem(acting(as_user)))
