"""Users API: list, create, read, roles, password and second-factor resets; /me."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import ID, PageArgs, actor, operation, page_list, text
from panel.models.tenants import Role
from panel.services import users as users_svc

blp = Blueprint("api_users", __name__, url_prefix="/users", description="Accounts and their roles")
me_blp = Blueprint("api_me", __name__, description="The account of the token")

ROLES = ("webmaster", "org_admin", "operator", "admin", "auditor")


class MembershipSchema(Schema):
    org_id = fields.Integer()
    role = fields.Enum(Role, by_value=True)


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String()
    full_name = fields.String()
    is_active = fields.Boolean()
    totp_enabled = fields.Boolean()
    must_change_password = fields.Boolean()
    locale = fields.String()
    created_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)
    memberships = fields.List(fields.Nested(MembershipSchema))


class UserListArgs(PageArgs):
    q = fields.String(load_default="", validate=text(max=100))


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=text(min=1, max=64))
    email = fields.String(required=True, validate=text(max=254))
    full_name = fields.String(load_default="", validate=text(max=200))
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class UserCreatedSchema(UserSchema):
    one_time_password = fields.String(allow_none=True)


def raw(user, **extra) -> dict:
    """The user's attributes as a dict, for answers that add fields (dumped by the response schema)."""
    return {**{name: getattr(user, name) for name in UserSchema().fields}, **extra}


class RoleSchema(Schema):
    org_id = fields.Integer(required=True, strict=True, validate=ID)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class OneTimePasswordSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    one_time_password = fields.String()


class MeSchema(UserSchema):
    token_scope = fields.String(allow_none=True)
    staff_roles = fields.List(fields.String())


@operation(blp, "/")
@blp.arguments(UserListArgs, location="query")
@blp.response(200)
def user_list(args):
    return page_list(users_svc.user_list, args, UserSchema())


@operation(blp, "/", "POST")
@blp.arguments(UserCreateSchema)
@blp.response(201, UserCreatedSchema)
def user_create(data):
    """Create an account; the one-time password is in the answer, once."""
    user, one_time = users_svc.user_create(actor(), **data)
    return raw(user, one_time_password=one_time)


@operation(blp, "/<int:user_id>")
@blp.response(200, UserSchema)
def user_get(user_id: int):
    return users_svc.user_get(actor(), user_id)


@operation(blp, "/<int:user_id>/roles", "POST")
@blp.arguments(RoleSchema)
@blp.response(200, UserSchema)
def user_set_role(data, user_id: int):
    return users_svc.user_set_role(actor(), user_id, org_id=data["org_id"], role=data["role"])


@operation(blp, "/<int:user_id>/reset-password", "POST")
@blp.response(200, OneTimePasswordSchema)
def user_reset_password(user_id: int):
    user, one_time = users_svc.user_reset_password(actor(), user_id)
    return {"id": user.id, "username": user.username, "one_time_password": one_time}


@operation(blp, "/<int:user_id>/reset-2fa", "POST")
@blp.response(200, UserSchema)
def user_reset_2fa(user_id: int):
    return users_svc.user_reset_2fa(actor(), user_id)


@operation(blp, "/<int:user_id>/end-sessions", "POST")
@blp.response(200, UserSchema)
def user_end_sessions(user_id: int):
    """Log the user out everywhere: every web session ends (API tokens stay valid)."""
    return users_svc.user_sessions_end(actor(), user_id)


@operation(me_blp, "/me/end-sessions", "POST")
@me_blp.response(200, UserSchema)
def me_end_sessions():
    """Log yourself out of every web session (this token and your other tokens stay valid)."""
    return users_svc.user_sessions_end(actor())


@operation(me_blp, "/me")
@me_blp.response(200, MeSchema)
def me():
    a = actor()
    return raw(users_svc.user_self(a), token_scope=a.token_scope, staff_roles=sorted(r.value for r in a.staff_roles))
