"""Request kinds of the mail platform. Importing this module registers them (services.mail does).

mail_domain.create is approved by the data center; the mailbox and alias kinds are the ministry's
own business within its budget, so they default to `auto`. Approval writes the desired rows and
submits ONE job per request (a batch of 1,000 mailboxes is one job and one playbook run). Passwords
arrive as request secrets and are hashed right here, at validation: the request keeps only hashes.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from panel import db
from panel.boot import current as current_settings
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.mail import CAPACITY, MAIL_ROLE, rules
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail.models import (
    LIVE,
    AliasStatus,
    MailAlias,
    Mailbox,
    MailboxStatus,
    MailDomain,
    MailDomainStatus,
    MailMove,
)
from panel.errors import Conflict, Invalid, NotFound
from panel.models.hosts import Host, HostState, with_role
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MANAGER_ROLES, Organization
from panel.services import hosts as hosts_svc
from panel.services import jobs, moves, requests
from panel.services.actor import Actor
from panel.services.names import MAX_NAME, clean_hostname
from panel.services.pagination import MAX_ID
from panel.services.request_kinds import (
    N_,
    RequestKind,
    kinds_of,
    on_host_of,
    reject_unknown,
    require_int,
    rule_error,
    says,
    text,
)

# Unless a kind says otherwise: the ministry's managers ask (webmasters too, docs/security.md), the
# approval is automatic and the request runs on its mail domain's host.
_kind = kinds_of("mail", MANAGER_ROLES, default_policy=ApprovalMode.AUTO, place=on_host_of(MailDomain, "domain_id"))
MAILBOX_OPS = ("quota", "password", "suspend", "unsuspend", "delete")
MAX_ADDRESS = rules.MAX_LOCAL + 1 + MAX_NAME  # local@domain
MAX_DISPLAY_NAME = 200


# ---- payload schemas: the limits the web form, the API body and the CLI share ---------------------
# The rules (mail.rules, names.clean_hostname) still decide what a value means; a value past a schema
# limit fails with the rule's own key (rule_error), so every surface gets one answer.


def _id(**kw) -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID), **kw)


def _quota(description: str = "", **kw) -> fields.Integer:
    return fields.Integer(
        strict=True,
        validate=validate.Range(min=rules.MIN_QUOTA_MB, max=rules.MAX_QUOTA_MB),
        metadata=rule_error(
            "mail.quota_invalid",
            "A mailbox quota is a whole number of MB from {min} to {max}.",
            **({"description": description} if description else {}),
        ),
        **kw,
    )


def _local_part(**kw) -> fields.String:
    return fields.String(
        validate=text(min=1, max=rules.MAX_LOCAL),
        metadata=rule_error("mail.local_part_too_long", "The part before @ has at most {max} characters."),
        **kw,
    )


def _address() -> fields.String:
    return fields.String(
        validate=text(min=3, max=MAX_ADDRESS),
        metadata=rule_error("mail.address_invalid", "{value} is not a mail address (name@domain)."),
    )


class MailDomainPayload(Schema):
    name = fields.String(
        required=True,
        validate=text(min=1, max=MAX_NAME),
        metadata=rule_error("name.too_long", "A domain name has at most {max} characters."),
    )
    contact = fields.String(
        required=True,
        validate=text(min=3, max=MAX_ADDRESS),
        metadata=rule_error(
            "mail.address_invalid",
            "{value} is not a mail address (name@domain).",
            description="reaches a person: postmaster@ and abuse@ deliver here",
        ),
    )
    external_forwarding = fields.Boolean(
        truthy={True},
        falsy={False},
        metadata=rule_error(
            "mail.forwarding_invalid",
            "external_forwarding is true or false.",
            wrong_type_too=True,
            description="aliases may forward outside the ministry",
        ),
    )
    on_suspend = fields.String(
        validate=validate.OneOf(["defer", "reject"]),
        metadata=rule_error("mail.on_suspend_invalid", "Choose defer or reject."),
    )
    default_quota_mb = _quota()
    host_id = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "operators: place the domain on this mail host"},
    )
    exceed_capacity = fields.Boolean(
        truthy={True},  # JSON true or false only
        falsy={False},
        metadata=rule_error(
            "host.exceed_invalid",
            "exceed_capacity is true or false.",
            wrong_type_too=True,
            description="operators: place on host_id even past its mailboxes capacity (recorded in the request)",
        ),
    )


class MailDomainDeletePayload(Schema):
    domain_id = _id()


class MailboxesPayload(Schema):
    """A batch of new mailboxes of one domain; their passwords travel as the request's secrets."""

    domain_id = _id()
    local_parts = fields.List(
        _local_part(),
        required=True,
        validate=validate.Length(max=rules.MAX_BATCH),
        metadata=rule_error("mail.batch_too_large", "At most {max} mailboxes in one request."),
    )
    quota_mb = _quota("empty: the domain's default", allow_none=True)
    display_names = fields.Dict(
        keys=fields.String(validate=text(min=1, max=rules.MAX_LOCAL)),
        values=fields.String(validate=text(max=MAX_DISPLAY_NAME)),
        validate=validate.Length(max=rules.MAX_BATCH),
        metadata=rule_error(
            "mail.display_name_invalid", "A display name is text of at most 200 characters on one line."
        ),
    )


