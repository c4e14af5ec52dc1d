"""`govhost soc ...`: feed destinations, their health, the shipper process, the event schema."""

from __future__ import annotations

import json
import signal

import click
from rich.table import Table

from panel.capabilities.soc import catalogue, containment, hostguard, ship
from panel.capabilities.soc import service as svc
from panel.capabilities.soc.models import SocPendingAction
from panel.cli.common import command, console, settings_from
from panel.cli.users import acting, as_option


@click.group()
def soc() -> None:
    """The security operation center feed."""


@soc.command("destinations")
@as_option
@command
def destinations(as_user: str | None) -> None:
    """Destinations with their state and backlog."""
    head, items = svc.destination_health(acting(as_user))
    table = Table("id", "name", "transport", "target", "state", "delivered", "backlog", "last ok", "last error")
    for h in items:
        table.add_row(
            str(h.id),
            h.name,
            h.transport,
            h.target,
            h.state,
            str(h.delivered_seq),
            str(h.backlog),
            h.last_ok_at.isoformat(timespec="seconds") if h.last_ok_at else "-",
            h.last_error or "-",
        )
    console.print(table)
    console.print(f"audit chain head: {head}", markup=False)


_transport = click.Choice(["syslog_tls", "syslog_tcp", "https_json", "file"])


@soc.command("add")
@click.argument("name")
@click.option("--transport", type=_transport, required=True)
@click.option("--target", required=True, help="host:port (syslog), https:// URL, or an absolute file path.")
@click.option("--ca-file", default="", help="PEM CA bundle to verify the receiver (default: the system's).")
@click.option("--client-cert", default="", help="PEM client certificate (mutual TLS).")
@click.option("--client-key", default="", help="PEM key of the client certificate.")
@click.option("--server-name", default="", help="TLS name to verify, if not the target's host.")
@click.option(
    "--auth-header-env", default="", metavar="VAR", help="Environment variable holding the HTTP Authorization value."
)
@click.option("--batch-size", type=click.IntRange(1, svc.BATCH_MAX), default=200, show_default=True)
@click.option("--start", type=click.Choice(["now", "all"]), default="now", show_default=True,
              help="Send entries from now on, or the whole chain.")  # fmt: skip
@as_option
@command
def add(
    name, transport, target, ca_file, client_cert, client_key, server_name, auth_header_env, batch_size, start, as_user
):
    """Add destination NAME."""
    import os

    auth = os.environ.get(auth_header_env, "") if auth_header_env else ""
    data = svc.DestinationIn(
        name, transport, target, ca_file, client_cert, client_key, server_name, auth, batch_size, True, start
    )
    dest = svc.destination_create(acting(as_user), data=data)
    console.print(
        f"destination {dest.id} ({dest.name}) added; it receives entries after {dest.delivered_seq}", markup=False
    )


@soc.command("remove")
@click.argument("dest_id", type=int)
@as_option
@command
def remove(dest_id: int, as_user: str | None) -> None:
    """Remove destination DEST_ID."""
    dest = svc.destination_delete(acting(as_user), dest_id)
    console.print(f"destination {dest.name} removed", markup=False)


@soc.command("rewind")
@click.argument("dest_id", type=int)
@click.argument("seq", type=int)
@as_option
@command
def rewind(dest_id: int, seq: int, as_user: str | None) -> None:
    """Send DEST_ID everything again from chain entry SEQ on."""
    dest = svc.destination_rewind(acting(as_user), dest_id, seq=seq)
    console.print(f"destination {dest.name} sends again from entry {dest.delivered_seq + 1}", markup=False)


