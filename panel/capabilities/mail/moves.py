"""Moving a mail domain (its mailboxes, aliases and DKIM key) to another mail host: mail's part of
the core's move (panel.services.moves; docs/mail.md, "Moving a domain to another mail host";
issue 21: a host drain moves its mail domains this way too).

`mail_domain_move` (DC operators and admins: API, CLI) checks the new host the way an operator's
choice at creation is checked (a set-up mail host, active, room for the domain's mailboxes). The
`mail.domain_move` job runs on both hosts: the old host packs the domain's maildirs, its DKIM key
and its lines of dovecot's users file (password hashes: the panel has none), the controller carries
them, the new host gets them, its postfix maps, OpenDKIM tables and certificate from its state with
the domain, and must then answer for every mailbox (dovecot's userdb, postfix's domain table). The
switch re-publishes the domain's MX/A/SPF/DKIM/DMARC records through DNS's public service;
`mail.domain_move_cleanup` removes the domain from the old host (its maildirs archived there as a
mailbox delete does, its users lines, maps and key removed), `mail.domain_move_undo` removes a
failed move's copy from the new one. While a move is open the domain takes no mailbox or alias
change (kinds refuse them).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panel.capabilities.dns import service as dns_svc
from panel.capabilities.mail import CAPACITY, MAIL_ROLE
from panel.capabilities.mail import jobs as mail_jobs
from panel.capabilities.mail import kinds as mail_kinds
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import Mailbox, MailDomain, MailDomainStatus, MailMove
from panel.errors import Conflict, Invalid
from panel.jobs.capabilities import Capability, target_of
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job, JobHost, JobStatus
from panel.models.moves import MoveStatus
from panel.services import hosts as hosts_svc
from panel.services import moves
from panel.services.actor import Actor, get_scoped, system_actor
from panel.services.audit import audited
from panel.services.tenants import valid_id
from panel.services.workloads import Placed
from provisioners.base import Result

KIND = "mail_domain"
MOVE, CLEANUP, UNDO = "mail.domain_move", "mail.domain_move_cleanup", "mail.domain_move_undo"


def N_(text: str) -> str:
    return text


def _mailbox_count(s: Session, domain_id: int) -> int:
    live = (Mailbox.domain_id == domain_id, Mailbox.status.in_(list(mail_jobs.ON_HOST)))
    return s.scalar(select(func.count(Mailbox.id)).where(*live)) or 0


def move_target(s: Session, dom: MailDomain, host_id: int | None) -> Host:
    """The operator's host (a set-up, active mail host with room for the domain's mailboxes) or the
    one with the most room, never the one the domain is on."""
    if host_id is not None and host_id == dom.host_id:
        raise Invalid("mail.move_same_host", "The domain is already on that host.", field="host_id")
    count = _mailbox_count(s, dom.id)
    candidates = (
        [s.get(Host, host_id)] if host_id is not None else list(s.scalars(select(Host).where(Host.id != dom.host_id)))
    )
    fits = []
    for host in candidates:
        if host is None or MAIL_ROLE not in host.roles or not mail_kinds.mail_ready(host):
            if host_id is not None:
                raise Invalid(
                    "mail.host_invalid", "Host {id} is not a set-up mail host.", field="host_id", id=str(host_id)
                )
            continue
        used = mail_kinds.mailboxes_on(s, host.id) + _arriving(s, host.id)
        if host_id is not None:
            hosts_svc.host_room(host, resource=CAPACITY, used=used, count=max(count, 1), exceed=False)
            return host
        room = hosts_svc.capacity(host, CAPACITY) - used
        if host.state == HostState.ACTIVE and host.key_mismatch_at is None and room >= max(count, 1):
            fits.append((-room, host.id, host))
    if not fits:
        raise Conflict("mail.no_host", "No mail host has room; the data center must add one.")
    return min(fits)[2]


def _arriving(s: Session, host_id: int) -> int:
    """Mailboxes of domains still being copied to the host (their row points at the host only once
    the copy succeeded): they count on it, so two moves never take the same free room."""
    copying = select(MailMove.domain_id).where(MailMove.to_host_id == host_id, MailMove.status == MoveStatus.COPYING)
    live = (Mailbox.domain_id.in_(copying), Mailbox.status.in_(list(mail_jobs.ON_HOST)))
    return s.scalar(select(func.count(Mailbox.id)).where(*live)) or 0


def _busy(s: Session, host_id: int) -> Job | None:
    """An unfinished mail job on the host: the move waits for it (it may change this domain). Other
    domains' moves do not count: they change only their own domain (and the host's state keeps a
    leaving domain until its own clean-up, jobs.host_state)."""
    return s.scalars(
        select(Job)
        .join(JobHost, JobHost.job_id == Job.id)
        .where(
            JobHost.host_id == host_id,
            Job.kind.like("mail.%"),
            Job.kind.not_in((MOVE, CLEANUP, UNDO)),
            Job.status.in_((JobStatus.PENDING, JobStatus.RUNNING)),
        )
    ).first()


def _target(s: Session, dom: MailDomain, host_id: int | None) -> Host:
    """Refuses a domain that cannot move now, then picks the host (move_target)."""
    if dom.status != MailDomainStatus.ACTIVE or dom.host_id is None:
        raise Conflict("mail.domain_not_active", "The domain {name} is not active.", name=dom.name)
    if moves.open_move(s, MailMove, dom.id) is not None:
        raise Conflict("mail.domain_moving", "The domain {name} is being moved.", name=dom.name)
    busy = _busy(s, dom.host_id)
    if busy is not None:
        raise Conflict(
            "mail.host_busy", "Mail job {job} has not finished on the domain's host; move when it has.", job=busy.id
        )
    return move_target(s, dom, host_id)


@audited("mail_domain.move", "mail_move")
def mail_domain_move(actor: Actor, *, domain_id, host_id=None) -> MailMove:
    """Move a mail domain with its mailboxes to another mail host (`host_id`, or the one with the
    most room); returns the move, whose first job is queued once this commits."""
    return moves.move_start(actor, KIND, domain_id, host_id)


def mail_domain_moves(actor: Actor, domain_id) -> list[MailMove]:
    """The domain's moves, newest first: data-center staff only (they name hosts)."""
    return moves.move_list(actor, KIND, domain_id)


