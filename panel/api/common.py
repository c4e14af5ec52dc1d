"""Shared pieces of the API: bearer-token authentication, the actor, problem+json errors."""

from __future__ import annotations

import datetime as dt
import functools
import json
from urllib.parse import urlencode

from flask import Response, current_app, g, jsonify, request
from marshmallow import Schema, fields, validate

from panel.errors import Forbidden, PanelError, Unauthorized
from panel.models.users import TokenScope
from panel.services import tokens as tokens_svc
from panel.services.actor import Actor
from panel.services.pagination import MAX_ID

PROBLEM = "application/problem+json"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Every integer the API takes has a range in its schema (and so in the OpenAPI document):
ID = validate.Range(min=1, max=MAX_ID)  # a row id: what a bigint column can hold
# A count or size whose precise limit the service checks (and names in its error key); this bound
# only keeps absurd values (past 2^31) from reaching the service or the database.
INT32 = validate.Range(min=0, max=2**31 - 1)
MAX_PAGE = 2**31 - 1
MAX_PER_PAGE = 200
# Control characters are refused in every string the API reads; text blocks (comments,
# certificates, nginx snippets) may hold tabs and line breaks. Stated as `pattern` in the schema.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
TEXT_BLOCK = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def text(min: int | None = None, max: int | None = None, *, multiline: bool = False) -> validate.Length:
    """The length check of a string the API reads, with the control-character rule stated as its
    `pattern`. The services enforce that rule themselves, with their own error keys (clients match
    on `name.invalid`, `token.name_invalid`...), so the schema states it rather than checks it first."""
    length = validate.Length(min=min, max=max)
    length.govhost_pattern = TEXT_BLOCK if multiline else ONE_LINE
    return length


def stated_pattern(self, field, **kwargs) -> dict:
    """apispec attribute function: the `pattern` a text() length check carries, into the schema."""
    for v in field.validators:
        pattern = getattr(v, "govhost_pattern", None)
        if pattern:
            return {"pattern": pattern}
    return {}


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of the API is sent (application/problem+json)."""

    type = fields.String(metadata={"description": "urn:govhost:error:<key>"})
    title = fields.String()
    status = fields.Integer(metadata={"description": "the HTTP status"})
    key = fields.String(metadata={"description": "stable error key clients match on"})
    detail = fields.String(metadata={"description": "English text; the web surface translates it"})
    field = fields.String(metadata={"description": "the input field at fault, if one is"})
    params = fields.Dict(metadata={"description": "the values in the message"})
    errors = fields.Dict(metadata={"description": "per-field messages when the body or query does not parse"})


def problem(status: int, key: str, detail: str = "", **extra):
    body = {"type": f"urn:govhost:error:{key}", "title": key, "status": status, "key": key, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = PROBLEM
    return resp


def http_error(err):
    code = getattr(err, "code", 500) or 500
    data = getattr(err, "data", None) or {}
    if code == 422 and "messages" in data:
        return problem(422, "invalid", "The request body or query is not valid.", errors=data["messages"])
    return problem(code, f"http.{code}", getattr(err, "description", "") or "")


def actor() -> Actor:
    """The token's user as an actor; the API never uses session cookies (no CSRF surface)."""
    if "actor" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("auth.token_required", "Send an API token: Authorization: Bearer <token>.")
        g.actor = tokens_svc.token_authenticate(
            token.strip(), client_addr=(request.remote_addr or "")[:64], request_id=g.get("request_id")
        )
        _refuse_read_token_writes(g.actor)
    return g.actor


def changes_nothing(fn):
    """Mark a POST endpoint that only computes (audit chain verification): read tokens may call it."""
    fn.changes_nothing = True
    return fn


def _refuse_read_token_writes(a: Actor) -> None:
    """A read token may not call any mutating method, whatever the service below would decide.

    The services refuse read tokens too (the web and CLI reach them directly); this is the API's own
    line, checked before the body is parsed so the answer is always 403, never a validation error.
    """
    if a.token_scope != TokenScope.READ.value or request.method in READ_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "changes_nothing", False):
        raise Forbidden("auth.read_only", "This account or token can only read.")


