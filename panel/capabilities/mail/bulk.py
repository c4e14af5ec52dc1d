"""Mailbox and alias rows of bulk provisioning files (mailboxes.csv, aliases.csv, or those keys in
the YAML/JSON file).

mailboxes: address, display_name, quota_mb, password (never stored in the plan; left empty, one is
generated and delivered once to whoever made the plan). aliases: address, destinations. The mail
domain must be one of the ministry's (another ministry's domain is "not a mail domain of yours",
never told apart). Create rows run as mail.mailbox_create requests of at most rules.MAX_BATCH
mailboxes of one domain (one job, one playbook run each) and one mail.alias_create per alias.
"""

from __future__ import annotations

import secrets
import string
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail import rules
from panel.capabilities.mail.models import LIVE, AliasStatus, MailAlias, Mailbox, MailboxStatus, MailDomain
from panel.capabilities.mail.models import MailDomainStatus as DS
from panel.errors import Invalid
from panel.models.hosts import Host
from panel.models.tenants import Organization
from panel.services.actor import Actor
from panel.services.bulk import Batch, Column, Deletion, RowKind, RowState, Verdict, parent_domain
from panel.services.names import clean_hostname
from panel.services.request_kinds import N_

ALPHABET = string.ascii_letters + string.digits + "-_.+"


