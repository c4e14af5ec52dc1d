"""Every integer the API accepts (query and path parameters, request bodies, nested or not) has a
range in the OpenAPI document, so no value past what the database can store reaches a query
(SQLite raises OverflowError past 2^63), and a client can read the limits from the document."""

from __future__ import annotations

import pytest

from panel.models.tenants import OrgKind, Role
from tests.support.surfaces import api_headers

INT64_MAX = 2**63 - 1


def _schemas(spec: dict, schema: dict, seen: set):
    """The schema and every schema inside it (properties, items, $refs), each once."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen.add(name)
        schema = spec["components"]["schemas"][name]
    yield schema
    for sub in (schema.get("properties") or {}).values():
        yield from _schemas(spec, sub, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _schemas(spec, schema[key], seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            yield from _schemas(spec, sub, seen)


def input_integers(spec: dict):
    """(where, schema) for every integer an operation takes in."""
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not isinstance(op, dict):
                continue
            for param in [*ops.get("parameters", []), *op.get("parameters", [])]:
                schema = param.get("schema", {})
                if schema.get("type") == "integer":
                    yield f"{method.upper()} {path} {param['in']} {param['name']}", schema
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                for i, schema in enumerate(_schemas(spec, body, set())):
                    if schema.get("type") == "integer":
                        yield f"{method.upper()} {path} body #{i}", schema


def test_every_integer_input_has_a_range(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    found = list(input_integers(spec))
    assert len(found) > 20, len(found)  # the walk itself reaches parameters and bodies
    missing = [
        where for where, s in found if s.get("minimum") is None or s.get("maximum") is None or s["maximum"] > INT64_MAX
    ]
    assert not missing, "integers without a range:\n" + "\n".join(missing)


@pytest.mark.parametrize("value", ["99999999999999999999", str(2**63), str(-(2**63) - 1), "-1"])
def test_out_of_range_query_integers_are_a_clean_422(app, make, value):
    """`GET /api/v1/sites/?org_id=99999999999999999999` was a 500 (OverflowError on SQLite)."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER)
    headers = api_headers(make.make_user(Role.ADMIN, dc))
    client, seen, failures = app.test_client(), 0, []
    for path, ops in spec["paths"].items():
        if "{" in path or "get" not in ops:
            continue
        for param in ops["get"].get("parameters", []):
            if param["in"] == "query" and param.get("schema", {}).get("type") == "integer":
                seen += 1
                resp = client.get(path, query_string={param["name"]: value}, headers=headers)
                if resp.status_code != 422 or resp.mimetype != "application/problem+json":
                    failures.append(f"{path}?{param['name']}={value}: {resp.status_code}")
    assert seen > 10, seen
    assert not failures, "\n".join(failures)
