"""Mail capabilities: mail.server (set a host up), mail.domain (domains + DKIM keys), mail.mailboxes
(every mailbox and alias change, as ONE run whatever the batch size), mail.usage (every mailbox's
storage as dovecot counts it, read back into Mailbox.used_mb).

Each run sends the host's whole desired state for postfix's tables (so a run converges, whatever
the host held) plus the objects this job changes; password hashes travel only as job secrets.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from panel import events
from panel.capabilities.mail.models import (
    AliasStatus,
    MailAlias,
    Mailbox,
    MailboxStatus,
    MailDomain,
    MailDomainStatus,
    MailMove,
)
from panel.db import utcnow
from panel.jobs.capabilities import Capability, job_hosts, job_secrets, register, settings, target_of
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.moves import LEAVING
from panel.models.tenants import Role
from panel.services import pki
from panel.services.quotas import quota_release
from provisioners.base import Result


def N_(text: str) -> str:
    """Marks a notification message for the catalog; each reader sees it in their language."""
    return text


OVER_QUOTA = N_("Mailbox {address} uses {used} MB, over its quota of {limit} MB: new mail is refused")
M = MailboxStatus
ON_HOST = {M.PENDING: "active", M.ACTIVE: "active", M.SUSPENDED: "suspended"}
UNDO = {"suspend": M.ACTIVE, "unsuspend": M.SUSPENDED}
USAGE_CHUNK = 1000  # mailboxes per UPDATE (usage: 2 bound values each), far below SQLite's 32,766


def ca_dir() -> Path:
    return settings().path(pki.CA_FOLDER)


def mail_name(host: Host) -> str:
    """The name the host greets with and its certificate carries first."""
    return host.name if "." in host.name else f"{host.name}.mail.govhost.invalid"


def host_state(
    session: Session,
    host: Host,
    absent_ids: frozenset[int] = frozenset(),
    *,
    with_domain_ids: tuple[int, ...] = (),
    without_domain_ids: tuple[int, ...] = (),
) -> dict:
    """govhost_mail: every domain, mailbox and alias the host should serve (three queries). A domain
    moving away stays in its old host's state until its own clean-up (which passes it in
    `without_domain_ids`): another job there meanwhile must not drop it before DNS has switched.
    The move's copy adds the domain it brings (`with_domain_ids`)."""
    leaving = select(MailMove.domain_id).where(
        MailMove.from_host_id == host.id,
        MailMove.status.in_(LEAVING),
    )
    on_host = (MailDomain.host_id == host.id) | MailDomain.id.in_(leaving)
    if with_domain_ids:
        on_host = on_host | MailDomain.id.in_(with_domain_ids)
    if without_domain_ids:
        on_host = on_host & MailDomain.id.not_in(without_domain_ids)
    domains = list(session.scalars(select(MailDomain).where(on_host).order_by(MailDomain.name)))
    live = {d.id: d for d in domains if d.status in (MailDomainStatus.PENDING, MailDomainStatus.ACTIVE)}
    rows = session.execute(
        select(Mailbox.id, Mailbox.local_part, Mailbox.domain_id, Mailbox.quota_mb, Mailbox.status)
        .where(Mailbox.domain_id.in_(live), Mailbox.status.in_(list(ON_HOST)))
        .order_by(Mailbox.id)
    ).all()
    aliases = session.scalars(
        select(MailAlias).where(MailAlias.domain_id.in_(live), MailAlias.status != AliasStatus.DELETING)
    ).all()
    return {
        "domains": [{"name": d.name, "selector": d.dkim_selector, "state": "active"} for d in live.values()],
        "mailboxes": [
            {
                "address": f"{lp}@{live[did].name}",
                "quota_mb": q,
                "state": ON_HOST[st],
                "on_suspend": live[did].on_suspend.value,
            }
            for i, lp, did, q, st in rows
            if i not in absent_ids
        ],
        "aliases": [{"source": a.address, "destinations": list(a.destinations)} for a in aliases],
    }


def tls_for(host: Host, state: dict) -> tuple[dict, dict]:
    """The host's certificate for its greeting name and every domain's mail name (extravars, secrets)."""
    names = [mail_name(host)] + [f"mail.{d['name']}" for d in state["domains"]]
    key, chain = pki.issue(ca_dir(), names, [host.address])
    return {"mail_tls_chain_pem": chain, "mail_webmail_names": [*names, host.address]}, {"mail_tls_key_pem": key}