def generate_password() -> str:
    """16 random characters that pass the mailbox password rules."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(16))
        try:
            return pw.password_check(candidate)
        except Invalid:
            continue


def _address(role_ok: bool):
    def clean(text: str) -> str:
        value = text.strip()
        if value.count("@") != 1:
            raise Invalid(
                "mail.address_invalid",
                "{value} is not a mail address (name@domain).",
                field="address",
                value=value[:64],
            )
        local, domain = value.rsplit("@", 1)
        return f"{rules.clean_local_part(local, 'address', role_ok=role_ok)}@{clean_hostname(domain, 'address')}"

    return clean


def _quota(text: str):
    return rules.clean_quota_mb(text) if text.strip() else None


def _password(text: str):
    return pw.password_check(text) if text else ""


MAILBOX_COLUMNS = (
    Column("address", _address(False), required=True, help="the new mailbox, e.g. dara@moh.gov.kh"),
    Column("display_name", rules.clean_display_name, help="the person's name (Khmer allowed)"),
    Column("quota_mb", _quota, help="mailbox size in MB (default: the domain's)"),
    Column(
        "password",
        _password,
        secret=True,
        generate=generate_password,
        help="left empty, one is generated and delivered once",
    ),
)
ALIAS_COLUMNS = (
    Column("address", _address(True), required=True, help="the alias address, e.g. info@moh.gov.kh"),
    Column(
        "destinations",
        lambda t: rules.clean_destinations(t, "destinations"),
        required=True,
        help="addresses it delivers to, separated by spaces",
    ),
)


def _split(address: str) -> tuple[str, str]:
    local, domain = address.rsplit("@", 1)
    return local, domain


def _domains(org: Organization, rows: list[dict]) -> dict[str, MailDomain]:
    names = {_split(r["address"])[1] for r in rows}
    s = db.session()
    return {
        d.name: d
        for d in s.scalars(select(MailDomain).where(MailDomain.name.in_(names), MailDomain.org_id == org.id))
        if d.status in (DS.ACTIVE, DS.PENDING)
    }


def _not_ours(domain: str) -> Verdict:
    return Verdict(
        "invalid", key="mail.domain_unknown", message=f"{domain} is not an active mail domain of your ministry."
    )


def _existing(domains: dict[str, MailDomain]) -> tuple[dict, dict]:
    s = db.session()
    ids = [d.id for d in domains.values()]
    boxes = {
        (b.domain_id, b.local_part): b
        for b in s.scalars(select(Mailbox).where(Mailbox.domain_id.in_(ids), Mailbox.status.in_(list(LIVE))))
    }
    aliases = {(a.domain_id, a.source): a for a in s.scalars(select(MailAlias).where(MailAlias.domain_id.in_(ids)))}
    return boxes, aliases


def _mailbox_classify(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    domains = _domains(org, rows)
    boxes, aliases = _existing(domains)
    out = []
    for r in rows:
        local, name = _split(r["address"])
        dom = domains.get(name)
        if dom is None:
            out.append(_not_ours(name))
            continue
        box, alias = boxes.get((dom.id, local)), aliases.get((dom.id, local))
        if alias is not None:
            out.append(
                Verdict("conflict", alias.id, "mail.address_taken", f"{r['address']} exists already as an alias.")
            )
        elif box is not None:
            quota = r.get("quota_mb") or dom.default_quota_mb
            same_name = (box.display_name or "") == (r.get("display_name") or "")
            same = box.quota_mb == quota and same_name
            changeable = same_name and box.status in (MailboxStatus.ACTIVE, MailboxStatus.SUSPENDED)
            out.append(
                Verdict("noop", box.id)
                if same
                else Verdict("update", box.id, message=f"size {box.quota_mb} -> {quota} MB")
                if changeable and r.get("quota_mb")
                else Verdict(
                    "conflict",
                    box.id,
                    "mail.mailbox_differs",
                    f"{r['address']} exists with another size or name: change it with its own request.",
                )
            )
        else:
            out.append(Verdict("create"))
    return out


def _mailbox_quota(rows: list[dict]) -> dict[str, int]:
    names = {_split(r["address"])[1] for r in rows}
    default = dict(
        db.session()
        .execute(select(MailDomain.name, MailDomain.default_quota_mb).where(MailDomain.name.in_(names)))
        .all()
    )
    storage = sum(r.get("quota_mb") or default.get(_split(r["address"])[1], 0) for r in rows)
    return {"mailboxes": len(rows), "mail_storage_mb": storage}


def _mailbox_payload(row: dict) -> dict:
    local, _ = _split(row["address"])
    return {"domain_id": 1, "local_parts": [local], **({"quota_mb": row["quota_mb"]} if row.get("quota_mb") else {})}


def _mailbox_apply(actor: Actor, org: Organization, rows: list[dict], hidden: dict, start) -> list[Batch]:
    domains = _domains(org, rows)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        dom = domains[_split(r["address"])[1]]
        groups[(dom.id, r.get("quota_mb") or dom.default_quota_mb)].append(r)
    out = []
    for (domain_id, quota), group in groups.items():
        for i in range(0, len(group), rules.MAX_BATCH):
            chunk = group[i : i + rules.MAX_BATCH]
            locals_ = [_split(r["address"])[0] for r in chunk]
            payload = {
                "domain_id": domain_id,
                "local_parts": locals_,
                "quota_mb": quota,
                "display_names": {
                    lp: r["display_name"] for lp, r in zip(locals_, chunk, strict=True) if r.get("display_name")
                },
            }
            passwords = {lp: hidden[r["address"]]["password"] for lp, r in zip(locals_, chunk, strict=True)}
            req = start("mail.mailbox_create", payload, {"passwords": passwords})
            out.append(Batch(tuple(r["address"] for r in chunk), req))
    return out


def _mailbox_update(actor: Actor, org: Organization, rows: list[dict], start) -> list[Batch]:
    """Size changes, one mail.mailbox_quota request each."""
    return [
        Batch((r["address"],), start("mail.mailbox_quota", {"mailbox_id": r["_object_id"], "quota_mb": r["quota_mb"]}))
        for r in rows
    ]


def _mailbox_update_quota(rows: list[dict]) -> dict[str, int]:
    now = dict(
        db.session()
        .execute(select(Mailbox.id, Mailbox.quota_mb).where(Mailbox.id.in_([r["_object_id"] for r in rows])))
        .all()
    )
    return {"mail_storage_mb": sum(max(0, r["quota_mb"] - now.get(r["_object_id"], 0)) for r in rows)}


def _mailbox_state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    out = {}
    names = {_split(r["address"])[1] for r in rows}
    for box, dom_name in s.execute(
        select(Mailbox, MailDomain.name)
        .join(MailDomain, MailDomain.id == Mailbox.domain_id)
        .where(MailDomain.name.in_(names), Mailbox.org_id == org_id, Mailbox.status.in_(list(LIVE)))
    ):
        address = f"{box.local_part}@{dom_name}"
        if box.status == MailboxStatus.ACTIVE:
            out[address] = RowState("done", box.id)
        elif box.status == MailboxStatus.FAILED:
            out[address] = RowState("failed", box.id, "mail.mailbox_failed", "the mailbox job failed")
        else:
            out[address] = RowState("running", box.id)
    return out


def _live_boxes(s: Session, rows: list[dict]) -> dict[str, Mailbox]:
    """The live mailboxes of these rows' addresses, by address (any ministry's)."""
    names = {_split(r["address"])[1] for r in rows}
    return {
        f"{box.local_part}@{dom_name}": box
        for box, dom_name in s.execute(
            select(Mailbox, MailDomain.name)
            .join(MailDomain, MailDomain.id == Mailbox.domain_id)
            .where(MailDomain.name.in_(names), Mailbox.status.in_(list(LIVE)))
        )
    }


def _mailbox_delete_find(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    """A row saying delete: the ministry's mailbox of that address is deleted (its mail archived on
    the host, as mail.mailbox_delete does); none (gone already) is a no-op."""
    found = _live_boxes(db.session(), rows)
    out = []
    for r in rows:
        box = found.get(r["address"])
        if box is None:
            out.append(Verdict("noop"))
        elif box.org_id != org.id:
            out.append(Verdict("conflict", key="mail.not_yours", message=f"{r['address']} is not your mailbox."))
        elif box.status not in (MailboxStatus.ACTIVE, MailboxStatus.SUSPENDED, MailboxStatus.FAILED):
            out.append(
                Verdict(
                    "conflict",
                    box.id,
                    "mail.mailbox_busy",
                    f"{r['address']} is {box.status.value}: delete it once that is done.",
                )
            )
        else:
            out.append(Verdict("delete", box.id))
    return out


def _mailbox_delete_start(actor: Actor, org: Organization, rows: list[dict], start) -> list[Batch]:
    return [Batch((r["address"],), start("mail.mailbox_delete", {"mailbox_id": r["_object_id"]})) for r in rows]


def _mailbox_delete_state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    found = _live_boxes(s, rows)
    return {
        r["address"]: RowState("running", found[r["address"]].id)
        if r["address"] in found and found[r["address"]].org_id == org_id
        else RowState("done")
        for r in rows
    }


def _mail_placement(s: Session, org: Organization, rows: list[dict]) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    domains = _domains(org, rows)
    for r in rows:
        dom = domains.get(_split(r["address"])[1])
        host = s.get(Host, dom.host_id) if dom and dom.host_id else None
        counts[host.name if host else "?"] += 1
    return [f"{n} mail rows on {name}" for name, n in counts.items()]


def _alias_classify(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    domains = _domains(org, rows)
    boxes, aliases = _existing(domains)
    ours = {d.name for d in db.session().scalars(select(MailDomain).where(MailDomain.org_id == org.id))}
    out = []
    for r in rows:
        local, name = _split(r["address"])
        dom = domains.get(name)
        if dom is None:
            out.append(_not_ours(name))
            continue
        outside = [d for d in r["destinations"] if _split(d)[1] not in ours]
        if outside and not dom.external_forwarding:
            out.append(
                Verdict(
                    "invalid",
                    key="mail.forwarding_external_forbidden",
                    message=f"Your ministry's policy does not allow forwarding outside its own domains ({outside[0]}).",
                )
            )
            continue
        box, alias = boxes.get((dom.id, local)), aliases.get((dom.id, local))
        if box is not None:
            out.append(
                Verdict("conflict", box.id, "mail.address_taken", f"{r['address']} exists already as a mailbox.")
            )
        elif alias is not None:
            same = sorted(alias.destinations) == sorted(r["destinations"])
            out.append(
                Verdict("noop", alias.id)
                if same
                else Verdict(
                    "conflict",
                    alias.id,
                    "mail.alias_differs",
                    f"{r['address']} exists and delivers elsewhere: change it with its own request.",
                )
            )
        else:
            out.append(Verdict("create"))
    return out


BATCH_CHARS = 250_000  # JSON of one batch's aliases: a bundle's request payload holds 320,000 characters


def _alias_batches(group: list[dict]) -> list[list[dict]]:
    """Aliases in order, cut at rules.MAX_ALIAS_BATCH or BATCH_CHARS (long destination lists)."""
    out, part, size = [], [], 0
    for r in group:
        n = len(r["address"]) + sum(len(d) + 4 for d in r["destinations"]) + 40
        if part and (len(part) >= rules.MAX_ALIAS_BATCH or size + n > BATCH_CHARS):
            out.append(part)
            part, size = [], 0
        part.append(r)
        size += n
    return [*out, part] if part else out


def _alias_apply(actor: Actor, org: Organization, rows: list[dict], hidden: dict, start) -> list[Batch]:
    """One mail.alias_batch request (one job) per domain and batch of aliases, not one each."""
    domains = _domains(org, rows)
    by_domain: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_domain[_split(r["address"])[1]].append(r)
    out = []
    for name, group in by_domain.items():
        for part in _alias_batches(group):
            items = [{"source": _split(r["address"])[0], "destinations": r["destinations"]} for r in part]
            req = start("mail.alias_batch", {"domain_id": domains[name].id, "aliases": items})
            out.append(Batch(tuple(r["address"] for r in part), req))
    return out


def _alias_state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    out = {}
    names = {_split(r["address"])[1] for r in rows}
    for alias in s.scalars(
        select(MailAlias)
        .join(MailDomain, MailDomain.id == MailAlias.domain_id)
        .where(MailDomain.name.in_(names), MailAlias.org_id == org_id)
    ):
        status = "done" if alias.status == AliasStatus.ACTIVE else "running"
        out[alias.address] = RowState(status, alias.id)
    return out


def _nest(parent_kind: str, parent: dict, values: dict) -> dict:
    """Under a site, an address without @ is a name at the site's domain (info -> info@mptc.gov.kh)."""
    address, domain = values.get("address", "").strip(), parent_domain(parent_kind, parent)
    if address and "@" not in address and domain:
        values = {**values, "address": f"{address}@{domain}"}
    return values


ROWS = (
    RowKind(
        name="mailboxes",
        label=N_("Mailboxes"),
        request_kind="mail.mailbox_create",
        columns=MAILBOX_COLUMNS,
        key=lambda r: r["address"],
        classify=_mailbox_classify,
        quota=_mailbox_quota,
        apply=_mailbox_apply,
        state=_mailbox_state,
        payload=_mailbox_payload,
        placement=_mail_placement,
        order=30,
        update=_mailbox_update,
        update_quota=_mailbox_update_quota,
        parents=("sites",),
        nest=_nest,
        deletion=Deletion(("address",), _mailbox_delete_find, _mailbox_delete_start, _mailbox_delete_state),
    ),
    RowKind(
        name="aliases",
        label=N_("Mail aliases"),
        request_kind="mail.alias_batch",
        columns=ALIAS_COLUMNS,
        key=lambda r: r["address"],
        classify=_alias_classify,
        quota=lambda rows: {},
        apply=_alias_apply,
        state=_alias_state,
        order=40,  # not nested under sites: "aliases" there are the site's other names
    ),
)
