"""The user's own API tokens: list, create (the token is shown once), revoke."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from panel.errors import PanelError
from panel.services import tokens as tokens_svc
from panel.web.auth import no_store
from panel.web.common import actor, apply_error, nav, page_args, settings
from panel.web.forms.tokens import TokenCreateForm
from panel.web.forms.users import ConfirmForm

bp = Blueprint("tokens", __name__, url_prefix="/tokens")

nav("tokens.index", _l("API tokens"))


def _page(form, status=200):
    page, per_page = page_args()
    result = tokens_svc.token_list(actor(), page, per_page)
    return render_template(
        "tokens/list.html", page=result, form=form, confirm=ConfirmForm(), max_days=settings().auth.token_max_days
    ), status


@bp.get("/")
@login_required
def index():
    return _page(TokenCreateForm(formdata=None))


@bp.post("/")
@login_required
def create():
    form = TokenCreateForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    try:
        token, plaintext = tokens_svc.token_create(
            actor(), name=form.name.data, scope=form.scope.data, days=form.days.data
        )
    except PanelError as err:
        apply_error(form, err)
        return _page(form, err.status)
    return no_store(render_template("tokens/created.html", token=token, plaintext=plaintext))


@bp.post("/<int:token_id>/revoke")
@login_required
def revoke(token_id: int):
    ConfirmForm().validate_on_submit()
    tokens_svc.token_revoke(actor(), token_id)
    flash(_("The token was revoked."), "success")
    return redirect(url_for("tokens.index", **({"page": request.args["page"]} if "page" in request.args else {})))