def _one_host(job: Job, session: Session) -> Host:
    hosts = job_hosts(job, session)
    if len(hosts) != 1:
        raise ValueError("a mail job runs on exactly one host")
    return hosts[0]


def _server_build(job: Job, session: Session):
    host = _one_host(job, session)
    state = host_state(session, host)
    extra, secrets = tls_for(host, state)
    extra.update(
        govhost_mail=state,
        postfix_myhostname=mail_name(host),
        dovecot_postmaster=f"postmaster@{mail_name(host)}",
        dovecot_archive_days=settings().mail.archive_days,
    )
    if job.params.get("auth_failure_delay") is not None:
        extra["dovecot_auth_failure_delay"] = str(int(job.params["auth_failure_delay"]))
    return extra, secrets, [target_of(host)]


def _domain_build(job: Job, session: Session):
    """The host's whole state; a clean-up (params remove) also takes the removed domain's mailboxes
    out of dovecot's users file (the domain is `deleting`, so the state no longer has it)."""
    host = _one_host(job, session)
    state = host_state(session, host)
    extra, secrets = tls_for(host, state)
    extra["govhost_mail"] = state
    if job.params.get("remove"):
        gone = [{"address": b.address, "state": "absent"} for b in _boxes(job, session)]
        extra["govhost_mail_changes_json"] = compact(gone)
        extra["dovecot_archive_days"] = settings().mail.archive_days
    return extra, secrets, [target_of(host)]


