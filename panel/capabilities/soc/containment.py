"""Containment actions of the security operation center: lock a user, revoke a token, suspend a
service (any enabled capability's `*_suspend` request kind: a website, a mailbox), block an address
on managed hosts (govhost's nftables table, installed with the fail2ban role).

Only SOC staff (and DC admins) may; a read-only token may not. Each action states a reason, is one
`soc.contain` audit entry (so a feed event), runs through the same core services as any other change
(acting with admin rights for that one call, under the SOC user's own name in the audit log), and
notifies the ministry's administrators with the reason. A suspension is a request in the ministry's
request list, carrying the reason as its first comment, approved as its kind's policy says.

Four-eyes: the actions named in the setting `soc.four_eyes` (by default `address_block`) are checked
and then held as a pending action (`soc.contain_requested`); a second SOC user or DC admin, never the
one who asked, approves it (`soc.contain_approved`, then the action runs under the approver's name
with both names in its `soc.contain` entry) or rejects it (`soc.contain_rejected`; the requester may
withdraw their own).
"""

from __future__ import annotations

import dataclasses
import ipaddress

from sqlalchemy import select

from panel import db
from panel.boot import current as current_settings
from panel.capabilities.soc.hostguard import protected_host_ids
from panel.capabilities.soc.kinds import REASON_MAX
from panel.capabilities.soc.models import PendingStatus, SocPendingAction
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.requests import Request
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import ApiToken, User
from panel.services import jobs as jobs_svc
from panel.services import request_kinds
from panel.services import requests as requests_svc
from panel.services import tokens as tokens_svc
from panel.services import users as users_svc
from panel.services.actor import Actor, refuse_read_token
from panel.services.audit import append
from panel.services.notifications import notify
from panel.services.request_kinds import N_
from panel.services.users import db_id

NOTICE = N_("Security operation center: {what}. Reason: {reason}")


def _acting(actor: Actor) -> Actor:
    """The SOC user, with admin rights for this one call (named as themselves in the audit log)."""
    if not actor.has_staff(Role.SOC, Role.ADMIN):
        raise Forbidden("soc.forbidden", "Only the security operation center takes containment actions.")
    refuse_read_token(actor)
    return dataclasses.replace(actor, staff_roles=frozenset({Role.ADMIN}))


def _reason(reason) -> str:
    text = " ".join(str(reason or "").split())
    if not text or len(text) > REASON_MAX:
        raise Invalid("soc.reason_invalid", "Give the reason (1 to {max} characters).", field="reason", max=REASON_MAX)
    return text


def _org_admins(org_id: int | None) -> list[int]:
    if org_id is None:
        return []
    return list(
        db.session().scalars(
            select(Membership.user_id).where(Membership.org_id == org_id, Membership.role == Role.ORG_ADMIN)
        )
    )


def _record(
    actor: Actor, action: str, object_type: str, object_id, org_id, reason: str, link: str = "", held=None
) -> None:
    s = db.session()
    summary = {"action": action, "reason": reason}
    if held is not None:  # four-eyes: who asked, beside the approver who acts
        summary.update(requested_by=held.requested_by, approved_by=actor.username, pending_id=held.id)
    append(actor, "soc.contain", object_type=object_type, object_id=object_id, org_id=org_id, summary=summary)
    what = f"{action} {object_type} {object_id}"
    notify(
        s,
        _org_admins(org_id),
        kind="soc.containment",
        subject=NOTICE,
        params={"what": what, "reason": reason},
        link=link,
        org_id=org_id,
    )


def _in_request_list(actor: Actor, kind: str, org_id, payload: dict, reason: str) -> str:
    """The action as a done request in the ministry's own list (the reason in its summary and as its
    first comment, as a suspension's); the link the notification points to."""
    if org_id is None:  # a user of no organization: nobody's list to show it in
        return ""
    req = requests_svc.request_record(
        _acting(actor), kind=kind, org_id=org_id, payload=payload, comment=f"Security operation center: {reason}"
    )
    return f"/requests/{req.id}"


def _user(s, user_id) -> User:
    target = s.get(User, user_id) if db_id(user_id) else None
    if target is None:
        raise NotFound("user.not_found", "Not found.", id=str(user_id)[:64])
    return target


