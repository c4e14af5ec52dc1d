"""The mail platform's use cases: what web, API and CLI call (each the same function).

Changes are requests (kinds in mail.kinds): the functions here validate the surface's input,
file the request with its secrets (passwords, hashed at once by the kind) and return it; the
request engine approves, holds the budget and submits the job. Reads are scoped to the actor.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver
from sqlalchemy import bindparam, func, select

from panel import db, events
from panel.boot import current as current_settings
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.mail import MAIL_ROLE, rules
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail.models import MailAlias, Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.errors import Invalid, PanelError
from panel.models.hosts import Host
from panel.models.jobs import Job, JobHost, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from panel.services import hosts as hosts_svc
from panel.services import jobs as jobs_svc
from panel.services import pki, requests
from panel.services.actor import Actor, get_scoped, require_org_role, require_staff, scoped, system_actor
from panel.services.audit import audited
from panel.services.pagination import Page, Window, paginate, window
from panel.services.sweeps import Swept, sweep_hosts
from panel.services.tenants import valid_id

RESOLVE_TIMEOUT_S = 3.0
USAGE_STATUSES = (MailboxStatus.ACTIVE, MailboxStatus.SUSPENDED)  # what holds mail on a host


# ---- reading ---------------------------------------------------------------------------------


def mail_domain_list(actor: Actor, *, page: int = 1, per_page: int = 50) -> Page:
    with db.unit_of_work():
        return paginate(
            scoped(select(MailDomain), actor, MailDomain).order_by(MailDomain.name), page=page, per_page=per_page
        )


def mail_domain_get(actor: Actor, domain_id) -> MailDomain:
    with db.unit_of_work():
        return get_scoped(MailDomain, valid_id(domain_id, "mail_domain"), actor, "mail_domain")


def mail_domain_by_name(actor: Actor, name: str) -> MailDomain:
    with db.unit_of_work() as s:
        dom = s.scalars(
            scoped(select(MailDomain).where(MailDomain.name == str(name).lower()[:253]), actor, MailDomain)
        ).first()
        if dom is None:
            return get_scoped(MailDomain, -1, actor, "mail_domain")  # the same 404 as any other miss
        return dom


def mailbox_list(actor: Actor, *, domain_id, page: int = 1, per_page: int = 50, deleted: bool = False) -> Page:
    dom = mail_domain_get(actor, domain_id)
    stmt = scoped(select(Mailbox), actor, Mailbox).where(Mailbox.domain_id == dom.id)
    if not deleted:
        stmt = stmt.where(Mailbox.status != MailboxStatus.DELETED)
    with db.unit_of_work():
        return paginate(stmt.order_by(Mailbox.local_part), page=page, per_page=per_page)


def mailbox_window(
    actor: Actor,
    *,
    domain_id,
    per_page: int = 50,
    cursor: str | None = None,
    page: int | None = None,
    with_total: bool = False,
) -> Window:
    """A domain's live mailboxes by address as plain rows, in one statement: the domain is joined
    (for the address) and scoped with them; only an empty page asks whether the domain exists, so
    another ministry's domain is still a 404."""
    did = valid_id(domain_id, "mail_domain")
    params: dict = {"domain_id": did}
    if not actor.sees_all:
        params["orgs"] = sorted(actor.org_ids)
    shape = ("mailboxes", "orgs" in params)
    win = window(
        lambda: _mailbox_rows(scoped_to_orgs=shape[1]),
        [(Mailbox.local_part, "address"), (Mailbox.id, "id")],
        per_page=per_page,
        cursor=cursor,
        page=page,
        with_total=with_total,
        cursor_value=lambda row: [row.address.rsplit("@", 1)[0], row.id],
        shape=shape,
        params=params,
    )
    if not win.items:
        mail_domain_get(actor, did)  # NotFound when the domain is not the actor's
    return win


def _mailbox_rows(*, scoped_to_orgs: bool):
    """The select of mailbox_window, its values left as bindparams (prepared once per shape)."""
    stmt = (
        select(
            Mailbox.id,
            Mailbox.org_id,
            Mailbox.domain_id,
            (Mailbox.local_part + "@" + MailDomain.name).label("address"),
            Mailbox.display_name,
            Mailbox.quota_mb,
            Mailbox.used_mb,
            Mailbox.status,
            Mailbox.password_changed_at,
            Mailbox.created_at,
        )
        .join(MailDomain, MailDomain.id == Mailbox.domain_id)
        .where(Mailbox.domain_id == bindparam("domain_id"), Mailbox.status != MailboxStatus.DELETED)
    )
    if scoped_to_orgs:  # what panel.services.actor.scoped does, with the actor's orgs as a value
        stmt = stmt.where(Mailbox.org_id.in_(bindparam("orgs", expanding=True)))
    return stmt


