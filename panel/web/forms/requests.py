"""Forms of the generic request pages. The core's kinds (quota change, host bootstrap and ping) have
their form here, registered with `register_form(kind)`; a capability's kinds are asked for on its own
pages (its web.py), which may also register a form here. Choices are filled per request from the
services."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from panel.models.quotas import DEFAULT_LIMITS
from panel.models.requests import ApprovalMode
from panel.services import quotas as quotas_svc
from panel.services.kinds_core import QuotaChangePayload
from panel.services.request_kinds import field_limits

FORMS: dict[str, type[KindForm]] = {}

MODE_LABELS = {
    ApprovalMode.AUTO: _l("Automatic within budget"),
    ApprovalMode.ONE: _l("One approval"),
    ApprovalMode.TWO: _l("Two approvals by different people"),
}


def resource_label(resource: str) -> str:
    """A budget resource's label in the reader's language (the capabilities' manifests name them)."""
    return _(quotas_svc.resource_label(resource))


def resource_choices() -> list[SelectChoice]:
    return [SelectChoice(r, resource_label(r)) for r in DEFAULT_LIMITS]


def register_form(kind: str):
    """Class decorator: the form that builds the payload of `kind` on the new-request page."""

    def deco(cls):
        FORMS[kind] = cls
        return cls

    return deco


class KindForm(FlaskForm):
    """Base of every per-kind form: the organization, then the kind's own fields."""

    org_id = SelectField(_l("Organization"), coerce=int, validators=[InputRequired()])
    staff_only = False  # True: filed for the data center itself, no organization choice

    def payload(self) -> dict:
        raise NotImplementedError

    def fill(self, choices: dict) -> None:
        """Set the choices of select fields from `choices` (organizations, hosts ...)."""
        self.org_id.choices = choices.get("orgs", [])


_LIMIT = field_limits(QuotaChangePayload, "new_limit")  # the kind's schema: one set of numbers
_REASON = field_limits(QuotaChangePayload, "reason")


@register_form("quota.change")
class QuotaChangeForm(KindForm):
    resource = SelectField(
        _l("Resource"),
        validators=[DataRequired()],
        choices=resource_choices,
    )
    new_limit = IntegerField(_l("New limit"), validators=[InputRequired(), NumberRange(min=_LIMIT[0], max=_LIMIT[1])])
    reason = TextAreaField(_l("Why is it needed?"), validators=[DataRequired(), Length(max=_REASON[1])])

    def payload(self) -> dict:
        return {"resource": self.resource.data, "new_limit": self.new_limit.data, "reason": self.reason.data}


class HostForm(KindForm):
    host_id = SelectField(_l("Host"), coerce=int, validators=[DataRequired()])
    staff_only = True

    def fill(self, choices: dict) -> None:
        super().fill(choices)
        self.host_id.choices = choices.get("hosts", [])

    def payload(self) -> dict:
        return {"host_id": self.host_id.data}


register_form("host.bootstrap")(type("HostBootstrapForm", (HostForm,), {}))
register_form("host.ping")(type("HostPingForm", (HostForm,), {}))


class DecisionForm(FlaskForm):
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=2000)])


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=4000)])


class ActionForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class PolicyForm(FlaskForm):
    mode = SelectField(
        _l("Approval"),
        choices=[SelectChoice(m.value, MODE_LABELS[m]) for m in ApprovalMode],
        validators=[DataRequired()],
    )
