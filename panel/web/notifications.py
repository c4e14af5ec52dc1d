"""The notifications page; the menu entry shows the number of unread ones."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required

from panel.services import notifications as notifications_svc
from panel.web.common import actor, nav, page_args
from panel.web.forms.requests import ActionForm

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


class _UnreadLabel:
    """A menu label computed when the menu is drawn: "Notifications (3)"."""

    def __str__(self) -> str:
        n = notifications_svc.notification_unread_count(actor())
        return _("Notifications (%(n)s)", n=n) if n else _("Notifications")


nav("notifications.index", _UnreadLabel())


@bp.get("/")
@login_required
def index():
    page, per_page = page_args()
    result = notifications_svc.notification_list(actor(), page=page, per_page=per_page, locale=str(get_locale()))
    return render_template("notifications/list.html", page=result, form=ActionForm(formdata=None))


@bp.post("/read")
@login_required
def read_all():
    ActionForm().validate_on_submit()
    notifications_svc.notification_mark_read(actor())
    flash(_("All notifications are marked read."), "success")
    return redirect(url_for("notifications.index"))


@bp.post("/<int:notification_id>/read")
@login_required
def read_one(notification_id: int):
    ActionForm().validate_on_submit()
    notifications_svc.notification_mark_read(actor(), notification_id=notification_id)
    return redirect(url_for("notifications.index"))