def _token(s, token_id) -> ApiToken:
    token = s.get(ApiToken, token_id) if db_id(token_id) else None
    if token is None:
        raise NotFound("token.not_found", "Not found.", id=str(token_id)[:64])
    return token


def contain_user_lock(actor: Actor, *, user_id, reason: str) -> User | SocPendingAction:
    """Deactivate the account (its sessions end, its tokens stop working) until an admin reactivates it."""
    _acting(actor)
    reason = _reason(reason)
    with db.unit_of_work() as s:
        params = {"user_id": _user(s, user_id).id}
    return _contain(actor, "user_lock", params, reason)


def _user_lock(actor: Actor, params: dict, reason: str, held=None) -> User:
    with db.unit_of_work() as s:
        target = _user(s, params["user_id"])
        org_id = next((m.org_id for m in target.memberships), None)
        user = users_svc.user_deactivate(_acting(actor), target.id)
        payload = {"user_id": user.id, "username": user.username, "reason": reason}
        link = _in_request_list(actor, "soc.user_lock", org_id, payload, reason)
        _record(actor, "user_lock", "user", user.id, org_id, reason, link=link, held=held)
        return user


def contain_token_revoke(actor: Actor, *, token_id, reason: str) -> ApiToken | SocPendingAction:
    _acting(actor)
    reason = _reason(reason)
    with db.unit_of_work() as s:
        params = {"token_id": _token(s, token_id).id}
    return _contain(actor, "token_revoke", params, reason)


def _token_revoke(actor: Actor, params: dict, reason: str, held=None) -> ApiToken:
    with db.unit_of_work() as s:
        token = _token(s, params["token_id"])
        owner = s.get(User, token.user_id)
        org_id = next((m.org_id for m in owner.memberships), None) if owner else None
        token = tokens_svc.token_revoke(_acting(actor), token.id)
        payload = {
            "token_id": token.id,
            "token_name": token.name,
            "prefix": token.prefix,
            "username": owner.username if owner else "",
            "reason": reason,
        }
        link = _in_request_list(actor, "soc.token_revoke", org_id, payload, reason)
        _record(actor, "token_revoke", "token", token.id, org_id, reason, link=link, held=held)
        return token


def suspend_kinds() -> list[str]:
    """The enabled capabilities' suspension request kinds (sites.site_suspend, mail.mailbox_suspend...)."""
    return sorted(k for k in request_kinds.names() if k.rpartition(".")[2].endswith("_suspend"))


def contain_suspend(actor: Actor, *, kind: str, org_id, payload: dict, reason: str) -> Request | SocPendingAction:
    """A suspension request filed by the SOC in the ministry's name, with the reason as its comment."""
    _acting(actor)
    reason = _reason(reason)
    if kind not in suspend_kinds():
        raise Invalid(
            "soc.kind_invalid", "Choose one of: {kinds}.", field="kind", kinds=", ".join(suspend_kinds()) or "-"
        )
    if not isinstance(payload, dict):
        raise Invalid("soc.payload_invalid", "The payload is an object.", field="payload")
    if not db_id(org_id):
        raise Invalid("soc.org_invalid", "Name the ministry by its id.", field="org_id")
    return _contain(actor, "suspend", {"kind": kind, "org_id": int(org_id), "payload": payload}, reason)


def _suspend(actor: Actor, params: dict, reason: str, held=None) -> Request:
    acting, kind = _acting(actor), params["kind"]
    with db.unit_of_work():
        req = requests_svc.request_create(acting, kind=kind, org_id=params["org_id"], payload=params["payload"])
        requests_svc.request_comment(acting, req.id, body=f"Security operation center: {reason}")
        _record(actor, kind, "request", req.id, req.org_id, reason, link=f"/requests/{req.id}", held=held)
        return req


def contain_suspend_object(actor: Actor, *, kind: str, org_id, object_id, reason: str) -> Request | SocPendingAction:
    """contain_suspend for a kind whose payload names one object: `<noun>_suspend` takes `<noun>_id`."""
    noun = kind.rpartition(".")[2].removesuffix("_suspend")
    return contain_suspend(actor, kind=kind, org_id=org_id, payload={f"{noun}_id": object_id}, reason=reason)