def authenticated(fn):
    """Resolve the actor before the view runs, so a missing token is a 401 even on bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        actor()
        return fn(*args, **kwargs)

    return wrapper


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


def page_body(page, schema: Schema) -> dict:
    return {
        "items": schema.dump(page.items, many=True),
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }


def panel_error(err: PanelError):
    return problem(err.status, err.key, err.text(), field=err.field, params=err.to_dict()["params"])


# ---- big lists: windows of rows, dumped without marshmallow -------------------------------------


class WindowArgs(Schema):
    """The big lists: `cursor` (from the previous answer's `next`) or `page`; `total=true` counts."""

    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    cursor = fields.String(
        load_default=None,
        validate=text(max=2000),
        metadata={"description": "the `next` of the previous page (keyset: as fast on page 1000 as on page 1)"},
    )
    page = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": "a page number instead of a cursor (an OFFSET: slower deep in a big list)"},
    )
    total = fields.Boolean(
        load_default=False, metadata={"description": "also count every matching row (`total`, `pages`)"}
    )


def window_schema(item: type[Schema]) -> type[Schema]:
    """The documented shape of a window answer whose items are `item` (the OpenAPI document is
    generated from it; window_response writes the same fields without marshmallow)."""
    return type(
        item.__name__.removesuffix("Schema") + "PageSchema",
        (Schema,),
        {
            "items": fields.List(fields.Nested(item)),
            "per_page": fields.Integer(),
            "next": fields.String(
                allow_none=True, metadata={"description": "URL of the next page (null on the last); also a Link header"}
            ),
            "page": fields.Integer(metadata={"description": "only when asked by page number"}),
            "total": fields.Integer(metadata={"description": "only with total=true"}),
            "pages": fields.Integer(metadata={"description": "only with total=true"}),
        },
    )


_PLAIN = (fields.String, fields.Integer, fields.Boolean, fields.List, fields.Dict)


def plain_dumper(schema: type[Schema]):
    """Rows to dicts as `schema` would dump them, for the fields it declares, without marshmallow:
    a dict per row and nothing else (bench/api.py measures both; tests check they agree)."""
    spec = []
    for name, fld in schema._declared_fields.items():
        if fld.load_only:
            continue
        if isinstance(fld, fields.DateTime):
            conv = dt.datetime.isoformat
        elif isinstance(fld, fields.Float):
            conv = float
        elif isinstance(fld, _PLAIN):
            conv = None
        else:
            raise TypeError(f"{schema.__name__}.{name}: {type(fld).__name__} has no plain dump")
        spec.append((fld.data_key or name, fld.attribute or name, conv))

    def dump(rows) -> list[dict]:
        out = []
        for row in rows:
            m = row._mapping
            item = {}
            for key, attr, conv in spec:
                v = m[attr]
                item[key] = conv(v) if conv is not None and v is not None else v
            out.append(item)
        return out

    return dump


def window_response(win, dump) -> Response:
    """The window as JSON: items, per_page, next (a URL with the same filters), and page, total,
    pages when asked; `next` is also sent as a Link header (RFC 8288)."""
    body: dict = {"items": dump(win.items), "per_page": win.per_page, "next": None}
    if win.next_cursor:
        query = [(k, v) for k, v in request.args.items(multi=True) if k not in ("cursor", "page")]
        query.append(("cursor", win.next_cursor))
        body["next"] = f"{request.path}?{urlencode(query)}"
    if win.page is not None:
        body["page"] = win.page
    if win.total is not None:
        body["total"], body["pages"] = win.total, win.pages
    resp = current_app.response_class(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")), mimetype="application/json"
    )
    if body["next"]:
        resp.headers["Link"] = f'<{body["next"]}>; rel="next"'
    return resp
