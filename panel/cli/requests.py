"""`govhost requests ...` and `govhost policies ...`: the request flow from the panel server.

Decisions need a named person (the four-eyes rule counts people): pass --as USERNAME.
"""

from __future__ import annotations

import json

import click
from rich.table import Table

from panel.cli.common import cli_actor, command, console, print_page
from panel.errors import Invalid
from panel.models.requests import ApprovalMode, RequestStatus
from panel.services import auth as auth_svc
from panel.services import policies as policies_svc
from panel.services import requests as requests_svc
from panel.services import users as users_svc
from panel.services.actor import Actor

as_option = click.option(
    "--as",
    "as_user",
    metavar="USERNAME",
    default=None,
    help="Act with this user's rights (and name) instead of the server's.",
)


def acting(as_user: str | None) -> Actor:
    return auth_svc.actor_by_username(as_user) if as_user else cli_actor()


def _value(text: str):
    return int(text) if text.strip().lstrip("-").isdigit() and len(text) < 19 else text


def build_payload(payload_json: str | None, sets: tuple[str, ...]) -> dict:
    """--payload '{"a": 1}' and/or --set a=1 (numbers become integers)."""
    try:
        payload = json.loads(payload_json) if payload_json else {}
    except json.JSONDecodeError:
        raise Invalid("request.payload_invalid", "--payload is not valid JSON.", field="payload") from None
    if not isinstance(payload, dict):
        raise Invalid("request.payload_invalid", "The payload must be an object of fields.", field="payload")
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Invalid("request.payload_invalid", "--set takes KEY=VALUE.", field="payload")
        payload[key.strip()] = _value(value)
    return payload


def _show(req) -> None:
    console.print(
        f"request #{req.id} {req.kind} [bold]{req.status.value}[/] org {req.org_id} "
        f"by {req.requester_name}: {req.summary}",
        highlight=False,
    )


@click.group()
def requests() -> None:
    """Requests: list, show, create, approve, reject, cancel, retry."""


@requests.command("list")
@click.option("--status", type=click.Choice([s.value for s in RequestStatus]), default=None)
@click.option("--kind", default=None)
@click.option("--queue", is_flag=True, help="The approvals queue (submitted requests).")
@click.option("--page", default=1, type=click.IntRange(min=1))
@as_option
@command
def list_(status, kind, queue, page, as_user) -> None:
    """List requests, newest first (50 a page)."""
    result = requests_svc.request_list(
        acting(as_user), page=page, per_page=50, status="submitted" if queue else status, kind=kind
    )
    table = Table("id", "kind", "org", "by", "status", "what")
    for r in result.items:
        table.add_row(str(r.id), r.kind, str(r.org_id), r.requester_name, r.status.value, r.summary)
    print_page(table, result, "requests")


@requests.command("show")
@click.argument("request_id", type=int)
@as_option
@command
def show(request_id: int, as_user) -> None:
    """A request with its preview: payload, budget impact, target host, decisions, comments."""
    p = requests_svc.request_preview(acting(as_user), request_id)
    _show(p.request)
    console.print(f"payload: {json.dumps(p.request.payload, ensure_ascii=False)}", highlight=False)
    console.print(
        f"approval: {p.mode.value} ({p.approvals_have} of {p.request.approvals_needed}); "
        f"target host: {p.target_host or '-'}",
        highlight=False,
    )
    for row in p.impact:
        mark = "" if row.ok else "  [red]over budget[/]"
        console.print(
            f"  {row.resource}: used {row.used} + asked {row.asked} = {row.after} of {row.limit}{mark}", highlight=False
        )
    for a in p.request.approvals:
        console.print(
            f"  {a.decision.value} by {a.approver_name} at {a.created_at:%Y-%m-%d %H:%M} {a.comment}", highlight=False
        )
    for c in p.request.comments:
        console.print(f"  comment by {c.author_name}: {c.body}", highlight=False)


@requests.command("create")
@click.argument("kind")
@click.option("--org", "org", default=None, metavar="SLUG|ID", help="Not needed for data-center kinds.")
@click.option("--payload", "payload_json", default=None, help="The payload as a JSON object.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="One payload field (repeatable).")
@click.option("--draft", is_flag=True, help="Keep it a draft instead of submitting it.")
@as_option
@command
def create(kind: str, org: str | None, payload_json: str | None, sets, draft: bool, as_user) -> None:
    """File a request of KIND, e.g. quota.change --set resource=sites --set new_limit=30 --set reason=..."""
    a = acting(as_user)
    org_id = users_svc.org_ref(a, org).id if org else None
    req = requests_svc.request_create(
        a, kind=kind, org_id=org_id, payload=build_payload(payload_json, sets), submit=not draft
    )
    _show(req)


@requests.command("approve")
@click.argument("request_id", type=int)
@click.option("--comment", default="")
@as_option
@command
def approve(request_id: int, comment: str, as_user) -> None:
    _show(requests_svc.request_approve(acting(as_user), request_id, comment=comment))


@requests.command("reject")
@click.argument("request_id", type=int)
@click.option("--comment", required=True, help="Why; the requester reads it.")
@as_option
@command
def reject(request_id: int, comment: str, as_user) -> None:
    _show(requests_svc.request_reject(acting(as_user), request_id, comment=comment))


@requests.command("cancel")
@click.argument("request_id", type=int)
@click.option("--comment", default="")
@as_option
@command
def cancel(request_id: int, comment: str, as_user) -> None:
    _show(requests_svc.request_cancel(acting(as_user), request_id, comment=comment))


@requests.command("retry")
@click.argument("request_id", type=int)
@as_option
@command
def retry(request_id: int, as_user) -> None:
    _show(requests_svc.request_retry(acting(as_user), request_id))


@requests.command("comment")
@click.argument("request_id", type=int)
@click.argument("body")
@as_option
@command
def comment(request_id: int, body: str, as_user) -> None:
    _show(requests_svc.request_comment(acting(as_user), request_id, body=body))


@click.group()
def policies() -> None:
    """Approval policies per request kind: auto, one or two (four-eyes)."""


@policies.command("list")
@as_option
@command
def policies_list(as_user) -> None:
    table = Table("kind", "mode", "set by")
    for p in policies_svc.policy_list(acting(as_user)):
        table.add_row(p.kind, p.mode.value, "(default)" if p.is_default else p.updated_by)
    console.print(table)


@policies.command("set")
@click.argument("kind")
@click.argument("mode", type=click.Choice([m.value for m in ApprovalMode]))
@as_option
@command
def policies_set(kind: str, mode: str, as_user) -> None:
    policies_svc.policy_set(acting(as_user), kind=kind, mode=mode)
    console.print(f"{kind}: {mode}", highlight=False)
