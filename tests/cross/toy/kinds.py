"""The toy's request kind: `toy.thing_create` costs one `toys` and, once approved, runs `toy.thing_build`."""

from __future__ import annotations

from marshmallow import Schema, fields

from panel import db
from panel.models.requests import Request
from panel.models.tenants import MINISTRY_ROLES
from panel.services import jobs
from panel.services.request_kinds import RequestKind, register, reject_unknown, require_text, text
from tests.cross.toy.models import ToyThing


class ToyPayload(Schema):
    name = fields.String(required=True, validate=text(min=1, max=40))


def _validate(actor, org, payload: dict) -> dict:
    reject_unknown(payload, {"name"})
    return {"name": require_text(payload, "name", max_len=40)}


def _on_approve(actor, request: Request) -> list:
    s = db.session()
    thing = ToyThing(org_id=request.org_id, name=request.payload["name"])
    s.add(thing)
    s.flush()
    job = jobs.job_submit(
        actor,
        kind="toy.thing_build",
        org_id=request.org_id,
        host_ids=[],
        params={"thing_id": thing.id},
        request_id=request.id,
    )
    return [job]


register(
    RequestKind(
        name="toy.thing_create",
        label="Create a toy thing",
        who_may_request=MINISTRY_ROLES,
        validate=_validate,
        schema=ToyPayload,
        quota=lambda payload: {"toys": 1},
        on_approve=_on_approve,
        describe=lambda payload: f"toy {payload['name']}",
    )
)