def mailbox_get(actor: Actor, mailbox_id) -> Mailbox:
    with db.unit_of_work():
        return get_scoped(Mailbox, valid_id(mailbox_id, "mailbox"), actor, "mailbox")


def mailbox_by_address(actor: Actor, address: str) -> Mailbox:
    """A live mailbox by its address (the CLI's handle), scoped like any read."""
    local, _, domain = str(address).strip().lower().partition("@")
    dom = mail_domain_by_name(actor, domain)
    with db.unit_of_work() as s:
        box = s.scalars(
            scoped(select(Mailbox), actor, Mailbox).where(
                Mailbox.domain_id == dom.id, Mailbox.local_part == local[:64], Mailbox.status != MailboxStatus.DELETED
            )
        ).first()
        return box if box is not None else get_scoped(Mailbox, -1, actor, "mailbox")


def alias_list(actor: Actor, *, domain_id, page: int = 1, per_page: int = 50) -> Page:
    dom = mail_domain_get(actor, domain_id)
    stmt = scoped(select(MailAlias), actor, MailAlias).where(MailAlias.domain_id == dom.id)
    with db.unit_of_work():
        return paginate(stmt.order_by(MailAlias.source), page=page, per_page=per_page)


def alias_get(actor: Actor, alias_id) -> MailAlias:
    with db.unit_of_work():
        return get_scoped(MailAlias, valid_id(alias_id, "mail_alias"), actor, "mail_alias")


def mail_ca_pem(actor: Actor) -> str:
    """The certificate users install once so their mail apps trust govhost's mail hosts."""
    return pki.ca_pem()


def mail_host_name(actor: Actor, domain: MailDomain) -> str:
    with db.unit_of_work() as s:
        host = s.get(Host, domain.host_id) if domain.host_id else None
        return host.name if host else ""


def mail_hosts(actor: Actor, *, page: int = 1, per_page: int = 50) -> Page:
    """Registered hosts with role mail (data-center staff): the mail servers page."""
    require_staff(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR)
    return hosts_svc.host_list(actor, role=MAIL_ROLE, page=page, per_page=per_page)


@audited("mail.server_setup", "job")
def mail_server_setup(actor: Actor, *, host_id) -> object:
    """Data-center staff: (re)build a mail host's whole configuration (idempotent)."""
    hosts_svc.host_get(actor, valid_id(host_id, "host"))  # a ministry gets 404 as for a missing host
    require_staff(actor)
    with db.unit_of_work():
        return jobs_svc.job_submit(
            actor, kind="mail.server", org_id=None, host_ids=[valid_id(host_id, "host")], params={}
        )


@audited("mail.usage_collect", "job")
def mail_usage_collect(actor: Actor) -> Swept:
    """Data-center staff (and the schedule): one mail.usage job per usable mail host with live
    mailboxes, skipping a host whose previous usage job has not finished (no pile-up behind a slow one)."""
    require_staff(actor)
    unfinished = (
        select(JobHost.host_id)
        .join(Job, Job.id == JobHost.job_id)
        .where(Job.kind == "mail.usage", Job.status.in_((JobStatus.PENDING, JobStatus.RUNNING)))
    )
    with db.unit_of_work() as s:
        host_ids = s.scalars(
            select(MailDomain.host_id)
            .join(Mailbox, Mailbox.domain_id == MailDomain.id)
            .where(Mailbox.status.in_(USAGE_STATUSES), MailDomain.host_id.not_in(unfinished))
            .distinct()
        ).all()
        found = sweep_hosts(s, host_ids, "mail.usage")
        jobs = [jobs_svc.job_submit(actor, kind="mail.usage", org_id=None, host_ids=[h], params={}) for h in found.ids]
        return Swept(jobs, found.skipped)


# ---- asking for changes (each files one request; passwords only as its secrets) ------------------


def _ask(actor: Actor, kind: str, org_id: int, payload: dict, secrets: dict | None = None) -> Request:
    return requests.request_create(actor, kind=kind, org_id=org_id, payload=payload, secrets=secrets)


def mail_domain_create(
    actor: Actor,
    *,
    org_id,
    name: str,
    contact: str,
    external_forwarding: bool = False,
    on_suspend: str = "defer",
    default_quota_mb: int = 1024,
    host_id: int | None = None,
    exceed_capacity: bool = False,
) -> Request:
    """Mail for a verified domain; data-center operators may choose the host (`host_id`, checked
    against its mailboxes capacity unless `exceed_capacity`)."""
    payload = {
        "name": name,
        "contact": contact,
        "external_forwarding": external_forwarding,
        "on_suspend": on_suspend,
        "default_quota_mb": default_quota_mb,
    }
    if host_id is not None:
        payload["host_id"] = host_id
    if exceed_capacity:
        payload["exceed_capacity"] = True
    return _ask(actor, "mail.domain_create", org_id, payload)