class MailboxPayload(Schema):
    """A change to one mailbox (suspend, unsuspend, delete; a password travels as the secret)."""

    mailbox_id = _id()


class MailboxQuotaPayload(MailboxPayload):
    quota_mb = _quota(required=True)


class AliasPayload(Schema):
    domain_id = _id()
    source = _local_part(required=True)
    destinations = fields.List(
        _address(),
        required=True,
        validate=validate.Length(max=rules.MAX_DESTINATIONS),
        metadata=rule_error("mail.destinations_too_many", "At most {max} destinations."),
    )


class AliasBatchItem(Schema):
    source = _local_part(required=True)
    destinations = fields.List(
        _address(),
        required=True,
        validate=validate.Length(max=rules.MAX_DESTINATIONS),
        metadata=rule_error("mail.destinations_too_many", "At most {max} destinations."),
    )


class AliasBatchPayload(Schema):
    domain_id = _id()
    aliases = fields.List(
        fields.Nested(AliasBatchItem),
        required=True,
        validate=validate.Length(min=1, max=rules.MAX_ALIAS_BATCH),
        metadata={"description": f"1 to {rules.MAX_ALIAS_BATCH} aliases of the domain, one job for all"},
    )


class AliasDeletePayload(Schema):
    alias_id = _id()


# ---- lookups ---------------------------------------------------------------------------------


def domain_of(org: Organization, domain_id, field: str = "domain_id") -> MailDomain:
    dom = db.session().get(MailDomain, domain_id)
    if dom is None or dom.org_id != org.id:
        raise NotFound("mail_domain.not_found", "Not found.", field=field, id=str(domain_id))
    if dom.status not in (MailDomainStatus.ACTIVE, MailDomainStatus.PENDING):
        raise Conflict("mail.domain_not_active", "The domain {name} is not active.", field=field, name=dom.name)
    not_moving(dom, field)
    return dom


def not_moving(dom: MailDomain, field: str = "domain_id") -> None:
    """A domain being moved to another mail host takes no change until the move ends: its jobs would
    go to a host that is about to lose it (or does not have it yet)."""
    if moves.open_move(db.session(), MailMove, dom.id) is not None:
        raise Conflict(
            "mail.domain_moving",
            "The domain {name} is being moved to another mail host; try again when the move has ended.",
            field=field,
            name=dom.name,
        )


def mailbox_of(org: Organization, mailbox_id) -> Mailbox:
    box = db.session().get(Mailbox, mailbox_id)
    if box is None or box.org_id != org.id or box.status == MailboxStatus.DELETED:
        raise NotFound("mailbox.not_found", "Not found.", field="mailbox_id", id=str(mailbox_id))
    not_moving(box.domain, "mailbox_id")
    return box


