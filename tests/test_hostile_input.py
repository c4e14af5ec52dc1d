"""Every registered endpoint, web and API, gets malformed and hostile values in every place a value
can go (form fields, JSON fields, query arguments, path parameters) and must never answer 5xx; API
errors must be application/problem+json.

Endpoints are read from `app.url_map` and field names from the pages' own forms and the OpenAPI
document at run time, so endpoints added later are covered without touching this test.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from werkzeug.routing import IntegerConverter

from panel.models.tenants import OrgKind, Role
from tests.support.surfaces import api_headers, web_login

HOSTILE = ["", "x" * 10_000, "a\x00b", "\x01\x02\x1b[31m\r\n\t", "ក្រសួងប្រៃសណីយ៍", "{{ 7*7 }}", "; id", "../../etc/passwd"]
BAD_INTS = [0, -1, 2**63, -(2**63) - 1, 10**30]
SKIP_ENDPOINTS = {
    "static",
    "api-docs.openapi_json",
    "api-docs.openapi_redoc",
    "api-docs.openapi_swagger_ui",
    "api-docs.openapi_rapidoc",
}
COMMON_ARGS = ("page", "per_page", "q", "next", "id")
PROBLEM = "application/problem+json"
FIELD_RE = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', re.I)
FORM_RE = re.compile(r'<form[^>]*?(?:action="([^"]*)")?[^>]*>(.*?)</form>', re.I | re.S)


@pytest.fixture
def world(make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    ministry = make.make_org("Ministry", slug="min")
    make.make_org("Department", kind=OrgKind.DEPARTMENT, parent=ministry, slug="min-it")
    make.make_user(Role.WEBMASTER, ministry)
    return dc


def admin_client(app, make, dc):
    """A fresh admin each time: an endpoint may log out, deactivate or reset the acting user."""
    user = make.make_user(Role.ADMIN, dc)
    client = app.test_client()
    web_login(app, client, user)
    return client, api_headers(user)


def signed_out(resp) -> bool:
    """The request ended the admin's session: a GET is otherwise read-only, so the same admin goes on
    (a fresh one per value cost an argon2 login each, a quarter of this test's time)."""
    return resp.status_code == 401 or (resp.status_code in (302, 303) and "/login" in resp.headers.get("Location", ""))


def path_variants(rule, valid_id: int) -> list[str]:
    """The rule's URL with valid ids, then each parameter in turn replaced by hostile or absurd values."""
    ints = {name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)}
    base = {name: (valid_id if name in ints else "x") for name in rule.arguments}

    def build(values: dict) -> str:
        url = rule.rule
        for name, value in values.items():
            url = re.sub(rf"<(?:[^:<>]+:)?{name}>", quote(str(value), safe=""), url)
        return url

    urls = [build(base)]
    for name in rule.arguments:
        for value in BAD_INTS if name in ints else HOSTILE:
            urls.append(build({**base, name: value}))
    return urls


def form_fields(html: str, url: str) -> set[str]:
    names = set()
    for action, body in FORM_RE.findall(html):
        if not action or action.split("?")[0] == url:
            names |= set(FIELD_RE.findall(body))
    return names - {"csrf_token"}


def api_fields(spec: dict, rule_path: str, method: str) -> tuple[set[str], set[str]]:
    """(query args, JSON fields) declared in the OpenAPI document for this operation."""
    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule_path)[len("/api/v1") :]
    op = spec.get("paths", {}).get(path, {}).get(method.lower(), {})
    query = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return query, set(schema.get("properties", {}))


def check(resp, what: str, api: bool, failures: list[str]) -> None:
    if resp.status_code >= 500:
        failures.append(f"{resp.status_code} {what}")
    elif api and resp.status_code >= 400 and resp.mimetype != PROBLEM:
        failures.append(f"{resp.status_code} {resp.mimetype} (not problem+json) {what}")


def test_no_endpoint_breaks_on_hostile_input(app, make, world, csrf_off):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # an exception becomes the 500 a user would get, and is listed
    spec = app.test_client().get("/api/v1/openapi.json").get_json() or {}
    rules = [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint not in SKIP_ENDPOINTS and not r.endpoint.startswith("api-docs.")
    ]
    assert any(r.rule.startswith("/api/v1") for r in rules) and any(not r.rule.startswith("/api/") for r in rules)
    failures: list[str] = []
    for rule in sorted(rules, key=lambda r: r.rule):
        api = rule.rule.startswith("/api/")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client, headers = admin_client(app, make, world)
            send = getattr(client, method.lower())
            kw = {"headers": headers} if api else {}
            urls = path_variants(rule, world.id)
            if api:
                query, body = api_fields(spec, rule.rule, method)
            else:
                query = body = set()
                if "GET" in rule.methods:
                    body = query = form_fields(client.get(urls[0]).get_data(as_text=True), urls[0])
            query |= set(COMMON_ARGS)
            for url in urls:  # hostile path parameters, clean everything else
                check(send(url, **kw), f"{method} {url[:120]}", api, failures)
            for value in [*HOSTILE, *BAD_INTS]:  # integers past 2^63 in every query and JSON field too
                what = f"{method} {urls[0]} value={str(value)[:20]!r}"
                args = dict.fromkeys(query, str(value))
                if method == "GET":
                    resp = send(urls[0], query_string=args, **kw)
                    check(resp, what, api, failures)
                elif api:
                    check(
                        send(urls[0], json=dict.fromkeys(body or {"name"}, value), query_string=args, **kw),
                        what,
                        api,
                        failures,
                    )
                else:
                    form = dict.fromkeys(body | {"name", "id"}, str(value))
                    check(send(urls[0], data=form, **kw), what, api, failures)
                if method == "GET" and signed_out(resp):  # a GET that ends the session (logout)
                    client, headers = admin_client(app, make, world)
                    send = client.get
                    kw = {"headers": headers} if api else {}
            if api and method != "GET":
                for raw in ("{not json", "[1, 2]", '{"a": ' * 50 + "1" + "}" * 50, "null"):
                    check(
                        send(urls[0], data=raw, content_type="application/json", **kw),
                        f"{method} {urls[0]} body={raw[:12]!r}",
                        api,
                        failures,
                    )
                check(
                    send(urls[0], json={key: [{"x": 1}] for key in body or {"name"}}, **kw),
                    f"{method} {urls[0]} wrong types",
                    api,
                    failures,
                )
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])