def mailbox_create(actor: Actor, *, domain_id, mailboxes: list[dict], quota_mb: int | None = None) -> Request:
    """mailboxes: [{"local_part", "password", "display_name"?}, ...] of one domain: one request, one job."""
    dom = mail_domain_get(actor, domain_id)
    if not isinstance(mailboxes, list) or not mailboxes or not all(isinstance(m, dict) for m in mailboxes):
        raise Invalid("mail.local_parts_required", "Give at least one mailbox name.", field="local_parts")
    _check_entries(dom, mailboxes)
    locals_ = [m.get("local_part") for m in mailboxes]
    passwords = {str(m.get("local_part")): m.get("password") for m in mailboxes}
    names = {str(m.get("local_part")): m.get("display_name") for m in mailboxes if m.get("display_name")}
    payload = {"domain_id": dom.id, "local_parts": locals_, "quota_mb": quota_mb or dom.default_quota_mb}
    if names:
        payload["display_names"] = names
    try:
        return _ask(actor, "mail.mailbox_create", dom.org_id, payload, {"passwords": passwords})
    except PanelError as err:
        if err.key == "mail.address_taken":  # name the entry of the address that exists already
            taken = str(err.params.get("address", "")).split("@")[0]
            lower = [str(m.get("local_part") or "").strip().lower() for m in mailboxes]
            if taken in lower:
                err.params["entry"] = lower.index(taken) + 1
        raise


def _check_entries(dom: MailDomain, mailboxes: list[dict]) -> None:
    """Each entry on its own first, so an error names the entry it is about (params["entry"], from 1):
    in a batch of 200, "line 57: the password is too short" is what a person can fix."""
    seen: set[str] = set()
    for n, m in enumerate(mailboxes, start=1):
        try:
            local = rules.clean_local_part(m.get("local_part"), "local_parts")
            if local in seen:
                raise Invalid(
                    "mail.local_part_duplicate",
                    "{value} appears twice in the request.",
                    field="local_parts",
                    value=local,
                )
            seen.add(local)
            pw.password_check(m.get("password"), address=f"{local}@{dom.name}")
            if m.get("display_name"):
                rules.clean_display_name(m["display_name"])
        except PanelError as err:
            err.params["entry"] = n
            raise


def _box_request(actor: Actor, kind: str, mailbox_id, extra: dict | None = None, secrets=None) -> Request:
    box = mailbox_get(actor, mailbox_id)
    return _ask(actor, kind, box.org_id, {"mailbox_id": box.id, **(extra or {})}, secrets)


def mailbox_quota_set(actor: Actor, *, mailbox_id, quota_mb) -> Request:
    return _box_request(actor, "mail.mailbox_quota", mailbox_id, {"quota_mb": quota_mb})


def mailbox_password_set(actor: Actor, *, mailbox_id, password: str) -> Request:
    box = mailbox_get(actor, mailbox_id)
    pw.password_check(password, address=box.address)  # the kind checks again, without the address
    return _box_request(actor, "mail.mailbox_password", box.id, secrets={"password": password})


def mailbox_suspend(actor: Actor, *, mailbox_id) -> Request:
    return _box_request(actor, "mail.mailbox_suspend", mailbox_id)


def mailbox_unsuspend(actor: Actor, *, mailbox_id) -> Request:
    return _box_request(actor, "mail.mailbox_unsuspend", mailbox_id)


def mailbox_delete(actor: Actor, *, mailbox_id) -> Request:
    return _box_request(actor, "mail.mailbox_delete", mailbox_id)


def alias_create(actor: Actor, *, domain_id, source: str, destinations) -> Request:
    """destinations: a list of addresses, or text with them separated by spaces, commas or lines."""
    dom = mail_domain_get(actor, domain_id)
    if isinstance(destinations, str):
        destinations = rules.split_words(destinations)
    return _ask(
        actor, "mail.alias_create", dom.org_id, {"domain_id": dom.id, "source": source, "destinations": destinations}
    )


def alias_delete(actor: Actor, *, alias_id) -> Request:
    alias = alias_get(actor, alias_id)
    return _ask(actor, "mail.alias_delete", alias.org_id, {"alias_id": alias.id})


# ---- DNS: publish MX, SPF, DKIM, DMARC; check what resolvers see ---------------------------------