def address_taken(domain_id: int, locals_: list[str]) -> str | None:
    """The first local part already used by a live mailbox or an alias of the domain."""
    s = db.session()
    for chunk in (locals_[i : i + 500] for i in range(0, len(locals_), 500)):
        hit = s.scalars(
            select(Mailbox.local_part).where(
                Mailbox.domain_id == domain_id,
                Mailbox.local_part.in_(chunk),
                Mailbox.status.in_([m.value for m in LIVE]),
            )
        ).first()
        hit = (
            hit
            or s.scalars(
                select(MailAlias.source).where(MailAlias.domain_id == domain_id, MailAlias.source.in_(chunk))
            ).first()
        )
        if hit:
            return hit
    return None


def mail_ready(host: Host) -> bool:
    """The host's mail role is set up: a mail.server job finished there (it records the time). A host
    merely tagged "mail" has no postfix/dovecot configuration, and every mailbox job would fail."""
    return bool((host.facts or {}).get("mail_server_at"))


def place_mail_host(session: Session) -> int:
    """The active, set-up mail host with the most room for mailboxes."""
    used = (
        select(MailDomain.host_id, func.count(Mailbox.id).label("n"))
        .join(Mailbox, Mailbox.domain_id == MailDomain.id, isouter=True)
        .group_by(MailDomain.host_id)
        .subquery()
    )
    rows = session.execute(
        select(Host, func.coalesce(used.c.n, 0))
        .join(used, used.c.host_id == Host.id, isouter=True)
        .where(with_role(MAIL_ROLE), Host.state == HostState.ACTIVE)
    ).all()
    rows = [(h, n) for h, n in rows if h.key_mismatch_at is None and n < hosts_svc.capacity(h, CAPACITY)]
    ready = [(h, n) for h, n in rows if mail_ready(h)]
    if rows and not ready:
        raise Conflict(
            "mail.no_host_ready",
            "No mail host is set up yet: the data center must run the mail server setup on {hosts} first.",
            hosts=", ".join(sorted(h.name for h, _ in rows)[:5]),
        )
    rows = ready
    if not rows:
        raise Conflict("mail.no_host", "No mail host has room; the data center must add one.")
    return min(rows, key=lambda r: (r[1] / max(1, hosts_svc.capacity(r[0], CAPACITY)), r[0].id))[0].id


def submit(actor: Actor, request: Request, domain: MailDomain, kind: str, params: dict, secrets=None) -> list:
    not_moving(domain)  # approved while a move started: refused with the same message
    return [
        jobs.job_submit(
            actor,
            kind=kind,
            org_id=request.org_id,
            host_ids=[domain.host_id],
            params=params,
            secrets=secrets,
            request_id=request.id,
        )
    ]


# ---- mail_domain.create ------------------------------------------------------------------------


def _domain_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(
        payload,
        {"name", "contact", "external_forwarding", "on_suspend", "default_quota_mb", "host_id", "exceed_capacity"},
    )
    host_id, exceed = hosts_svc.host_choice(actor, payload)
    name = clean_hostname(payload.get("name"), "name")
    if db.session().scalars(select(MailDomain.id).where(MailDomain.name == name)).first() is not None:
        raise Conflict("mail.domain_exists", "Mail for {name} is handled here already.", field="name", name=name)
    if not dns_svc.domain_verified(org.id, name):
        raise Invalid(
            "dns.domain_unverified",
            "{fqdn} is not a verified domain of your ministry: claim and verify it first.",
            field="name",
            fqdn=name,
        )
    on_suspend = payload.get("on_suspend") or "defer"
    if on_suspend not in ("defer", "reject"):
        raise Invalid("mail.on_suspend_invalid", "Choose defer or reject.", field="on_suspend")
    forwarding = payload.get("external_forwarding", False)
    if not isinstance(forwarding, bool):
        raise Invalid("mail.forwarding_invalid", "external_forwarding is true or false.", field="external_forwarding")
    return {
        "name": name,
        "contact": rules.clean_address(payload.get("contact"), "contact"),
        "external_forwarding": forwarding,
        "on_suspend": on_suspend,
        "default_quota_mb": rules.clean_quota_mb(payload.get("default_quota_mb", 1024), "default_quota_mb"),
        **({"host_id": host_id} if host_id is not None else {}),
        **({"exceed_capacity": True} if exceed else {}),
    }


