"""Notifications API: the token user's notifications, and marking them read."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from panel.api.common import PageArgs, actor, operation, page_body
from panel.services import notifications as notifications_svc

blp = Blueprint("api_notifications", __name__, url_prefix="/notifications", description="Notifications")


class NotificationSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    subject = fields.String()
    body = fields.String()
    link = fields.String()
    org_id = fields.Integer(allow_none=True)
    read_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class NotificationArgs(PageArgs):
    unread = fields.Boolean(load_default=False)


class MarkedSchema(Schema):
    marked = fields.Integer()


@operation(blp, "/")
@blp.arguments(NotificationArgs, location="query")
@blp.response(200)
def notification_list(args):
    page = notifications_svc.notification_list(actor(), **args)
    body = page_body(page, NotificationSchema())
    body["unread_total"] = notifications_svc.notification_unread_count(actor())
    return body


@operation(blp, "/read", "POST")
@blp.response(200, MarkedSchema)
def notification_read_all():
    return {"marked": notifications_svc.notification_mark_read(actor())}


@operation(blp, "/<int:notification_id>/read", "POST")
@blp.response(200, MarkedSchema)
def notification_read(notification_id: int):
    return {"marked": notifications_svc.notification_mark_read(actor(), notification_id=notification_id)}
