"""Shared pieces of the API: bearer-token authentication, the actor, problem+json errors."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import operator
import threading
from collections.abc import Callable
from urllib.parse import urlencode

import flask_smorest
from flask import Response, current_app, g, jsonify, request
from marshmallow import Schema, fields, validate
from webargs.flaskparser import FlaskParser

from panel.errors import Forbidden, PanelError, Unauthorized
from panel.models.users import TokenScope
from panel.services import request_kinds
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
# certificates, nginx snippets) may hold tabs and line breaks. Stated as `pattern` in the schema;
# `text` lives with the request kinds, whose payload schemas state it too.
ONE_LINE, TEXT_BLOCK, text = request_kinds.ONE_LINE, request_kinds.TEXT_BLOCK, request_kinds.text


class QueryCachingParser(FlaskParser):
    """webargs' parser for every API operation, with query arguments loaded once per schema and
    distinct query string in each process (the last QUERY_CACHE of them).

    A big list's requests repeat a few query strings (`per_page=50`, a filter), and loading them
    through marshmallow was about a tenth of a list request's CPU. The load is a function of the
    schema and the query string alone (no query schema has a default computed at load time); a
    query that does not validate raises and is never cached; each request gets its own copy of the
    values, so a view may change its arguments. Bodies and forms are parsed every time.
    """

    QUERY_CACHE = 1024

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._loaded: dict[tuple[Schema, bytes], dict] = {}
        self._lock = threading.Lock()
        self.enabled = True  # bench and tests compare with the uncached load

    def parse(self, argmap, req=None, *, location=None, **kwargs):
        if not (self.enabled and location == "query" and isinstance(argmap, Schema) and not kwargs.get("validate")):
            return super().parse(argmap, req, location=location, **kwargs)
        key = (argmap, (req or request).query_string)
        loaded = self._loaded.get(key)
        if loaded is None:
            loaded = super().parse(argmap, req, location=location, **kwargs)
            if not isinstance(loaded, dict):  # a schema whose post_load builds an object: not cached
                return loaded
            with self._lock:
                if len(self._loaded) >= self.QUERY_CACHE:
                    self._loaded.pop(next(iter(self._loaded)))  # the oldest
                self._loaded[key] = loaded
        return {k: copy.deepcopy(v) if isinstance(v, (list, dict, set)) else v for k, v in loaded.items()}


# Set before any API module decorates its operations (each imports this module first).
flask_smorest.Blueprint.ARGUMENTS_PARSER = QUERY_PARSER = QueryCachingParser()


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
        body = data["messages"].get("json") if isinstance(data["messages"], dict) else None
        schema = data.get("schema")
        if body and schema is not None:  # a request kind's field past its limit: its rule's key
            refusal = request_kinds.rule_refusal(type(schema), body, request.get_json(silent=True) or {})
            if refusal is not None:
                return panel_error(refusal)
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


BEARER = [{"bearer": []}]


def operation(blp, rule: str, *methods: str):
    """An API operation: blp.route(rule, methods) (default GET), its bearer security stated in the
    OpenAPI document, and the token resolved before anything else (see `authenticated`). Put the
    operation's @blp.arguments and @blp.response below it."""

    def deco(fn):
        return blp.route(rule, methods=list(methods or ("GET",)))(blp.doc(security=BEARER)(authenticated(fn)))

    return deco


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


def page_list(list_fn, args: dict, schema: Schema, **fixed) -> dict:
    """A paged list's answer: list_fn(actor, page=, per_page=, **filters) with the query's paging and
    filters (the arguments beyond page and per_page) and the URL's values (`fixed`), dumped by schema."""
    return page_body(list_fn(actor(), **fixed, **args), schema)


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

    keys = tuple(key for key, _a, _c in spec)
    attrs = [attr for _k, attr, _c in spec]
    converted = [(key, conv) for key, _a, conv in spec if conv is not None]
    pickers: dict[tuple, Callable] = {}  # the rows' column names -> what picks the schema's out of a row

    def picker(names: tuple) -> Callable:
        missing = [a for a in attrs if a not in names]
        if missing:
            raise KeyError(f"{schema.__name__}: the rows have no {', '.join(missing)}")
        at = [names.index(a) for a in attrs]
        if len(at) == 1:
            return lambda row, i=at[0]: (row[i],)
        return operator.itemgetter(*at)

    def dump(rows) -> list[dict]:
        if not rows:
            return []
        names = rows[0]._fields
        pick = pickers.get(names) or pickers.setdefault(names, picker(names))
        # dict(zip()) per row, then only the fields that need converting: a Python loop over every
        # field of every row cost more than encoding the page as JSON.
        out = [dict(zip(keys, pick(row), strict=True)) for row in rows]
        for key, conv in converted:
            for item in out:
                v = item[key]
                if v is not None:
                    item[key] = conv(v)
        return out

    return dump


PAGING = ("per_page", "cursor", "page")


def window_list(window_fn, args: dict, dump, **fixed) -> Response:
    """A big list's answer: window_fn(actor, per_page=, cursor=, page=, with_total=, **filters) with
    the query's paging and filters (every other argument of its WindowArgs) and the URL's values
    (`fixed`), written by window_response. The endpoints of the big lists are this one call."""
    filters = {k: v for k, v in args.items() if k not in (*PAGING, "total")}
    paging = {k: args[k] for k in PAGING}
    return window_response(window_fn(actor(), with_total=args["total"], **paging, **fixed, **filters), dump)


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