def mailboxes_on(session: Session, host_id: int) -> int:
    return (
        session.scalar(
            select(func.count(Mailbox.id))
            .join(MailDomain, MailDomain.id == Mailbox.domain_id)
            .where(MailDomain.host_id == host_id, Mailbox.status != MailboxStatus.DELETED)
        )
        or 0
    )


def chosen_mail_host(session: Session, host_id: int, exceed: bool) -> int:
    """An operator's choice: a set-up mail host with room for at least one more mailbox (its
    mailboxes capacity), unless exceed_capacity says to place the domain there anyway."""
    host = session.get(Host, host_id)
    if host is None or MAIL_ROLE not in host.roles or not mail_ready(host):
        raise Invalid("mail.host_invalid", "Host {id} is not a set-up mail host.", field="host_id", id=str(host_id))
    hosts_svc.host_room(host, resource=CAPACITY, used=mailboxes_on(session, host.id), count=1, exceed=exceed)
    return host.id


def _domain_place(session: Session, org: Organization, payload: dict) -> int | None:
    if payload.get("host_id") is not None:
        return chosen_mail_host(session, payload["host_id"], payload.get("exceed_capacity", False))
    return place_mail_host(session)


def _ready_target(session: Session, host_id: int | None) -> int | None:
    """The host chosen at approval, if its mail role is (still) set up; else placement again."""
    host = session.get(Host, host_id) if host_id else None
    return host.id if host is not None and mail_ready(host) else None


def _domain_host(s: Session, request: Request) -> int:
    """The operator's chosen host (checked again), else the host placed at approval if still set
    up, else placement again."""
    p = request.payload
    if p.get("host_id") is not None:
        return chosen_mail_host(s, p["host_id"], p.get("exceed_capacity", False))
    return _ready_target(s, request.target_host_id) or place_mail_host(s)


def domain_clean_up(actor: Actor, dom: MailDomain, request_id: int | None = None) -> list:
    """A failed domain goes: one mail.domain job converges the host without it (postfix maps, DKIM
    tables and key, certificate names) and removes any mailbox made under it; when it succeeds the
    row and its mailboxes and aliases go (the name is free again)."""
    s = db.session()
    dom.move_to(MailDomainStatus.DELETING)
    boxes = list(
        s.scalars(select(Mailbox.id).where(Mailbox.domain_id == dom.id, Mailbox.status != MailboxStatus.DELETED))
    )
    s.flush()
    params = {"domain_id": dom.id, "remove": True, "previous": MailDomainStatus.FAILED.value, "mailbox_ids": boxes}
    return [
        jobs.job_submit(
            actor, kind="mail.domain", org_id=dom.org_id, host_ids=[dom.host_id], params=params, request_id=request_id
        )
    ]


def _domain_give_up(actor: Actor, request: Request) -> list:
    """Cancelling a failed mail.domain_create request: its failed domain is cleaned up."""
    dom = db.session().scalars(select(MailDomain).where(MailDomain.request_id == request.id)).first()
    if dom is None or dom.status != MailDomainStatus.FAILED or dom.host_id is None:
        return []
    return domain_clean_up(actor, dom)


@_kind(
    "domain_create",
    N_("Mail for a domain"),
    validate=_domain_validate,
    schema=MailDomainPayload,
    place=_domain_place,
    on_give_up=_domain_give_up,
    describe=says(N_("mail for {name}")),
    default_policy=ApprovalMode.ONE,  # staff approve every domain
)
def _domain_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dom = s.scalars(select(MailDomain).where(MailDomain.request_id == request.id)).first()
    if dom is None:
        dom = MailDomain(
            org_id=request.org_id,
            name=p["name"],
            host_id=_domain_host(s, request),
            dkim_selector=current_settings().mail.dkim_selector,
            external_forwarding=p["external_forwarding"],
            on_suspend=p["on_suspend"],
            default_quota_mb=p["default_quota_mb"],
            request_id=request.id,
        )
        s.add(dom)
        s.flush()
        for role in rules.REQUIRED_ROLES:  # RFC 2142: these must reach a person from the first day
            s.add(
                MailAlias(
                    org_id=dom.org_id, domain_id=dom.id, source=role, destinations=[p["contact"]], request_id=request.id
                )
            )
    elif dom.status == MailDomainStatus.FAILED:
        dom.move_to(MailDomainStatus.PENDING)
    s.flush()
    return submit(actor, request, dom, "mail.domain", {"domain_id": dom.id})