def _get(actor: Actor, domain_id) -> MailDomain:
    return get_scoped(MailDomain, valid_id(domain_id, "mail_domain"), actor, "mail_domain")


def domains_on_host(session: Session, host_id: int) -> list[Placed]:
    """Draining a host: the mail domains it holds (every status: one that cannot move now says why)."""
    rows = session.execute(
        select(MailDomain.id, MailDomain.name).where(MailDomain.host_id == host_id).order_by(MailDomain.id)
    )
    return [Placed(i, name, host_id) for i, name in rows]


# ---- the jobs ------------------------------------------------------------------------------------


def _move(job: Job, session: Session) -> tuple[MailMove, MailDomain]:
    move = session.get(MailMove, job.params["move_id"])
    return move, session.get(MailDomain, move.domain_id)


def _boxes(session: Session, dom: MailDomain) -> list[dict]:
    rows = session.execute(
        select(Mailbox.local_part, Mailbox.quota_mb, Mailbox.status)
        .where(Mailbox.domain_id == dom.id, Mailbox.status.in_(list(mail_jobs.ON_HOST)))
        .order_by(Mailbox.id)
    ).all()
    return [
        {
            "address": f"{lp}@{dom.name}",
            "quota_mb": q,
            "state": mail_jobs.ON_HOST[st],
            "on_suspend": dom.on_suspend.value,
        }
        for lp, q, st in rows
    ]


def _move_build(job: Job, session: Session):
    move, dom = _move(job, session)
    old, new = session.get(Host, move.from_host_id), session.get(Host, move.to_host_id)
    state = mail_jobs.host_state(session, new, with_domain_ids=(dom.id,))
    extra, secrets = mail_jobs.tls_for(new, state)
    boxes = _boxes(session, dom)
    extra.update(
        govhost_mail=state,
        govhost_mail_changes_json=mail_jobs.compact(boxes),
        dovecot_archive_days=mail_jobs.settings().mail.archive_days,
        govhost_move_domain=dom.name,
        govhost_move_addresses=[b["address"] for b in boxes],
        govhost_move_from=old.name,
        govhost_move_to=new.name,
    )
    return extra, secrets, [target_of(old), target_of(new)]


def _leave_build(job: Job, session: Session):
    """Clean-up (old host) or undo (new host): the host's state without the domain, and every
    mailbox of the domain `absent` (maildirs archived there, users lines removed, key removed)."""
    dom = _move(job, session)[1]
    host = session.get(Host, job.params["host_id"])
    state = mail_jobs.host_state(session, host, without_domain_ids=(dom.id,))
    extra, secrets = mail_jobs.tls_for(host, state)
    gone = [{"address": b["address"], "state": "absent"} for b in _boxes(session, dom)]
    extra.update(
        govhost_mail=state,
        govhost_mail_changes_json=mail_jobs.compact(gone),
        dovecot_archive_days=mail_jobs.settings().mail.archive_days,
    )
    return extra, secrets, [target_of(host)]


def _switch(session: Session, dom: MailDomain, host_id: int):
    """The domain's mail records point at `host_id`."""
    return dns_svc.records_switch(
        system_actor("worker", "panel:mail-move"), session, org_id=dom.org_id, fqdn=dom.name,
        source=f"mail:{dom.id}", records=mail_svc.wanted_records(dom, session.get(Host, host_id)),
    )  # fmt: skip


def _copied(session: Session, dom: MailDomain, result: Result) -> None:
    keys = (result.data or {}).get("govhost_dkim") or {}
    if isinstance(keys.get(dom.name), str):  # the same key, copied; read back from the new host
        dom.dkim_public_key = keys[dom.name][:4000]


MOVERS = (
    moves.Mover(
        kind=KIND,
        noun="domain",
        model=MailDomain,
        move_model=MailMove,
        audit="mail_domain",
        object_type="mail_move",
        name=lambda dom: dom.name,
        copy=Capability(
            MOVE,
            "mail_domain_move.yml",
            _move_build,
            timeout_s=3600,
            description=N_("Copy a mail domain to another host (maildirs, users, DKIM key, maps)"),
        ),
        cleanup=Capability(
            CLEANUP,
            "mail_domain.yml",
            _leave_build,
            timeout_s=900,
            description=N_("Remove a moved mail domain from its old host (maildirs archived)"),
        ),
        undo=Capability(
            UNDO,
            "mail_domain.yml",
            _leave_build,
            timeout_s=900,
            description=N_("Remove a failed mail move's copy from the new host"),
        ),
        get=_get,
        target=_target,
        params=lambda dom: {"domain_id": dom.id},
        switch=_switch,
        start=lambda actor, domain_id: mail_domain_move(actor, domain_id=domain_id),
        on_host=domains_on_host,
        copied=_copied,
    ),
)
