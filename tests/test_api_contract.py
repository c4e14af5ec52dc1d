"""The API contract as written in /api/v1/openapi.json: errors are documented as what they are
(application/problem+json), non-JSON answers as their media type, and every limit the server
enforces on a string (length, no control characters) is stated in the schema."""

from __future__ import annotations

import pytest

from panel.api.common import PROBLEM
from panel.models.tenants import Role
from panel.services import tokens as tokens_svc

pytestmark = pytest.mark.usefixtures("booted")
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def spec(app):
    return app.test_client().get("/api/v1/openapi.json").get_json()


def resolve(spec, obj):
    while isinstance(obj, dict) and "$ref" in obj:
        section, name = obj["$ref"].split("/")[-2:]
        obj = spec["components"][section][name]
    return obj


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def input_arrays(spec, schema, where):
    """Every list an operation reads, with where it sits."""
    schema = resolve(spec, schema)
    for name, prop in schema.get("properties", {}).items():
        prop = resolve(spec, prop)
        if prop.get("type") == "array" and not prop.get("readOnly"):
            yield f"{where}.{name}", prop
            yield from input_arrays(spec, prop.get("items", {}), f"{where}.{name}[]")
        elif prop.get("type") == "object" or "properties" in prop:
            yield from input_arrays(spec, prop, f"{where}.{name}")


def input_strings(spec, schema, where):
    """Every string an operation reads (request body and parameters), with where it sits."""
    schema = resolve(spec, schema)
    if schema.get("type") == "object" or "properties" in schema:
        for name, prop in schema.get("properties", {}).items():
            if not prop.get("readOnly"):
                yield from input_strings(spec, prop, f"{where}.{name}")
    elif schema.get("type") == "array":
        yield from input_strings(spec, schema.get("items", {}), f"{where}[]")
    elif schema.get("type") == "string":
        yield where, schema


def test_every_operation_documents_problem_json_errors(spec):
    missing = []
    for path, method, op in operations(spec):
        default = resolve(spec, op["responses"].get("default", {}))
        if list(default.get("content", {})) != [PROBLEM]:
            missing.append(f"{method.upper()} {path}: {default}")
        for status, resp in op["responses"].items():
            resp = resolve(spec, resp)
            if status[0] in "45" and list(resp.get("content", {})) != [PROBLEM]:
                missing.append(f"{method.upper()} {path} {status}")
    assert not missing, missing
    problem = resolve(
        spec, resolve(spec, spec["components"]["responses"]["DEFAULT_ERROR"])["content"][PROBLEM]["schema"]
    )
    assert {"type", "title", "status", "key", "detail"} <= set(problem["properties"])


def test_problem_json_is_what_an_error_sends(app, spec):
    resp = app.test_client().get("/api/v1/hosts/")
    assert resp.status_code == 401 and resp.mimetype == PROBLEM
    problem = resolve(spec, spec["components"]["schemas"]["Problem"])
    assert set(resp.get_json()) <= set(problem["properties"])


@pytest.mark.parametrize("path", ["/api/v1/mail/ca.pem", "/api/v1/sites/ca.pem"])
def test_pem_endpoints_documented_as_pem(spec, path):
    op = spec["paths"][path]["get"]
    content = resolve(spec, op["responses"]["200"])["content"]
    assert list(content) == ["application/x-pem-file"]
    assert content["application/x-pem-file"]["schema"]["type"] == "string"


def test_every_input_string_states_its_limits(spec):
    """Length and the control-character rule on every string read, unless it is a closed set or a date."""
    missing = []
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        found = []
        for param in op.get("parameters", []):
            param = resolve(spec, param)
            found += input_strings(spec, param.get("schema", {}), f"{where} ?{param['name']}")
        for content in op.get("requestBody", {}).get("content", {}).values():
            found += input_strings(spec, content["schema"], where)
        for name, schema in found:
            if "enum" in schema or schema.get("format") in ("date-time", "date"):
                continue
            if "maxLength" not in schema:
                missing.append(f"{name}: no maxLength")
            if "pattern" not in schema:
                missing.append(f"{name}: no pattern (control characters)")
    assert not missing, "\n".join(missing)


def test_token_days_limit_is_in_the_schema_and_enforced(app, spec, make):
    body = resolve(
        spec, spec["paths"]["/api/v1/tokens/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    days = body["properties"]["days"]
    assert (days["minimum"], days["maximum"]) == (1, 365)
    name = body["properties"]["name"]
    assert name["maxLength"] == 100 and name["pattern"]
    org = make.make_org("Ministry of Contracts", slug="contracts")
    user = make.actor_of(make.make_user(Role.ORG_ADMIN, org, username="contract"))
    _row, plain = tokens_svc.token_create(user, name="t", scope="write", days=1)
    client, headers = app.test_client(), {"Authorization": f"Bearer {plain}"}
    for days, status in ((365, 201), (366, 422)):
        r = client.post("/api/v1/tokens/", headers=headers, json={"name": "ci", "scope": "read", "days": days})
        assert r.status_code == status, r.get_json()
    assert r.mimetype == PROBLEM and r.get_json()["key"] == "token.days_invalid"
    # the control-character rule the schema states is the service's, with its own key
    r = client.post("/api/v1/tokens/", headers=headers, json={"name": "c\x07i", "scope": "read", "days": 1})
    assert r.status_code == 422 and r.mimetype == PROBLEM and r.get_json()["key"] == "token.name_invalid"


def test_every_input_list_states_its_length(spec):
    missing, seen = [], []
    for path, method, op in operations(spec):
        for content in op.get("requestBody", {}).get("content", {}).values():
            for name, schema in input_arrays(spec, content["schema"], f"{method.upper()} {path}"):
                seen.append(name)
                if "maxItems" not in schema:
                    missing.append(name)
    assert any("mailboxes" in n for n in seen) and any("aliases" in n for n in seen), seen  # the walk finds lists
    assert not missing, "\n".join(missing)