# ---- mail_domain.delete (a domain whose set-up failed) ----------------------------------------------


def _domain_delete_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"domain_id"})
    dom = db.session().get(MailDomain, require_int(payload, "domain_id", minimum=1, maximum=2**63 - 1))
    if dom is None or dom.org_id != org.id:
        raise NotFound("mail_domain.not_found", "Not found.", field="domain_id", id=str(payload.get("domain_id")))
    if dom.status != MailDomainStatus.FAILED:
        raise Conflict(
            "mail.domain_not_failed",
            "Only a mail domain whose set-up failed can be deleted; {name} is {status}.",
            field="domain_id",
            name=dom.name,
            status=dom.status.value,
        )
    return {"domain_id": dom.id, "name": dom.name}


@_kind(
    "domain_delete",
    N_("Delete a failed mail domain"),
    validate=_domain_delete_validate,
    schema=MailDomainDeletePayload,
    describe=says(N_("delete the failed mail domain {name}")),
)
def _domain_delete_start(actor: Actor, request: Request) -> list:
    dom = db.session().get(MailDomain, request.payload["domain_id"])
    if dom.host_id is None:  # its host was removed: nothing on any host to clean
        db.session().delete(dom)
        return []
    return domain_clean_up(actor, dom, request.id)


# ---- mailbox.create (a batch of one domain) ------------------------------------------------------


def _create_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"domain_id", "local_parts", "quota_mb", "display_names"})
    dom = domain_of(org, require_int(payload, "domain_id", minimum=1, maximum=2**63 - 1))
    locals_ = rules.clean_local_parts(payload.get("local_parts"))
    taken = address_taken(dom.id, locals_)
    if taken:
        raise Conflict(
            "mail.address_taken", "{address} exists already.", field="local_parts", address=f"{taken}@{dom.name}"
        )
    names = payload.get("display_names") or {}
    if not isinstance(names, dict) or set(names) - set(locals_):
        raise Invalid(
            "mail.display_name_invalid", "Display names must belong to the new mailboxes.", field="display_names"
        )
    return {
        "domain_id": dom.id,
        "local_parts": locals_,
        "quota_mb": rules.clean_quota_mb(payload.get("quota_mb") or dom.default_quota_mb),
        "display_names": {k: rules.clean_display_name(v) for k, v in names.items() if v},
    }


def _create_secrets(actor: Actor, org: Organization, secrets: dict) -> dict:
    """{local_part: password} -> {local_part: hash}; the clear passwords end here."""
    passwords = secrets.get("passwords") if set(secrets) == {"passwords"} else None
    if not isinstance(passwords, dict) or not passwords or len(passwords) > rules.MAX_BATCH:
        raise Invalid("mail.password_required", "Give a password for each new mailbox.", field="password")
    clean = {
        rules.clean_local_part(k, "local_parts"): pw.password_check(v, address=str(k)) for k, v in passwords.items()
    }
    if len(clean) == 1:
        return {k: pw.hash_argon2id(v) for k, v in clean.items()}
    return dict(zip(clean, pw.hash_many(list(clean.values())), strict=True))


def _create_give_up(actor: Actor, request: Request) -> list:
    """Cancelling a failed mail.mailbox_create request: its failed mailboxes get one delete job
    that removes whatever the create job put on the host (users file entries, maildirs, maps);
    when it ends they are `deleted`, their addresses free. The budget is freed by the cancel."""
    s = db.session()
    boxes = list(
        s.scalars(select(Mailbox).where(Mailbox.request_id == request.id, Mailbox.status == MailboxStatus.FAILED))
    )
    if not boxes or boxes[0].domain.host_id is None:
        return []
    for box in boxes:
        box.move_to(MailboxStatus.DELETING)
    s.flush()
    params = {"op": "delete", "mailbox_ids": [b.id for b in boxes], "previous": MailboxStatus.FAILED.value}
    dom = boxes[0].domain
    return [jobs.job_submit(actor, kind="mail.mailboxes", org_id=request.org_id, host_ids=[dom.host_id], params=params)]


