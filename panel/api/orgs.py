"""Organizations API: list, create, read, rename, deactivate, members."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import PageArgs, actor, operation, page_body, page_list, text
from panel.services import tenants

blp = Blueprint("api_orgs", __name__, url_prefix="/orgs", description="Organizations: ministries, departments")

KINDS = ("datacenter", "ministry", "department")
_ID = validate.Range(min=1, max=2**63 - 1)


class OrgSchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    name_km = fields.String()
    kind = fields.Function(lambda o: o.kind.value)
    parent_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class OrgListArgs(PageArgs):
    q = fields.String(load_default="", validate=text(max=100))


class OrgCreateSchema(Schema):
    slug = fields.String(required=True, validate=text(min=2, max=63))
    name = fields.String(required=True, validate=text(min=1, max=200))
    name_km = fields.String(load_default="", validate=text(max=200))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    parent_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=_ID)


class OrgUpdateSchema(Schema):
    name = fields.String(validate=text(min=1, max=200))
    name_km = fields.String(validate=text(max=200))
    parent_id = fields.Integer(allow_none=True, strict=True, validate=_ID)


class MemberSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    roles = fields.List(fields.String())


@operation(blp, "/")
@blp.arguments(OrgListArgs, location="query")
@blp.response(200)
def org_list(args):
    return page_list(tenants.org_list, args, OrgSchema())


@operation(blp, "/", "POST")
@blp.arguments(OrgCreateSchema)
@blp.response(201, OrgSchema)
def org_create(data):
    """Create a ministry, a department (with its ministry as parent_id) or the data center (once)."""
    return tenants.org_create(actor(), **data)


@operation(blp, "/<int:org_id>")
@blp.response(200, OrgSchema)
def org_get(org_id: int):
    return tenants.org_get(actor(), org_id)


@operation(blp, "/<int:org_id>", "PATCH")
@blp.arguments(OrgUpdateSchema)
@blp.response(200, OrgSchema)
def org_update(data, org_id: int):
    return tenants.org_update(actor(), id=org_id, **data)


@operation(blp, "/<int:org_id>/deactivate", "POST")
@blp.response(200, OrgSchema)
def org_deactivate(org_id: int):
    return tenants.org_deactivate(actor(), id=org_id)


@operation(blp, "/<int:org_id>/members")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def org_members(args, org_id: int):
    page = tenants.org_members(actor(), org_id, args["page"], args["per_page"])
    body = page_body(page, MemberSchema(exclude=("roles",)))
    for item, user in zip(body["items"], page.items, strict=True):
        item["roles"] = tenants.roles_in(user, org_id)
    return body