def wanted_records(domain: MailDomain, host: Host) -> list[dict]:
    name = domain.name
    recs = [
        {"name": f"{name}.", "type": "MX", "data": f"10 mail.{name}."},
        {"name": f"mail.{name}.", "type": "A", "data": host.address},
        {"name": f"{name}.", "type": "TXT", "data": "v=spf1 mx -all"},
        {
            "name": f"_dmarc.{name}.",
            "type": "TXT",
            "data": f"v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@{name}",
        },
    ]
    if domain.dkim_public_key:
        recs.append(
            {
                "name": f"{domain.dkim_selector}._domainkey.{name}.",
                "type": "TXT",
                "data": f"v=DKIM1; k=rsa; p={domain.dkim_public_key}",
            }
        )
    return recs


@audited("mail_domain.dns_publish", "mail_domain")
def mail_domain_dns_publish(actor: Actor, *, domain_id) -> MailDomain:
    """(Re)publish the domain's mail records in its zone, if govhost hosts the zone."""
    with db.unit_of_work() as s:
        dom = get_scoped(MailDomain, valid_id(domain_id, "mail_domain"), actor, "mail_domain")
        host = s.get(Host, dom.host_id)
        if host is not None and dom.status == MailDomainStatus.ACTIVE:
            dns_svc.records_publish(
                actor, org_id=dom.org_id, fqdn=dom.name, source=f"mail:{dom.id}", records=wanted_records(dom, host)
            )
        return dom


@dataclass(frozen=True)
class RecordCheck:
    name: str
    rtype: str
    wanted: str
    status: str  # ok | missing | wrong | unknown


def _answers(resolver: dns.resolver.Resolver, name: str, rtype: str) -> list[str] | None:
    try:
        ans = resolver.resolve(name, rtype, lifetime=RESOLVE_TIMEOUT_S, raise_on_no_answer=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
        return []
    except dns.exception.DNSException:
        return None
    if rtype == "TXT":
        return [b"".join(rd.strings).decode("utf-8", "replace") for rd in ans.rrset or []]
    return [rd.to_text().lower() for rd in ans.rrset or []]


def mail_domain_dns_check(actor: Actor, *, domain_id) -> MailDomain:
    """Ask the configured resolver for each wanted record; store and return the live status.

    The look-ups (up to 5 s each) run between two short transactions, never inside one: on SQLite a
    transaction holds the write lock, so a silent resolver would stall every other request.
    """
    with db.unit_of_work() as s:
        dom = get_scoped(MailDomain, valid_id(domain_id, "mail_domain"), actor, "mail_domain")
        require_org_role(actor, dom.org_id)  # it stores the result: writers only, never a read token
        host = s.get(Host, dom.host_id)
        wanted = wanted_records(dom, host) if host else []
    address = current_settings().dns.resolver
    resolver = dns.resolver.Resolver(configure=not address)
    if address:
        resolver.nameservers = [address]
    status = {}
    for rec in wanted:
        got = _answers(resolver, rec["name"], rec["type"])
        key = f"{rec['type']} {rec['name']}"
        status[key] = (
            "unknown"
            if got is None
            else "ok"
            if rec["data"].lower() in [g.lower() for g in got]
            else ("wrong" if got else "missing")
        )
    return _dns_status_store(actor, domain_id=dom.id, status=status)


@audited("mail_domain.dns_check", "mail_domain")
def _dns_status_store(actor: Actor, *, domain_id: int, status: dict) -> MailDomain:
    with db.unit_of_work():
        dom = get_scoped(MailDomain, domain_id, actor, "mail_domain")
        require_org_role(actor, dom.org_id)
        dom.dns_status, dom.dns_checked_at = status, db.utcnow()
        return dom


@events.request_moved.connect
def _publish_on_done(req: Request, *, old: RequestStatus, new: RequestStatus, **_) -> None:
    """When a domain's request is done (key made on the host), its records go to DNS."""
    if req.kind != "mail.domain_create" or new != RequestStatus.DONE:
        return
    s = db.session()
    dom = s.scalars(select(MailDomain).where(MailDomain.request_id == req.id)).first()
    if dom is None:
        return
    try:  # a DNS problem must not undo the finished job: it is shown on the domain instead
        with s.begin_nested():
            mail_domain_dns_publish(system_actor("worker", "mail"), domain_id=dom.id)
    except PanelError as e:
        dom.last_error = f"DNS: {e.text()}"[:1000]


def mailbox_counts(actor: Actor, domain_ids: list[int]) -> dict[int, int]:
    """Live mailboxes per domain (one grouped query) for domain lists."""
    with db.unit_of_work() as s:
        rows = s.execute(
            select(Mailbox.domain_id, func.count())
            .where(Mailbox.domain_id.in_(domain_ids), Mailbox.status != MailboxStatus.DELETED)
            .group_by(Mailbox.domain_id)
        )
        return dict(rows.all())
