"""Notifications: a row in the panel for each user, and an e-mail copy sent after the commit.

The e-mail goes through the SMTP server of settings.smtp (nothing is sent when its host is empty),
only after the transaction commits, so a rolled-back change never mails anyone. Callers pass
subjects and bodies free of secrets; a failing mail server is logged and never breaks the change.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from panel import boot, db
from panel.models.notifications import Notification
from panel.models.tenants import Membership, Role
from panel.models.users import User
from panel.services.actor import Actor, refuse_read_token
from panel.services.pagination import Page, paginate
from panel.services.tenants import valid_id

log = logging.getLogger(__name__)


def notify(
    session: Session,
    users: Iterable[User | int],
    *,
    kind: str,
    subject: str,
    body: str = "",
    link: str = "",
    org_id: int | None = None,
) -> list[Notification]:
    """Add one notification per user (deduplicated) and queue its e-mail for after the commit."""
    ids = sorted({u if isinstance(u, int) else u.id for u in users if u is not None})
    if not ids:
        return []
    rows = [
        Notification(user_id=uid, org_id=org_id, kind=kind, subject=subject[:200], body=body, link=link[:300])
        for uid in ids
    ]
    session.add_all(rows)
    session.flush()
    recipients = [e for (e,) in session.execute(select(User.email).where(User.id.in_(ids), User.is_active)) if e]
    if recipients:
        _after_commit(session, lambda: send_mail(recipients, subject, f"{body}\n\n{link}".strip()))
    return rows


def staff_approvers(session: Session, *, exclude: int | None = None) -> list[int]:
    """Active operators and admins: the people asked to decide on a new request."""
    stmt = (
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.role.in_([Role.OPERATOR, Role.ADMIN]), User.is_active)
        .distinct()
    )
    return [uid for uid in session.scalars(stmt) if uid != exclude]


def _after_commit(session: Session, callback) -> None:
    if session.info.get("uow_depth"):
        db.on_commit(callback)
    else:  # the job runner may finish a request outside a unit of work
        event.listen(session, "after_commit", lambda _s: callback(), once=True)


def send_mail(recipients: list[str], subject: str, body: str) -> bool:
    """Send one message to each recipient through settings.smtp; False when skipped or failed."""
    smtp = boot.current().smtp
    if not smtp.host or not recipients:
        return False
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as conn:
            if smtp.starttls:
                conn.starttls(context=ssl.create_default_context())
            if smtp.username:
                conn.login(smtp.username, smtp.password)
            for to in recipients:
                msg = EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = smtp.sender, to, subject
                msg.set_content(body or subject)
                conn.send_message(msg)
        return True
    except (OSError, smtplib.SMTPException) as e:
        # The change is committed already; a mail outage must not turn it into an error page.
        log.warning("notification mail to %d recipient(s) failed: %s", len(recipients), type(e).__name__)
        return False


# ---- reading and marking -----------------------------------------------------------------------


def _mine(actor: Actor):
    return select(Notification).where(Notification.user_id == (actor.user_id or -1))


def notification_list(actor: Actor, *, page: int = 1, per_page: int = 50, unread: bool = False) -> Page:
    with db.unit_of_work():
        stmt = _mine(actor)
        if unread:
            stmt = stmt.where(Notification.read_at.is_(None))
        return paginate(stmt.order_by(Notification.id.desc()), page=page, per_page=per_page)


def notification_unread_count(actor: Actor) -> int:
    if actor.user_id is None:
        return 0
    with db.unit_of_work() as s:
        return (
            s.scalar(
                select(func.count(Notification.id)).where(
                    Notification.user_id == actor.user_id, Notification.read_at.is_(None)
                )
            )
            or 0
        )


def notification_mark_read(actor: Actor, *, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) notification of the actor read; returns how many."""
    refuse_read_token(actor)
    with db.unit_of_work() as s:
        stmt = update(Notification).where(Notification.user_id == (actor.user_id or -1), Notification.read_at.is_(None))
        if notification_id is not None:
            stmt = stmt.where(Notification.id == valid_id(notification_id, "notification"))
        return s.execute(stmt.values(read_at=db.utcnow())).rowcount or 0
