"""What every capability's move routes share: the request body and the move as answered
(panel.services.moves). The object's id keeps its capability's name (`site_id`, `domain_id`)."""

from __future__ import annotations

from marshmallow import Schema, fields

from panel.api.common import ID


def move_schemas(name: str, object_field: str, host_help: str) -> tuple[type[Schema], type[Schema]]:
    """(`{name}InSchema`, `{name}Schema`): the body of POST .../move and one move in answers
    (OpenAPI names them `{name}In` and `{name}`)."""
    body = type(
        f"{name}InSchema",
        (Schema,),
        {
            "host_id": fields.Integer(
                load_default=None, allow_none=True, strict=True, validate=ID, metadata={"description": host_help}
            )
        },
    )
    answer = type(
        f"{name}Schema",
        (Schema,),
        {
            "id": fields.Integer(),
            object_field: fields.Function(lambda m: m.object_id),
            "from_host_id": fields.Integer(),
            "to_host_id": fields.Integer(),
            "status": fields.Function(lambda m: m.status.value),
            "job_id": fields.Integer(allow_none=True),
            "error": fields.String(),
            "created_by_name": fields.String(),
            "created_at": fields.DateTime(),
            "finished_at": fields.DateTime(allow_none=True),
        },
    )
    return body, answer
