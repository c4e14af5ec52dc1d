"""A request kind's marshmallow schema is the one statement of its payload: the service loads
every payload through it (types and limits, unknown fields refused) and the OpenAPI document
publishes it; the web form takes its numbers from it."""

from __future__ import annotations

import pytest
from wtforms.validators import Length, NumberRange

from panel.capabilities.dns.kinds import ZoneCreatePayload
from panel.errors import Invalid
from panel.services import request_kinds
from panel.services.kinds_core import QuotaChangePayload
from panel.services.quotas import MAX_LIMIT
from panel.services.request_kinds import field_limits
from panel.web.forms.requests import QuotaChangeForm


def test_the_service_loads_payloads_through_the_kinds_schema(booted):
    kind = request_kinds.get("quota.change")
    assert kind.schema is QuotaChangePayload
    ok = request_kinds.load_payload(kind, {"resource": "sites", "new_limit": "7"})
    assert ok == {"resource": "sites", "new_limit": 7, "reason": ""}
    for payload, field in [
        ({"resource": "sites", "new_limit": MAX_LIMIT + 1}, "new_limit"),
        ({"resource": "sites", "new_limit": 1, "colour": "red"}, "colour"),
        ({"new_limit": 1}, "resource"),
        ({"resource": "sites", "new_limit": 1, "reason": "x" * 501}, "reason"),
    ]:
        with pytest.raises(Invalid) as e:
            request_kinds.load_payload(kind, payload)
        assert (e.value.key, e.value.field) == ("request.payload_invalid", field)


def test_openapi_publishes_each_kinds_schema_with_its_limits(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    quota = schemas["QuotaChangePayload"]
    assert quota["properties"]["new_limit"]["maximum"] == MAX_LIMIT
    assert quota["properties"]["reason"]["maxLength"] == 500
    assert set(quota["required"]) == {"resource", "new_limit"}
    assert schemas["ZoneCreatePayload"]["properties"]["name"]["maxLength"] == 253
    payload = schemas["RequestCreate"]["properties"]["payload"]
    refs = {r.get("$ref") for r in payload["anyOf"]}
    with_schema = [k for k in request_kinds.all() if k.schema is not None]
    assert {f"#/components/schemas/{k.schema.__name__}" for k in with_schema} <= refs
    assert all(f"`{k.name}`: {k.schema.__name__}" in payload["description"] for k in with_schema)
    assert {"quota.change", "host.bootstrap", "host.ping", "dns.zone_create", "dns.zone_delete"} <= {
        k.name for k in with_schema
    }


def test_the_web_form_checks_the_schemas_numbers():
    limits = {type(v): v for v in QuotaChangeForm.new_limit.kwargs["validators"]}
    assert (limits[NumberRange].min, limits[NumberRange].max) == field_limits(QuotaChangePayload, "new_limit")
    (length,) = [v for v in QuotaChangeForm.reason.kwargs["validators"] if isinstance(v, Length)]
    assert length.max == field_limits(QuotaChangePayload, "reason")[1] == 500
    assert field_limits(ZoneCreatePayload, "name") == (1, 253)