def _create_kept(s: Session, request: Request) -> dict[str, int]:
    """What the request's mailboxes that still live hold: a failed or deleted one holds nothing."""
    n = s.scalar(
        select(func.count(Mailbox.id)).where(
            Mailbox.request_id == request.id, Mailbox.status.not_in([MailboxStatus.FAILED, MailboxStatus.DELETED])
        )
    )
    return {"mailboxes": n, "mail_storage_mb": n * request.payload["quota_mb"]} if n else {}


@_kind(
    "mailbox_create",
    N_("New mailboxes"),
    validate=_create_validate,
    schema=MailboxesPayload,
    validate_secrets=_create_secrets,
    on_give_up=_create_give_up,
    kept=_create_kept,
    quota=lambda p: {"mailboxes": len(p["local_parts"]), "mail_storage_mb": len(p["local_parts"]) * p["quota_mb"]},
    describe=lambda p: (
        N_("{count} mailboxes: {names}"),
        {
            "count": len(p["local_parts"]),
            "names": ", ".join(p["local_parts"][:3]) + (" ..." if len(p["local_parts"]) > 3 else ""),
        },
    ),
)
def _create_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dom = s.get(MailDomain, p["domain_id"])
    hashes = requests.request_secrets(request)
    missing = [lp for lp in p["local_parts"] if not pw.is_hash(hashes.get(lp))]
    if missing:
        raise Invalid(
            "mail.password_required",
            "No password was given for {address}.",
            field="password",
            address=f"{missing[0]}@{dom.name}",
        )
    boxes = list(s.scalars(select(Mailbox).where(Mailbox.request_id == request.id)))
    if boxes:  # a retry: the same rows, the failed ones pending again
        for box in boxes:
            if box.status == MailboxStatus.FAILED:
                box.move_to(MailboxStatus.PENDING)
        s.flush()
        ids = [b.id for b in boxes]
    else:
        # One multi-row INSERT ... RETURNING for the batch: building and flushing 1,000 ORM objects
        # cost more than the statement (the rows are read again by the job, not by this session).
        now = db.utcnow()
        rows = [
            {
                "org_id": request.org_id,
                "domain_id": dom.id,
                "local_part": lp,
                "quota_mb": p["quota_mb"],
                "display_name": p["display_names"].get(lp, ""),
                "request_id": request.id,
                "password_changed_at": now,
                "status": MailboxStatus.PENDING,
                "created_at": now,
                "updated_at": now,
            }
            for lp in p["local_parts"]
        ]
        ids = list(s.scalars(insert(Mailbox).returning(Mailbox.id, sort_by_parameter_order=True), rows))
    secrets = {f"{lp}@{dom.name}": h for lp, h in hashes.items()}
    return submit(actor, request, dom, "mail.mailboxes", {"op": "create", "mailbox_ids": ids}, secrets)


# ---- one mailbox: quota, password, suspend, unsuspend, delete -------------------------------------


def _op_validate(op: str):
    def validate(actor: Actor, org: Organization, payload: dict) -> dict:
        reject_unknown(payload, {"mailbox_id", "quota_mb"} if op == "quota" else {"mailbox_id"})
        box = mailbox_of(org, require_int(payload, "mailbox_id", minimum=1, maximum=2**63 - 1))
        clean = {"mailbox_id": box.id, "address": box.address, "old_quota_mb": box.quota_mb}
        allowed = {
            "suspend": {MailboxStatus.ACTIVE},
            "unsuspend": {MailboxStatus.SUSPENDED},
            "delete": {MailboxStatus.ACTIVE, MailboxStatus.SUSPENDED, MailboxStatus.FAILED},  # failed rows too
        }.get(op, {MailboxStatus.ACTIVE, MailboxStatus.SUSPENDED})
        if box.status not in allowed:
            raise Conflict(
                "mailbox.state_invalid",
                "{address} is {status}; this cannot be done now.",
                field="mailbox_id",
                address=box.address,
                status=box.status.value,
            )
        if op == "quota":
            clean["quota_mb"] = rules.clean_quota_mb(payload.get("quota_mb"))
        return clean

    return validate