def compact(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _mailboxes_build(job: Job, session: Session):
    host = _one_host(job, session)
    ids = job.params.get("mailbox_ids") or []
    boxes = list(session.scalars(select(Mailbox).where(Mailbox.id.in_(ids)))) if ids else []
    deleting = frozenset(b.id for b in boxes if b.status == M.DELETING)
    changes = [
        {
            "address": b.address,
            "quota_mb": b.quota_mb,
            "on_suspend": b.domain.on_suspend.value,
            "state": "absent" if b.id in deleting else ON_HOST.get(b.status, "absent"),
        }
        for b in boxes
    ]
    # One JSON string each instead of structures: Ansible templates a structure leaf by leaf (about
    # 3 s per run for 1,000 mailboxes); a string passes untouched and the module checks each entry.
    extra = {
        "govhost_mail_json": compact(host_state(session, host, deleting)),
        "govhost_mail_changes_json": compact(changes),
        "dovecot_archive_days": settings().mail.archive_days,
    }
    hashes = job_secrets(job)
    return extra, ({"govhost_mail_hashes": json.dumps(hashes)} if hashes else {}), [target_of(host)]


# ---- end of a job ---------------------------------------------------------------------------


def _store_dkim(session: Session, host: Host, result: Result) -> None:
    keys = (result.data or {}).get("govhost_dkim") or {}
    for dom in session.scalars(select(MailDomain).where(MailDomain.host_id == host.id)):
        if isinstance(keys.get(dom.name), str):
            dom.dkim_public_key = keys[dom.name][:4000]


def _domain_done(job: Job, session: Session, result: Result) -> None:
    host = _one_host(job, session)
    if job.params.get("remove"):
        _domain_removed(session, job)
        session.flush()
    _store_dkim(session, host, result)
    for dom in session.scalars(
        select(MailDomain).where(MailDomain.host_id == host.id, MailDomain.status == MailDomainStatus.PENDING)
    ):
        dom.move_to(MailDomainStatus.ACTIVE)
        dom.last_error = ""
        session.execute(
            update(MailAlias)
            .where(MailAlias.domain_id == dom.id, MailAlias.status == AliasStatus.PENDING)
            .values(status=AliasStatus.ACTIVE)
        )


def _domain_removed(session: Session, job: Job) -> None:
    """A clean-up succeeded: the domain's rows go (its mailboxes' budget with them), name free."""
    dom = session.get(MailDomain, job.params.get("domain_id"))
    if dom is None or dom.status != MailDomainStatus.DELETING:
        return
    made_by = set(session.scalars(select(Mailbox.request_id).where(Mailbox.domain_id == dom.id).distinct()))
    session.execute(delete(MailAlias).where(MailAlias.domain_id == dom.id))
    session.execute(delete(Mailbox).where(Mailbox.domain_id == dom.id))
    # its moves go with it (their table is the core's: no cascade from this one)
    session.execute(delete(MailMove).where(MailMove.domain_id == dom.id))
    # after the rows are gone: the release keeps what a request's live mailboxes hold (none here)
    quota_release(session, made_by)
    session.delete(dom)


def _domain_failed(job: Job, session: Session, result: Result) -> None:
    dom = session.get(MailDomain, job.params.get("domain_id"))
    if dom is not None and dom.status == MailDomainStatus.PENDING:
        dom.move_to(MailDomainStatus.FAILED)
        dom.last_error = (result.explanation or "")[:1000]
    elif dom is not None and dom.status == MailDomainStatus.DELETING and job.params.get("remove"):
        dom.move_to(MailDomainStatus(job.params.get("previous", "failed")))
        dom.last_error = f"Clean-up failed: {result.explanation or ''}"[:1000]


def _server_done(job: Job, session: Session, result: Result) -> None:
    host = _one_host(job, session)
    _store_dkim(session, host, result)
    host.facts = {**(host.facts or {}), "mail_server_at": utcnow().isoformat(timespec="seconds")}


def _boxes(job: Job, session: Session) -> list[Mailbox]:
    ids = job.params.get("mailbox_ids") or []
    return list(session.scalars(select(Mailbox).where(Mailbox.id.in_(ids)))) if ids else []


def _mailboxes_done(job: Job, session: Session, result: Result) -> None:
    op, now = job.params.get("op"), utcnow()
    ids = job.params.get("mailbox_ids") or []
    if op in ("create", "delete"):
        # Set-based: one UPDATE per chunk of a batch instead of an object and a move per mailbox
        # (the WHERE on the status is the transition check move_to makes: pending -> active,
        # deleting -> deleted; a row in any other state is left as it is).
        old, new = (M.PENDING, M.ACTIVE) if op == "create" else (M.DELETING, M.DELETED)
        values = {"status": new, "updated_at": now} | ({"deleted_at": now} if op == "delete" else {})
        for i in range(0, len(ids), USAGE_CHUNK):
            session.execute(
                update(Mailbox).where(Mailbox.id.in_(ids[i : i + USAGE_CHUNK]), Mailbox.status == old).values(**values)
            )
        if op == "delete":
            made_by = session.scalars(select(Mailbox.request_id).where(Mailbox.id.in_(ids)).distinct())
            # each deleted mailbox frees its share; the create request keeps what its others hold
            quota_release(session, {r for r in made_by if r})
    elif op == "password":
        session.execute(update(Mailbox).where(Mailbox.id.in_(ids)).values(password_changed_at=now, updated_at=now))
    for alias in session.scalars(select(MailAlias).where(MailAlias.id.in_(job.params.get("alias_ids") or []))):
        if alias.status == AliasStatus.DELETING:
            session.delete(alias)
        else:
            alias.move_to(AliasStatus.ACTIVE)


def _mailboxes_failed(job: Job, session: Session, result: Result) -> None:
    op = job.params.get("op")
    for box in _boxes(job, session):
        if op == "create" and box.status == M.PENDING:
            box.move_to(M.FAILED)
        elif op in UNDO and box.status != UNDO[op]:
            box.move_to(UNDO[op])
        elif op == "delete" and box.status == M.DELETING:
            box.move_to(M(job.params.get("previous", "active")))
        elif op == "quota" and isinstance(job.params.get("old_quota_mb"), int):
            box.quota_mb = job.params["old_quota_mb"]
    for alias in session.scalars(select(MailAlias).where(MailAlias.id.in_(job.params.get("alias_ids") or []))):
        if alias.status == AliasStatus.DELETING:
            alias.move_to(AliasStatus.ACTIVE)


# ---- usage: `doveadm -f tab quota get -A` on the host, parsed here -----------------------------


def parse_quota_tab(text) -> dict[str, int]:
    """doveadm's tab table -> address -> storage used in KiB. Rows that are not a STORAGE count with a
    number (MESSAGE rows, a user doveadm could not read) are skipped; a table without the columns
    we read is an error, so a changed doveadm fails the job instead of zeroing every mailbox."""
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    if not lines:
        return {}
    head = [h.strip().lower() for h in lines[0].split("\t")]
    if not {"username", "type", "value"} <= set(head):
        raise ValueError(f"doveadm quota get: unexpected header {lines[0][:200]!r}")
    iu, it, iv = head.index("username"), head.index("type"), head.index("value")
    used = {}
    for line in lines[1:]:
        cols = [c.strip() for c in line.split("\t")]
        if len(cols) == len(head) and cols[it].upper() == "STORAGE" and cols[iv].isdigit():
            used[cols[iu].lower()] = int(cols[iv])
    return used


def _usage_build(job: Job, session: Session):
    return {}, {}, [target_of(_one_host(job, session))]


def _usage_done(job: Job, session: Session, result: Result) -> None:
    """Whole MB rounded up (a mailbox holding anything shows at least 1 MB), so `used_mb > quota_mb`
    means strictly over the quota; a mailbox that crosses it is reported once, until it drops back."""
    used_kb = parse_quota_tab((result.data or {}).get("mail_usage_tab"))
    rows = session.execute(
        select(Mailbox.id, Mailbox.local_part, MailDomain.name, Mailbox.org_id, Mailbox.quota_mb, Mailbox.used_mb)
        .join(MailDomain, MailDomain.id == Mailbox.domain_id)
        .where(MailDomain.host_id == _one_host(job, session).id, Mailbox.status.in_(list(ON_HOST)))
    ).all()
    new, crossed = {}, []
    for box_id, local, domain, org_id, quota_mb, old_mb in rows:
        kb = used_kb.get(f"{local}@{domain}")
        if kb is None:
            continue
        new[box_id] = -(-kb // 1024)
        if new[box_id] > quota_mb >= old_mb:
            crossed.append((org_id, box_id, f"{local}@{domain}", new[box_id], quota_mb))
    ids, now = sorted(new), utcnow()
    for i in range(0, len(ids), USAGE_CHUNK):
        chunk = {k: new[k] for k in ids[i : i + USAGE_CHUNK]}
        session.execute(
            update(Mailbox).where(Mailbox.id.in_(chunk)).values(used_mb=case(chunk, value=Mailbox.id), used_at=now)
        )
    _notify_over_quota(session, crossed)
    # The job keeps a summary, not the table (about 50 bytes a user on every run of every host).
    job.data = {"users_on_host": len(used_kb), "mailboxes_measured": len(new), "over_quota_new": len(crossed)}


def _notify_over_quota(session: Session, crossed: list[tuple]) -> None:
    """The ministry's admins (those who manage its mail) hear of each mailbox once per excess."""
    for org_id, box_id, address, used, quota in crossed:
        events.usage_over_limit.send(
            "mail",
            session=session,
            org_id=org_id,
            kind="mailbox.over_quota",
            subject=OVER_QUOTA,
            params={"address": address, "used": used, "limit": quota},
            link=f"/mail/mailboxes/{box_id}",
            roles=(Role.ORG_ADMIN,),
        )


register(
    Capability(
        "mail.server",
        "mail_server.yml",
        _server_build,
        on_success=_server_done,
        timeout_s=1200,
        description=N_("Set up a mail host: postfix, dovecot, opendkim, TLS, webmail"),
    )
)
register(
    Capability(
        "mail.domain",
        "mail_domain.yml",
        _domain_build,
        on_success=_domain_done,
        on_failure=_domain_failed,
        timeout_s=600,
        description=N_("Mail domains and their DKIM keys"),
    )
)
register(
    Capability(
        "mail.mailboxes",
        "mailbox_batch.yml",
        _mailboxes_build,
        on_success=_mailboxes_done,
        on_failure=_mailboxes_failed,
        timeout_s=900,
        description=N_("Mailboxes and aliases of one host, in one batch"),
    )
)
register(
    Capability(
        "mail.usage",
        "mail_usage.yml",
        _usage_build,
        on_success=_usage_done,
        timeout_s=300,
        description=N_("Read every mailbox's storage use from dovecot"),
    )
)
