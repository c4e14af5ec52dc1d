"""Request kinds of the mail platform. Importing this module registers them (services.mail does).

mail_domain.create is approved by the data center; the mailbox and alias kinds are the ministry's
own business within its budget, so they default to `auto`. Approval writes the desired rows and
submits ONE job per request (a batch of 1,000 mailboxes is one job and one playbook run). Passwords
arrive as request secrets and are hashed right here, at validation: the request keeps only hashes.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panel import db
from panel.boot import current as current_settings
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail import rules
from panel.capabilities.mail.models import (
    LIVE,
    AliasStatus,
    MailAlias,
    Mailbox,
    MailboxStatus,
    MailDomain,
    MailDomainStatus,
)
from panel.errors import Conflict, Invalid, NotFound
from panel.models.hosts import Host, HostRole, HostState, with_role
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import Organization, Role
from panel.services import jobs, requests
from panel.services.actor import Actor
from panel.services.names import clean_hostname
from panel.services.request_kinds import N_, RequestKind, register, reject_unknown, require_int

MANAGERS = frozenset({Role.ORG_ADMIN, Role.WEBMASTER, Role.OPERATOR, Role.ADMIN})
MAILBOX_OPS = ("quota", "password", "suspend", "unsuspend", "delete")


# ---- lookups ---------------------------------------------------------------------------------


def domain_of(org: Organization, domain_id, field: str = "domain_id") -> MailDomain:
    dom = db.session().get(MailDomain, domain_id)
    if dom is None or dom.org_id != org.id:
        raise NotFound("mail_domain.not_found", "Not found.", field=field, id=str(domain_id))
    if dom.status not in (MailDomainStatus.ACTIVE, MailDomainStatus.PENDING):
        raise Conflict("mail.domain_not_active", "The domain {name} is not active.", field=field, name=dom.name)
    return dom


def mailbox_of(org: Organization, mailbox_id) -> Mailbox:
    box = db.session().get(Mailbox, mailbox_id)
    if box is None or box.org_id != org.id or box.status == MailboxStatus.DELETED:
        raise NotFound("mailbox.not_found", "Not found.", field="mailbox_id", id=str(mailbox_id))
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
        .where(with_role(HostRole.MAIL), Host.state == HostState.ACTIVE)
    ).all()
    rows = [(h, n) for h, n in rows if h.key_mismatch_at is None and n < h.max_mailboxes]
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
    return min(rows, key=lambda r: (r[1] / max(1, r[0].max_mailboxes), r[0].id))[0].id


def submit(actor: Actor, request: Request, domain: MailDomain, kind: str, params: dict, secrets=None) -> list:
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
    reject_unknown(payload, {"name", "contact", "external_forwarding", "on_suspend", "default_quota_mb"})
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
    }


def _domain_place(session: Session, org: Organization, payload: dict) -> int | None:
    return place_mail_host(session)


def _ready_target(session: Session, host_id: int | None) -> int | None:
    """The host chosen at approval, if its mail role is (still) set up; else placement again."""
    host = session.get(Host, host_id) if host_id else None
    return host.id if host is not None and mail_ready(host) else None


def _domain_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dom = s.scalars(select(MailDomain).where(MailDomain.request_id == request.id)).first()
    if dom is None:
        dom = MailDomain(
            org_id=request.org_id,
            name=p["name"],
            host_id=_ready_target(s, request.target_host_id) or place_mail_host(s),
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


MAIL_DOMAIN_CREATE = register(
    RequestKind(
        name="mail.domain_create",
        label=N_("Mail for a domain"),
        who_may_request=MANAGERS,  # webmasters too (docs/security.md): staff approve every domain
        validate=_domain_validate,
        place=_domain_place,
        on_approve=_domain_start,
        describe=lambda p: (N_("mail for {name}"), {"name": p["name"]}),
        default_policy=ApprovalMode.ONE,
    )
)


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
    if not boxes:
        now = db.utcnow()
        boxes = [
            Mailbox(
                org_id=request.org_id,
                domain_id=dom.id,
                local_part=lp,
                quota_mb=p["quota_mb"],
                display_name=p["display_names"].get(lp, ""),
                request_id=request.id,
                password_changed_at=now,
            )
            for lp in p["local_parts"]
        ]
        s.add_all(boxes)
    for box in boxes:
        if box.status == MailboxStatus.FAILED:
            box.move_to(MailboxStatus.PENDING)
    s.flush()
    secrets = {f"{lp}@{dom.name}": h for lp, h in hashes.items()}
    return submit(
        actor, request, dom, "mail.mailboxes", {"op": "create", "mailbox_ids": [b.id for b in boxes]}, secrets
    )


MAILBOX_CREATE = register(
    RequestKind(
        name="mail.mailbox_create",
        label=N_("New mailboxes"),
        who_may_request=MANAGERS,
        validate=_create_validate,
        validate_secrets=_create_secrets,
        on_approve=_create_start,
        quota=lambda p: {"mailboxes": len(p["local_parts"]), "mail_storage_mb": len(p["local_parts"]) * p["quota_mb"]},
        place=lambda s, org, p: s.get(MailDomain, p["domain_id"]).host_id,
        describe=lambda p: (
            N_("{count} mailboxes: {names}"),
            {
                "count": len(p["local_parts"]),
                "names": ", ".join(p["local_parts"][:3]) + (" ..." if len(p["local_parts"]) > 3 else ""),
            },
        ),
        default_policy=ApprovalMode.AUTO,
    )
)


# ---- one mailbox: quota, password, suspend, unsuspend, delete -------------------------------------


def _op_validate(op: str):
    def validate(actor: Actor, org: Organization, payload: dict) -> dict:
        reject_unknown(payload, {"mailbox_id", "quota_mb"} if op == "quota" else {"mailbox_id"})
        box = mailbox_of(org, require_int(payload, "mailbox_id", minimum=1, maximum=2**63 - 1))
        clean = {"mailbox_id": box.id, "address": box.address, "old_quota_mb": box.quota_mb}
        allowed = {"suspend": {MailboxStatus.ACTIVE}, "unsuspend": {MailboxStatus.SUSPENDED}}.get(
            op, {MailboxStatus.ACTIVE, MailboxStatus.SUSPENDED}
        )
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
    register(
        RequestKind(
            name=f"mail.mailbox_{_op}",
            label=_label,
            who_may_request=MANAGERS,
            validate=_op_validate(_op),
            validate_secrets=_password_secrets if _op == "password" else RequestKind.validate_secrets,
            quota=_storage_delta if _op == "quota" else (lambda p: {}),
            on_approve=_op_start(_op),
            place=lambda s, org, p: s.get(Mailbox, p["mailbox_id"]).domain.host_id,
            describe=lambda p, label=_label: (
                (N_("{what}: {address}, {size} MB"), {"what": label, "address": p["address"], "size": p["quota_mb"]})
                if "quota_mb" in p
                else (N_("{what}: {address}"), {"what": label, "address": p["address"]})
            ),
            default_policy=ApprovalMode.AUTO,
        )
    )


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


def _alias_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dom = s.get(MailDomain, p["domain_id"])
    alias = s.scalars(select(MailAlias).where(MailAlias.domain_id == dom.id, MailAlias.source == p["source"])).first()
    if alias is None:
        alias = MailAlias(
            org_id=dom.org_id, domain_id=dom.id, source=p["source"], request_id=request.id, status=AliasStatus.PENDING
        )
        s.add(alias)
    alias.move_to(AliasStatus.PENDING)
    alias.destinations = p["destinations"]
    s.flush()
    return submit(actor, request, dom, "mail.mailboxes", {"op": "alias", "alias_ids": [alias.id]})


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


def _alias_delete_start(actor: Actor, request: Request) -> list:
    alias = db.session().get(MailAlias, request.payload["alias_id"])
    alias.move_to(AliasStatus.DELETING)
    return submit(actor, request, alias.domain, "mail.mailboxes", {"op": "alias", "alias_ids": [alias.id]})


ALIAS_CREATE = register(
    RequestKind(
        name="mail.alias_create",
        label=N_("Mail alias or forward"),
        who_may_request=MANAGERS,
        validate=_alias_validate,
        on_approve=_alias_start,
        place=lambda s, org, p: s.get(MailDomain, p["domain_id"]).host_id,
        describe=lambda p: (
            N_("{source} delivers to {destinations}"),
            {"source": p["source"], "destinations": ", ".join(p["destinations"][:3])},
        ),
        default_policy=ApprovalMode.AUTO,
    )
)
ALIAS_DELETE = register(
    RequestKind(
        name="mail.alias_delete",
        label=N_("Remove a mail alias"),
        who_may_request=MANAGERS,
        validate=_alias_delete_validate,
        on_approve=_alias_delete_start,
        place=lambda s, org, p: s.get(MailAlias, p["alias_id"]).domain.host_id,
        describe=lambda p: (N_("remove {address}"), {"address": p["address"]}),
        default_policy=ApprovalMode.AUTO,
    )
)