MIN_PREFIX = {4: 16, 6: 48}  # the widest network one block may cover
MAX_BLOCK_MINUTES = 60 * 24 * 365


def _blockable(address) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        net = ipaddress.ip_network(str(address or "").strip(), strict=True)
    except ValueError:
        raise Invalid("soc.address_invalid", "Give an IPv4 or IPv6 address or network.", field="address") from None
    if net.is_loopback or net.is_unspecified or net.is_multicast or net.is_link_local:
        raise Invalid("soc.address_invalid", "Loopback, link-local and multicast addresses are never blocked.",
                      field="address")  # fmt: skip
    if net.prefixlen < MIN_PREFIX[net.version]:
        raise Invalid("soc.address_too_wide", "Block at most a /{min} network.", field="address",
                      min=MIN_PREFIX[net.version])  # fmt: skip
    return net


def contain_address_block(
    actor: Actor, *, address, reason: str, host_ids=None, minutes: int = 0, unblock: bool = False
) -> Job | SocPendingAction:
    """Block (or unblock) an address on managed hosts (the given ones, or every host protected by the
    fail2ban role): one soc.address_block job. A managed host's own address is refused, so the
    panel never cuts itself off from a host."""
    _acting(actor)
    reason = _reason(reason)
    net = _blockable(address)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= MAX_BLOCK_MINUTES:
        raise Invalid("soc.minutes_invalid", "Minutes: a whole number from 0 (no end) to {max}.", field="minutes",
                      max=MAX_BLOCK_MINUTES)  # fmt: skip
    with db.unit_of_work() as s:
        hosts = _block_hosts(s, host_ids, net)
    params = {"address": str(net), "host_ids": [h.id for h in hosts], "minutes": minutes}
    return _contain(actor, "address_unblock" if unblock else "address_block", params, reason)


def _block_hosts(s, host_ids, net) -> list[Host]:
    ids = protected_host_ids(s) if not host_ids else [int(h) for h in host_ids if db_id(h)]
    hosts = list(s.scalars(select(Host).where(Host.id.in_(ids)))) if ids else []
    if not hosts or len(hosts) != len(set(host_ids or ids)):
        raise Invalid("soc.hosts_invalid", "Name hosts protected by govhost's fail2ban role.", field="host_ids")
    for other in s.scalars(select(Host.address)):
        try:
            inside = ipaddress.ip_address(other) in net
        except ValueError:
            inside = False  # a host named by DNS name: its address is not known here
        if inside:
            raise Invalid("soc.address_managed", "{address} is (or holds) a managed host's address.",
                          field="address", address=str(net))  # fmt: skip
    return hosts


def _address_block(actor: Actor, params: dict, reason: str, held=None, unblock: bool = False) -> Job:
    net = _blockable(params["address"])
    with db.unit_of_work() as s:
        hosts = _block_hosts(s, params["host_ids"], net)  # checked again: hosts may have changed meanwhile
        job = jobs_svc.job_submit(
            _acting(actor),
            kind="soc.address_block",
            org_id=None,
            host_ids=[h.id for h in hosts],
            params={"addresses": [str(net)], "seconds": params["minutes"] * 60, "unblock": unblock},
        )
        what = "address_unblock" if unblock else "address_block"
        _record(actor, what, "address", str(net), None, reason, held=held)
        return job


def _address_unblock(actor: Actor, params: dict, reason: str, held=None) -> Job:
    return _address_block(actor, params, reason, held=held, unblock=True)


# ---- four-eyes ----------------------------------------------------------------------------------

ACTIONS = {
    "user_lock": _user_lock,
    "token_revoke": _token_revoke,
    "suspend": _suspend,
    "address_block": _address_block,
    "address_unblock": _address_unblock,
}
HELD_NOTICE = N_("Security operation center: {who} asks for {what} and needs a second approver. Reason: {reason}")


def four_eyes() -> frozenset[str]:
    """The containment actions held for a second approver (settings `soc.four_eyes`)."""
    return frozenset(current_settings().soc.four_eyes)


