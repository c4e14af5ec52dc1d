"""What every capability's move card shares (panel.services.moves): who sees it, the host choices,
and the moves table (templates/moves/_moves.html)."""

from __future__ import annotations

from wtforms.fields.choices import SelectChoice

from panel.models.tenants import Role
from panel.services import hosts as hosts_svc
from panel.services.actor import Actor
from panel.web.forms.moves import MoveForm


def may_move(a: Actor) -> bool:
    """Data-center operators and admins with a writing session or token start moves."""
    return a.has_staff(Role.OPERATOR, Role.ADMIN) and a.can_write


def move_form(a: Actor, role: str, most_room: str, form: MoveForm | None = None) -> MoveForm:
    """The form with the active hosts of `role` to choose from (`most_room`: the empty choice's label,
    translated); the service checks room and fit again."""
    form = form or MoveForm(prefix="move")
    hosts = hosts_svc.host_list(a, role=role, state="active", per_page=200).items
    form.host_id.choices = [SelectChoice("", most_room)] + [
        SelectChoice(str(h.id), f"{h.name} ({h.address})") for h in hosts
    ]
    return form
