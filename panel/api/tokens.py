"""API tokens API: the token's user lists, creates (plaintext returned once) and revokes tokens."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import PageArgs, actor, operation, page_list, text
from panel.config import TOKEN_DAYS_MAX
from panel.models.users import TokenScope
from panel.services import tokens as tokens_svc

blp = Blueprint("api_tokens", __name__, url_prefix="/tokens", description="API tokens")


class TokenSchema(Schema):
    id = fields.Integer()
    user_id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    scope = fields.Enum(TokenScope, by_value=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True)


class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=text(min=1, max=100))
    scope = fields.String(required=True, validate=validate.OneOf(("read", "write")))
    days = fields.Integer(
        load_default=90,
        strict=True,
        validate=validate.Range(min=1),
        # The upper limit is checked by the service (key token.days_invalid), stated here.
        metadata={
            "maximum": TOKEN_DAYS_MAX,
            "description": "lifetime in days; the panel's auth.token_max_days may set a lower limit",
        },
    )


class TokenCreatedSchema(TokenSchema):
    token = fields.String()


@operation(blp, "/")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def token_list(args):
    return page_list(tokens_svc.token_list, args, TokenSchema())


@operation(blp, "/", "POST")
@blp.arguments(TokenCreateSchema)
@blp.response(201, TokenCreatedSchema)
def token_create(data):
    """Create a token for the token's own user; `token` is in this answer only."""
    token, plaintext = tokens_svc.token_create(actor(), **data)
    return {**{name: getattr(token, name) for name in TokenSchema().fields}, "token": plaintext}


@operation(blp, "/<int:token_id>", "DELETE")
@blp.response(204)
def token_revoke(token_id: int):
    tokens_svc.token_revoke(actor(), token_id)
    return ""