def _contain(actor: Actor, action: str, params: dict, reason: str):
    """Run the checked action now, or hold it for a second approver when the policy says."""
    if action not in four_eyes():
        return ACTIONS[action](actor, params, reason)
    with db.unit_of_work() as s:
        held = SocPendingAction(
            action=action, params=params, reason=reason, requested_by_id=actor.user_id, requested_by=actor.username
        )
        s.add(held)
        s.flush()
        append(
            actor,
            "soc.contain_requested",
            object_type="soc_pending",
            object_id=held.id,
            org_id=params.get("org_id"),
            summary={"action": action, "reason": reason, **_shown(params)},
        )
        notify(
            s,
            [u for u in _approvers(s) if u != actor.user_id],
            kind="soc.four_eyes",
            subject=HELD_NOTICE,
            params={"who": actor.username, "what": action, "reason": reason},
            link="/soc/",
        )
        return held


def _shown(params: dict) -> dict:
    """The parameters an audit summary shows (a suspension's payload as its object ids only)."""
    out = {k: v for k, v in params.items() if k != "payload"}
    if "payload" in params:
        out["payload"] = {k: v for k, v in params["payload"].items() if k.endswith("_id")}
    return out


def _approvers(s) -> list[int]:
    """Active SOC users and DC admins (the ones who may approve a held action)."""
    return list(
        s.scalars(
            select(Membership.user_id)
            .join(Organization, Organization.id == Membership.org_id)
            .join(User, User.id == Membership.user_id)
            .where(
                Organization.kind == OrgKind.DATACENTER,
                Membership.role.in_((Role.SOC, Role.ADMIN)),
                User.is_active.is_(True),
            )
            .distinct()
        )
    )


def _held(s, pending_id) -> SocPendingAction:
    held = s.get(SocPendingAction, pending_id, with_for_update=True) if db_id(pending_id) else None
    if held is None:
        raise NotFound("soc.pending_not_found", "Not found.", id=str(pending_id)[:64])
    if held.status != PendingStatus.PENDING:
        raise Conflict("soc.pending_decided", "This action was already {status}.", status=held.status.value)
    return held


def contain_approve(actor: Actor, pending_id):
    """A second SOC user or DC admin approves a held action: it runs now, under the approver's name
    (the requester named beside). The requester cannot approve their own."""
    _acting(actor)
    with db.unit_of_work() as s:
        held = _held(s, pending_id)
        if held.requested_by_id == actor.user_id:
            raise Forbidden(
                "soc.four_eyes_self", "A second person approves this: you asked for it, so you cannot approve it."
            )
        append(
            actor,
            "soc.contain_approved",
            object_type="soc_pending",
            object_id=held.id,
            org_id=held.params.get("org_id"),
            summary={"action": held.action, "requested_by": held.requested_by},
        )
        result = ACTIONS[held.action](actor, held.params, held.reason, held=held)
        held.move_to(PendingStatus.APPROVED)
        held.decided_by_id, held.decided_by = actor.user_id, actor.username
        held.decided_at = db.utcnow()
        held.outcome = f"{type(result).__name__.lower()} {result.id}"[:200]
        return held


def contain_reject(actor: Actor, pending_id, *, reason: str = ""):
    """Refuse a held action (a second person), or withdraw it (its requester); nothing runs."""
    _acting(actor)
    text = " ".join(str(reason or "").split())[:REASON_MAX]
    with db.unit_of_work() as s:
        held = _held(s, pending_id)
        held.move_to(PendingStatus.REJECTED)
        held.decided_by_id, held.decided_by = actor.user_id, actor.username
        held.decided_at, held.outcome = db.utcnow(), text[:200]
        append(
            actor,
            "soc.contain_rejected",
            object_type="soc_pending",
            object_id=held.id,
            org_id=held.params.get("org_id"),
            summary={"action": held.action, "requested_by": held.requested_by, "reason": text},
        )
        return held


def pending_list(actor: Actor, *, status: str = "pending", limit: int = 100) -> list[SocPendingAction]:
    """Held actions, newest first (SOC staff and DC admins)."""
    if not actor.has_staff(Role.SOC, Role.ADMIN):
        raise Forbidden("soc.forbidden", "Only the security operation center takes containment actions.")
    stmt = select(SocPendingAction).order_by(SocPendingAction.id.desc()).limit(max(1, min(int(limit), 500)))
    if status:
        stmt = stmt.where(SocPendingAction.status == PendingStatus(status))
    with db.unit_of_work() as s:
        return list(s.scalars(stmt))
