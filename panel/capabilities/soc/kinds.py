"""The SOC's containment actions as requests in the ministry's own list. Importing this module
registers them (the capability loader does).

A user locked or a token revoked by the security operation center cannot wait for an approval, so
nobody asks for these kinds: containment files them done (`requests.request_record`) in the
ministry the user belongs to, with the reason in the payload (the list shows it) and as the first
comment, as a suspension's reason is. A suspension needs no kind here: it is the ministry's own
`*_suspend` request.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from panel.models.requests import ApprovalMode
from panel.models.tenants import Organization
from panel.services.actor import Actor
from panel.services.request_kinds import N_, RequestKind, register, says

REASON_MAX = 2000
ID = validate.Range(min=1, max=2**63 - 1)


class UserLockRecord(Schema):
    user_id = fields.Integer(required=True, strict=True, validate=ID)
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=REASON_MAX))


class TokenRevokeRecord(Schema):
    token_id = fields.Integer(required=True, strict=True, validate=ID)
    token_name = fields.String(required=True, validate=validate.Length(max=100))
    prefix = fields.String(required=True, validate=validate.Length(max=16))
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=REASON_MAX))


def _loaded(actor: Actor, org: Organization, payload: dict) -> dict:
    return payload  # the schema checked it; containment built it from the rows it acted on


USER_LOCK = register(
    RequestKind(
        name="soc.user_lock",
        label=N_("Account locked by the SOC"),
        who_may_request=frozenset(),  # recorded only: containment files it, done
        validate=_loaded,
        describe=says(N_("Account {username} locked by the security operation center: {reason}")),
        default_policy=ApprovalMode.AUTO,
        schema=UserLockRecord,
    )
)

TOKEN_REVOKE = register(
    RequestKind(
        name="soc.token_revoke",
        label=N_("API token revoked by the SOC"),
        who_may_request=frozenset(),
        validate=_loaded,
        describe=says(
            N_("Token {token_name} ({prefix}…) of {username} revoked by the security operation center: {reason}")
        ),
        default_policy=ApprovalMode.AUTO,
        schema=TokenRevokeRecord,
    )
)