def _password_secrets(actor: Actor, org: Organization, secrets: dict) -> dict:
    if set(secrets) != {"password"}:
        raise Invalid("mail.password_required", "A password is required.", field="password")
    return {"hash": pw.hash_argon2id(pw.password_check(secrets["password"]))}


def _op_start(op: str):
    def start(actor: Actor, request: Request) -> list:
        s = db.session()
        box = s.get(Mailbox, request.payload["mailbox_id"])
        params = {
            "op": op,
            "mailbox_ids": [box.id],
            "previous": box.status.value,
            "old_quota_mb": request.payload["old_quota_mb"],
        }
        secrets = None
        if op == "quota":
            box.quota_mb = request.payload["quota_mb"]
        elif op == "password":
            secrets = {box.address: requests.request_secrets(request)["hash"]}
        elif op == "suspend":
            box.move_to(MailboxStatus.SUSPENDED)
        elif op == "unsuspend":
            box.move_to(MailboxStatus.ACTIVE)
        elif op == "delete":
            box.move_to(MailboxStatus.DELETING)
        s.flush()
        return submit(actor, request, box.domain, "mail.mailboxes", params, secrets)

    return start


def _storage_delta(p: dict) -> dict[str, int]:
    return {"mail_storage_mb": max(0, p["quota_mb"] - p["old_quota_mb"])}


for _op, _label in (
    ("quota", N_("Mailbox size")),
    ("password", N_("Mailbox password")),
    ("suspend", N_("Suspend a mailbox")),
    ("unsuspend", N_("Reactivate a mailbox")),
    ("delete", N_("Delete a mailbox")),
):
    _kind(
        f"mailbox_{_op}",
        _label,
        validate=_op_validate(_op),
        schema=MailboxQuotaPayload if _op == "quota" else MailboxPayload,
        validate_secrets=_password_secrets if _op == "password" else RequestKind.validate_secrets,
        quota=_storage_delta if _op == "quota" else (lambda p: {}),
        place=lambda s, org, p: s.get(Mailbox, p["mailbox_id"]).domain.host_id,
        describe=lambda p, label=_label: (
            (N_("{what}: {address}, {size} MB"), {"what": label, "address": p["address"], "size": p["quota_mb"]})
            if "quota_mb" in p
            else (N_("{what}: {address}"), {"what": label, "address": p["address"]})
        ),
    )(_op_start(_op))


# ---- aliases (and forwards) ------------------------------------------------------------------------


def _alias_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"domain_id", "source", "destinations"})
    dom = domain_of(org, require_int(payload, "domain_id", minimum=1, maximum=2**63 - 1))
    source = rules.clean_local_part(payload.get("source"), "source", role_ok=True)
    dests = rules.clean_destinations(payload.get("destinations"))
    s = db.session()
    ours = set(s.scalars(select(MailDomain.name).where(MailDomain.org_id == org.id)))
    outside = [d for d in dests if d.split("@", 1)[1] not in ours]
    if outside and not dom.external_forwarding:
        raise Invalid(
            "mail.forwarding_external_forbidden",
            "Your ministry's policy does not allow forwarding outside its own domains ({address}).",
            field="destinations",
            address=outside[0],
        )
    if f"{source}@{dom.name}" in dests:
        raise Invalid("mail.alias_loop", "An alias cannot deliver to itself.", field="destinations")
    existing = s.scalars(select(MailAlias).where(MailAlias.domain_id == dom.id, MailAlias.source == source)).first()
    role_update = existing is not None and source in rules.ROLE_NAMES
    if (existing is not None and not role_update) or (existing is None and address_taken(dom.id, [source])):
        raise Conflict(
            "mail.address_taken", "{address} exists already.", field="source", address=f"{source}@{dom.name}"
        )
    return {"domain_id": dom.id, "source": source, "destinations": dests}


