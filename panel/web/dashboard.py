"""The landing page after login: a few counts and shortcuts for the user's role.

Each card is one service call (one page of a list, or one budget): no query per row, so the page
costs the same with ten requests or ten thousand. Capabilities add cards and shortcuts through their
manifest's `dashboard` function(actor) -> Contribution, handed in by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, current_app, render_template, url_for
from flask_babel import gettext as _
from flask_login import login_required

from panel.errors import PanelError
from panel.models.tenants import Role
from panel.services import hosts as hosts_svc
from panel.services import jobs as jobs_svc
from panel.services import notifications as notifications_svc
from panel.services import quotas as quotas_svc
from panel.services import requests as requests_svc
from panel.services.actor import Actor
from panel.web.common import actor, request_summary
from panel.web.forms.requests import resource_label
from panel.web.requests import is_approver

bp = Blueprint("dashboard", __name__)

SHOWN = 5  # rows listed on a card


@dataclass
class Card:
    title: str
    count: int
    link: str
    rows: list = field(default_factory=list)  # (label, url, status) tuples
    empty: str = ""
    tone: str = ""  # "attention" when the count asks for action


@dataclass
class Contribution:
    """What one capability adds to a user's dashboard."""

    cards: list[Card] = field(default_factory=list)
    shortcuts: list[tuple[str, str]] = field(default_factory=list)  # (label, url)


def _contributions(a: Actor) -> list[Contribution]:
    return [fn(a) for fn in current_app.extensions.get("govhost.dashboard", ())]


def _requests_card(a: Actor, title: str, link: str, empty: str, **filters) -> Card:
    page = requests_svc.request_list(a, per_page=SHOWN, **filters)
    rows = [
        (f"#{r.id} {request_summary(r)}", url_for("requests.detail", request_id=r.id), r.status.value)
        for r in page.items
    ]
    return Card(title, page.total, link, rows, empty)


def _jobs_card(a: Actor, status: str, title: str, empty: str) -> Card:
    page = jobs_svc.job_list(a, status=status, per_page=SHOWN)
    rows = [
        (f"#{j.id} {_(jobs_svc.job_description(j.kind))}", url_for("jobs.detail", job_id=j.id), j.status.value)
        for j in page.items
    ]
    return Card(title, page.total, url_for("jobs.index", status=status), rows, empty)


def _staff_cards(a: Actor) -> list[Card]:
    if is_approver(a):
        card = _requests_card(
            a,
            _("Waiting for your approval"),
            url_for("requests.index", view="queue"),
            _("Nothing is waiting for approval."),
            status="submitted",
        )
    else:
        card = _requests_card(
            a,
            _("Requests waiting for approval"),
            url_for("requests.index", view="all", status="submitted"),
            _("Nothing is waiting for approval."),
            status="submitted",
        )
    failed = _jobs_card(a, "failed", _("Failed jobs"), _("No job has failed."))
    page = hosts_svc.host_list(a, state="down", per_page=SHOWN)
    down = Card(
        _("Hosts down"),
        page.total,
        url_for("hosts.index", state="down"),
        [(h.name, url_for("hosts.detail", host_id=h.id), h.state.value) for h in page.items],
        _("Every host is up."),
    )
    for c in (card, failed, down):  # these ask someone to act
        c.tone = "attention" if c.count else ""
    return [card, _jobs_card(a, "running", _("Jobs running"), _("No job is running.")), failed, down]


def _ministry_cards(a: Actor, contributions: list[Contribution]) -> list[Card]:
    mine = _requests_card(
        a,
        _("My requests"),
        url_for("requests.index", view="mine"),
        _("You have not asked for anything yet."),
        mine=True,
    )
    return [mine, *(card for c in contributions for card in c.cards)]


def _budget(a: Actor) -> list:
    """The usage of the user's first ministry, for the few resources shown on the dashboard."""
    if a.is_staff or not a.org_roles:
        return []
    try:
        rows = quotas_svc.quota_usage(a, min(a.org_roles))
    except PanelError:
        return []
    return [
        (resource_label(r.resource), r.used, r.limit, _percent(r.used, r.limit))
        for r in rows
        if quotas_svc.RESOURCES[r.resource].watched
    ]


def _percent(used: int, limit: int) -> int:
    if not limit:
        return 100 if used else 0
    return min(100, round(100 * used / limit))


def _shortcuts(a: Actor, contributions: list[Contribution]) -> list[tuple[str, str]]:
    links = []
    if a.can_write and not a.has_staff(Role.AUDITOR):
        links.append((_("New request"), url_for("requests.choose")))
        if not a.is_staff:
            links.extend(link for c in contributions for link in c.shortcuts)
    if a.has_staff(Role.AUDITOR, Role.ADMIN):
        links.append((_("Audit log"), url_for("audit.index")))
    if a.is_staff and not a.has_staff(Role.AUDITOR):
        links.append((_("Hosts"), url_for("hosts.index")))
    return links


@bp.get("/")
@login_required
def index():
    a = actor()
    contributions = _contributions(a)
    cards = _staff_cards(a) if a.is_staff else _ministry_cards(a, contributions)
    unread = notifications_svc.notification_unread_count(a)
    shortcuts = _shortcuts(a, contributions)
    return render_template(
        "dashboard.html", actor=a, cards=cards, budget=_budget(a), unread=unread, shortcuts=shortcuts
    )