@soc.command("events")
@click.option("--after", type=click.IntRange(0), default=0, help="Events after this sequence number, oldest first.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@as_option
@command
def events(after: int, limit: int, as_user: str | None) -> None:
    """Feed events as JSON lines, exactly as a destination receives them."""
    for e in svc.events_recent(acting(as_user), after=after, limit=limit):
        click.echo(json.dumps(e, ensure_ascii=False, separators=(",", ":")))


@soc.command("schema")
def schema() -> None:
    """The JSON schema every event validates against."""
    click.echo(json.dumps(catalogue.schema(), indent=2))


@soc.command("ship")
@click.option("--once", is_flag=True, help="Send every destination its backlog, then exit (status 1 if one failed).")
@click.pass_context
def ship_(ctx: click.Context, once: bool) -> None:
    """Run the shipper (beside the worker): sends the feed to every enabled destination until stopped."""
    settings_from(ctx)
    if once:
        failed = False
        _, items = svc.destination_health(acting(None))
        for h in items:
            if not h.enabled:
                continue
            try:
                n = ship.drain(h.id)
                console.print(f"{h.name}: {n} events sent", markup=False)
            except ship.SendError as e:
                failed = True
                console.print(f"{h.name}: {e}", markup=False)
        raise SystemExit(1 if failed else 0)
    shipper = ship.Shipper()
    signal.signal(signal.SIGTERM, lambda *_: shipper.stop())
    try:
        shipper.run()
    except KeyboardInterrupt:
        shipper.stop()


@soc.command("lock-user")
@click.argument("user_id", type=int)
@click.option("--reason", required=True, help="Why (the ministry's admins are told).")
@as_option
@command
def lock_user(user_id: int, reason: str, as_user: str | None) -> None:
    """Containment: lock account USER_ID."""
    user = containment.contain_user_lock(acting(as_user), user_id=user_id, reason=reason)
    if not _said(user):
        console.print(f"user {user.username} locked", markup=False)


@soc.command("revoke-token")
@click.argument("token_id", type=int)
@click.option("--reason", required=True, help="Why (the ministry's admins are told).")
@as_option
@command
def revoke_token(token_id: int, reason: str, as_user: str | None) -> None:
    """Containment: revoke API token TOKEN_ID."""
    token = containment.contain_token_revoke(acting(as_user), token_id=token_id, reason=reason)
    if not _said(token):
        console.print(f"token {token.id} revoked", markup=False)


@soc.command("suspend")
@click.argument("kind")
@click.option("--org", "org_id", type=int, required=True, help="The ministry that owns it.")
@click.option("--payload", required=True, help='The kind\'s payload as JSON, e.g. {"site_id": 5}.')
@click.option("--reason", required=True, help="Why (shown in the ministry's request list).")
@as_option
@command
def suspend(kind: str, org_id: int, payload: str, reason: str, as_user: str | None) -> None:
    """Containment: suspend with request KIND (sites.site_suspend, mail.mailbox_suspend...)."""
    try:
        body = json.loads(payload)
    except ValueError:
        raise click.BadParameter("not JSON", param_hint="--payload") from None
    req = containment.contain_suspend(acting(as_user), kind=kind, org_id=org_id, payload=body, reason=reason)
    if not _said(req):
        console.print(f"request {req.id} ({kind}) {req.status.value}", markup=False)


@soc.command("block")
@click.argument("address")
@click.option("--reason", required=True, help="Why (recorded in the audit log and the feed).")
@click.option("--host", "host_ids", type=int, multiple=True, help="A host id (repeat); none: every protected host.")
@click.option("--minutes", type=int, default=0, show_default=True, help="How long; 0: until unblocked.")
@click.option("--unblock", is_flag=True, help="Remove the block instead.")
@as_option
@command
def block(address: str, reason: str, host_ids: tuple[int, ...], minutes: int, unblock: bool, as_user: str | None):
    """Containment: block ADDRESS (an IPv4/IPv6 address or network) on managed hosts with nftables."""
    done = containment.contain_address_block(
        acting(as_user), address=address, reason=reason, host_ids=list(host_ids), minutes=minutes, unblock=unblock
    )
    if not _said(done):
        console.print(f"job {done.id} ({done.kind}) {done.status.value}", markup=False)


def _said(done) -> bool:
    """Four-eyes: say the action waits for a second approver (True), or nothing (False)."""
    if not isinstance(done, SocPendingAction):
        return False
    console.print(
        f"held for a second approver: pending action {done.id} ({done.action}); "
        f"another SOC user or DC admin runs `govhost soc approve {done.id}`",
        markup=False,
    )
    return True


@soc.command("pending")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected", "all"]), default="pending")
@as_option
@command
def pending(status: str, as_user: str | None) -> None:
    """Containment actions held for a second approver (four-eyes)."""
    for p in containment.pending_list(acting(as_user), status="" if status == "all" else status):
        params = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(p.params.items()))
        decided = f" -> {p.status.value} by {p.decided_by}: {p.outcome or '-'}" if p.decided_by else ""
        console.print(
            f"{p.id}  {p.action}  {params}  asked by {p.requested_by} at "
            f"{p.created_at.isoformat(timespec='seconds')}: {p.reason}{decided}",
            markup=False,
            highlight=False,
        )


@soc.command("approve")
@click.argument("pending_id", type=int)
@as_option
@command
def approve(pending_id: int, as_user: str | None) -> None:
    """Approve held containment action PENDING_ID (not your own): it runs now."""
    done = containment.contain_approve(acting(as_user), pending_id)
    console.print(f"pending action {done.id} ({done.action}) approved: {done.outcome}", markup=False)


@soc.command("reject")
@click.argument("pending_id", type=int)
@click.option("--reason", default="", help="Why (recorded in the audit log).")
@as_option
@command
def reject(pending_id: int, reason: str, as_user: str | None) -> None:
    """Refuse held containment action PENDING_ID (or withdraw your own): nothing runs."""
    done = containment.contain_reject(acting(as_user), pending_id, reason=reason)
    console.print(f"pending action {done.id} ({done.action}) rejected", markup=False)


@soc.command("protect")
@click.argument("host_ids", type=int, nargs=-1, required=True)
@click.option("--ignore", "ignoreip", multiple=True, help="An address or network fail2ban never bans (repeat).")
@as_option
@command
def protect(host_ids: tuple[int, ...], ignoreip: tuple[str, ...], as_user: str | None) -> None:
    """Install the fail2ban jails and the block table on hosts HOST_IDS (DC staff)."""
    job = hostguard.hosts_protect(acting(as_user), host_ids=list(host_ids), ignoreip=list(ignoreip))
    console.print(f"job {job.id} ({job.kind}) {job.status.value}", markup=False)


@soc.command("bans")
@as_option
@command
def bans(as_user: str | None) -> None:
    """Read the protected hosts' fail2ban bans now (the schedule does it every few minutes)."""
    console.print(hostguard.bans_collect(acting(as_user)).report(), markup=False)