def _alias_row(s, dom: MailDomain, request: Request, source: str, destinations: list[str]) -> MailAlias:
    alias = s.scalars(select(MailAlias).where(MailAlias.domain_id == dom.id, MailAlias.source == source)).first()
    if alias is None:
        alias = MailAlias(
            org_id=dom.org_id, domain_id=dom.id, source=source, request_id=request.id, status=AliasStatus.PENDING
        )
        s.add(alias)
    alias.move_to(AliasStatus.PENDING)
    alias.destinations = destinations
    return alias


@_kind(
    "alias_create",
    N_("Mail alias or forward"),
    validate=_alias_validate,
    schema=AliasPayload,
    describe=lambda p: (
        N_("{source} delivers to {destinations}"),
        {"source": p["source"], "destinations": ", ".join(p["destinations"][:3])},
    ),
)
def _alias_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dom = s.get(MailDomain, p["domain_id"])
    alias = _alias_row(s, dom, request, p["source"], p["destinations"])
    s.flush()
    return submit(actor, request, dom, "mail.mailboxes", {"op": "alias", "alias_ids": [alias.id]})


def _alias_batch_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    """Many aliases of one domain (bulk files): each checked as alone, no source twice."""
    reject_unknown(payload, {"domain_id", "aliases"})
    items = payload.get("aliases")
    n = len(items) if isinstance(items, list) else 0
    if not 1 <= n <= rules.MAX_ALIAS_BATCH or not all(isinstance(i, dict) for i in items):
        raise Invalid(
            "mail.alias_batch_invalid", "Give from 1 to {max} aliases.", field="aliases", max=rules.MAX_ALIAS_BATCH
        )
    out, seen, dom_id = [], set(), None
    for item in items:
        clean = _alias_validate(actor, org, {**item, "domain_id": payload.get("domain_id")})
        if clean["source"] in seen:
            raise Conflict(
                "mail.alias_duplicate", "{source} is twice in the list.", field="aliases", source=clean["source"]
            )
        seen.add(clean["source"])
        dom_id = clean["domain_id"]
        out.append({"source": clean["source"], "destinations": clean["destinations"]})
    return {"domain_id": dom_id, "aliases": out}


@_kind(
    "alias_batch",
    N_("Mail aliases or forwards (many)"),
    validate=_alias_batch_validate,
    schema=AliasBatchPayload,
    describe=lambda p: (
        N_("{count} aliases: {sources}"),
        {"count": len(p["aliases"]), "sources": ", ".join(a["source"] for a in p["aliases"][:3])},
    ),
)
def _alias_batch_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dom = s.get(MailDomain, p["domain_id"])
    aliases = [_alias_row(s, dom, request, a["source"], a["destinations"]) for a in p["aliases"]]
    s.flush()
    return submit(actor, request, dom, "mail.mailboxes", {"op": "alias", "alias_ids": [a.id for a in aliases]})


def _alias_delete_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"alias_id"})
    alias = db.session().get(MailAlias, require_int(payload, "alias_id", minimum=1, maximum=2**63 - 1))
    if alias is None or alias.org_id != org.id:
        raise NotFound("mail_alias.not_found", "Not found.", field="alias_id", id=str(payload.get("alias_id")))
    if alias.source in rules.REQUIRED_ROLES:
        raise Invalid(
            "mail.alias_required",
            "{address} must exist (RFC 2142); change where it delivers instead.",
            field="alias_id",
            address=alias.address,
        )
    return {"alias_id": alias.id, "address": alias.address}


@_kind(
    "alias_delete",
    N_("Remove a mail alias"),
    validate=_alias_delete_validate,
    schema=AliasDeletePayload,
    place=lambda s, org, p: s.get(MailAlias, p["alias_id"]).domain.host_id,
    describe=says(N_("remove {address}")),
)
def _alias_delete_start(actor: Actor, request: Request) -> list:
    alias = db.session().get(MailAlias, request.payload["alias_id"])
    alias.move_to(AliasStatus.DELETING)
    return submit(actor, request, alias.domain, "mail.mailboxes", {"op": "alias", "alias_ids": [alias.id]})
