"""Notifications: a row in the panel for each user, and an e-mail copy sent after the commit.

Every notice goes through `notify` (the one door: jobs reach it through events.usage_over_limit and
events.needs_attention).
A row stores a message key, the English msgid marked with N_(), and its params, never a finished
sentence: each reader sees it rendered in their own language (the web page's locale, or the
user's `locale` for the API and e-mail, else settings.web.default_locale). Params whose name ends
in `_label` are msgids themselves (a request kind's label) and are translated too.

The e-mail goes through the SMTP server of settings.smtp (nothing is sent when its host is empty),
only after the transaction commits, so a rolled-back change never mails anyone. Callers pass
subjects and bodies free of secrets; a failing mail server is logged and never breaks the change.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import smtplib
import ssl
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.message import EmailMessage

from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from panel import boot, db, events
from panel.i18n import LOCALES, TRANSLATIONS
from panel.models.notifications import Notification
from panel.models.tenants import Membership, Role
from panel.models.users import User
from panel.services.actor import Actor, refuse_read_token
from panel.services.pagination import Page, paginate
from panel.services.tenants import valid_id

log = logging.getLogger(__name__)


def N_(text: str) -> str:
    """Marks a notification message for the translation catalog; it is translated when shown."""
    return text


def notify(
    session: Session,
    users: Iterable[User | int],
    *,
    kind: str,
    subject: str,
    body: str = "",
    params: dict | None = None,
    link: str = "",
    org_id: int | None = None,
) -> list[Notification]:
    """Add one notification per user (deduplicated) and queue its e-mail for after the commit.
    `subject` and `body` are N_() msgids with {name} placeholders filled from `params`."""
    ids = sorted({u if isinstance(u, int) else u.id for u in users if u is not None})
    if not ids:
        return []
    params = {k: v for k, v in (params or {}).items() if isinstance(v, (str, int, float))}
    rows = [
        Notification(
            user_id=uid, org_id=org_id, kind=kind, subject=subject[:200], body=body, params=params, link=link[:300]
        )
        for uid in ids
    ]
    session.add_all(rows)
    session.flush()
    recipients = session.execute(select(User.email, User.locale).where(User.id.in_(ids), User.is_active)).all()
    by_locale: dict[str, list[str]] = defaultdict(list)
    for email, locale in recipients:
        if email:
            by_locale[reader_locale(locale)].append(email)
    for locale, emails in sorted(by_locale.items()):
        subj, text = render(subject, params, locale), render(body, params, locale)
        _after_commit(session, lambda e=emails, s=subj, t=text: send_mail(e, s, f"{t}\n\n{link}".strip()))
    return rows


# ---- rendering in the reader's language --------------------------------------------------------


def reader_locale(locale: str | None) -> str:
    """The user's own language, else the panel's default."""
    return locale if locale in LOCALES else boot.current().web.default_locale


@functools.lru_cache(maxsize=len(LOCALES))
def _translations(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [locale], domain="messages")


def _param(name: str, value, locale: str):
    if name.endswith("_label") and isinstance(value, str):
        return _translations(locale).gettext(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_decimal(value, locale=locale, format="#,##0.#")
    return value


def render(msgid: str, params: dict | None, locale: str) -> str:
    """The message in `locale` with its params filled in. Rows from before messages were keys
    hold finished English text and no params: they are shown as they are."""
    if not msgid:
        return ""
    text = _translations(locale).gettext(msgid)
    if not params:
        return text
    try:
        return text.format(**{k: _param(k, v, locale) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):  # a catalog out of step with the row: show the English
        return msgid


@dataclass(frozen=True)
class Shown:
    """A notification as one reader sees it."""

    id: int
    kind: str
    subject: str
    body: str
    link: str
    org_id: int | None
    read_at: dt.datetime | None
    created_at: dt.datetime


def shown(n: Notification, locale: str) -> Shown:
    p = n.params or {}
    return Shown(
        n.id, n.kind, render(n.subject, p, locale), render(n.body, p, locale), n.link, n.org_id, n.read_at, n.created_at
    )


# ---- who hears of what --------------------------------------------------------------------------


@events.usage_over_limit.connect
@events.needs_attention.connect
def _on_usage_over_limit(
    sender,
    *,
    session: Session,
    org_id: int,
    kind: str,
    subject: str,
    params: dict,
    link: str = "",
    roles: Iterable[str] = (Role.ORG_ADMIN,),
    staff: bool = False,
    **_,
) -> None:
    """A measured usage crossed its limit, or a job found something to act on: the ministry's
    members in `roles` (and, with `staff`, the data center's operators and admins) hear of it, each
    in their own language."""
    wanted = [Role(r) for r in roles]
    where = Membership.role.in_(wanted) & (Membership.org_id == org_id)
    if staff:
        where = where | Membership.role.in_([Role.OPERATOR, Role.ADMIN])
    users = session.scalars(select(Membership.user_id).where(where).distinct())
    notify(session, list(users), kind=kind, subject=subject, params=params, link=link, org_id=org_id)


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


def notification_list(
    actor: Actor, *, page: int = 1, per_page: int = 50, unread: bool = False, locale: str | None = None
) -> Page:
    """The actor's notifications, rendered in `locale` (the web page's), else the user's own language."""
    with db.unit_of_work() as s:
        if locale not in LOCALES:
            locale = reader_locale(s.scalar(select(User.locale).where(User.id == (actor.user_id or -1))))
        stmt = _mine(actor)
        if unread:
            stmt = stmt.where(Notification.read_at.is_(None))
        result = paginate(stmt.order_by(Notification.id.desc()), page=page, per_page=per_page)
        return replace(result, items=[shown(n, locale) for n in result.items])


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
