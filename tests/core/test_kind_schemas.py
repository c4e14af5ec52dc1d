"""A request kind's marshmallow schema is the one statement of its payload: the service loads
every payload through it (types and limits, unknown fields refused) and the OpenAPI document
publishes it; the web form takes its numbers from it."""

from __future__ import annotations

import re

import pytest
from wtforms.validators import Length, NumberRange

from panel.capabilities.dns.kinds import ZoneCreatePayload
from panel.errors import Invalid
from panel.models.tenants import Role
from panel.services import request_kinds
from panel.services.kinds_core import QuotaChangePayload
from panel.services.quotas import MAX_LIMIT
from panel.services.request_kinds import field_limits
from panel.web.forms.requests import QuotaChangeForm
from tests.support.fixtures import web_login


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
    with_schema = [k for k in request_kinds.all() if k.schema is not None and not k.recorded_only]
    assert {f"#/components/schemas/{k.schema.__name__}" for k in with_schema} <= refs
    assert all(f"`{k.name}`: {k.schema.__name__}" in payload["description"] for k in with_schema)
    # kinds nobody may ask for (requests.request_record files them) are no payload of RequestCreate
    recorded = [k for k in request_kinds.all() if k.recorded_only]
    assert recorded and all(f"`{k.name}`:" not in payload["description"] for k in recorded)
    assert {"quota.change", "host.bootstrap", "host.ping", "dns.zone_create", "dns.zone_delete"} <= {
        k.name for k in with_schema
    }


def test_the_web_form_checks_the_schemas_numbers():
    limits = {type(v): v for v in QuotaChangeForm.new_limit.kwargs["validators"]}
    assert (limits[NumberRange].min, limits[NumberRange].max) == field_limits(QuotaChangePayload, "new_limit")
    (length,) = [v for v in QuotaChangeForm.reason.kwargs["validators"] if isinstance(v, Length)]
    assert length.max == field_limits(QuotaChangePayload, "reason")[1] == 500
    assert field_limits(ZoneCreatePayload, "name") == (1, 253)


# ---- every kind of sites, mail and DNS: the kind, the API, the CLI and the web forms share its limits


def _loaded(kind: str, payload: dict):
    with pytest.raises(Invalid) as e:
        request_kinds.load_payload(request_kinds.get(kind), payload)
    return e.value


def test_past_a_limit_the_kinds_schema_answers_with_the_rules_own_key(booted):
    """A value past a schema limit gets the key and message of the rule that would have refused
    it (one answer whichever check comes first); a wrong type names the field in plain words."""
    cases = [
        ("sites.site_create", {"plan": "basic", "fqdn": "a" * 254}, "name.too_long", "fqdn", 253),
        (
            "sites.site_create",
            {"plan": "basic", "fqdn": "a.gov.kh", "aliases": ["b.gov.kh"] * 21},
            "site.aliases_invalid",
            "aliases",
            20,
        ),
        ("sites.site_create", {"plan": "basic", "sites": [{"fqdn": "x" * 300}]}, "name.too_long", "sites", 253),
        ("sites.site_create", {"plan": "basic", "sites": []}, "site.bulk_invalid", "sites", 500),
        (
            "sites.site_create",
            {"plan": "basic", "fqdn": "a.gov.kh", "php_version": "8.2; rm"},
            "site.php_invalid",
            "php_version",
            5,
        ),
        ("sites.site_alias_add", {"site_id": 1, "alias": "a" * 254}, "name.too_long", "alias", 253),
        ("mail.mailbox_quota", {"mailbox_id": 1, "quota_mb": 9}, "mail.quota_invalid", "quota_mb", 102400),
        (
            "mail.mailbox_create",
            {"domain_id": 1, "local_parts": ["a"] * 1001},
            "mail.batch_too_large",
            "local_parts",
            1000,
        ),
        (
            "mail.mailbox_create",
            {"domain_id": 1, "local_parts": ["a" * 65]},
            "mail.local_part_too_long",
            "local_parts",
            64,
        ),
        (
            "mail.alias_create",
            {"domain_id": 1, "source": "info", "destinations": ["a@b.kh"] * 51},
            "mail.destinations_too_many",
            "destinations",
            50,
        ),
        (
            "mail.domain_create",
            {"name": "a.gov.kh", "contact": "x@a.gov.kh", "on_suspend": "bounce"},
            "mail.on_suspend_invalid",
            "on_suspend",
            None,
        ),
        ("dns.zone_create", {"name": "z" * 254}, "name.too_long", "name", 253),
    ]
    for kind, payload, key, field, limit in cases:
        err = _loaded(kind, payload)
        assert (err.key, err.field, err.params["max"]) == (key, field, limit), (kind, payload)
        assert "{" not in err.text(), err.text()  # every placeholder filled
    err = _loaded("mail.mailbox_quota", {"mailbox_id": 1, "quota_mb": "big"})
    assert (err.key, err.field, err.text()) == ("request.payload_invalid", "quota_mb", "quota_mb: Not a valid integer.")
    err = _loaded("sites.site_suspend", {"site_id": 1, "colour": "red"})
    assert (err.key, err.field) == ("request.payload_invalid", "colour")


def _spec(app) -> dict:
    return app.test_client().get("/api/v1/openapi.json").get_json()["components"]["schemas"]


def test_the_api_bodies_are_the_kinds_schemas(app):
    """The OpenAPI document tells the truth: the bodies of the sites, mail and DNS endpoints carry
    the request kinds' fields with their limits (lengths, ranges, list sizes, patterns)."""
    from panel.capabilities.mail import kinds as mail
    from panel.capabilities.sites import kinds as sites

    s = _spec(app)
    site = s["SiteCreate"]["properties"]
    assert site["fqdn"]["maxLength"] == field_limits(sites.SiteCreatePayload, "fqdn")[1] == 253
    assert site["aliases"]["maxItems"] == 20 and site["aliases"]["items"]["maxLength"] == 253
    assert site["sites"]["maxItems"] == sites.MAX_BULK and site["php_version"]["pattern"]
    assert site["tls"]["enum"] == ["acme", "none"]
    assert s["SiteAction"]["properties"]["plan"]["maxLength"] == field_limits(sites.SitePlanPayload, "plan")[1]
    assert s["CertUpload"]["properties"]["certificate"]["maxLength"] == sites.MAX_CERT
    quota = s["MailQuotaIn"]["properties"]["quota_mb"]
    assert (quota["minimum"], quota["maximum"]) == field_limits(mail.MailboxQuotaPayload, "quota_mb") == (10, 102400)
    alias = s["MailAliasIn"]["properties"]
    assert alias["source"]["maxLength"] == 64 and alias["destinations"]["maxItems"] == 50
    assert alias["destinations"]["items"]["maxLength"] == mail.MAX_ADDRESS
    assert s["MailDomainIn"]["properties"]["default_quota_mb"]["maximum"] == 102400
    assert s["MailNewMailbox"]["properties"]["local_part"]["maxLength"] == 64
    assert s["ZoneRequest"]["properties"]["name"]["maxLength"] == 253
    for name in ("SiteCreatePayload", "SitePlanPayload", "MailboxesPayload", "AliasPayload", "MailDomainPayload"):
        assert name in s, f"{name}: the kind's payload is a component (RequestCreate.payload)"


def test_the_web_forms_take_their_limits_from_the_kinds_schemas():
    from panel.capabilities.dns.forms import ZoneRequestForm
    from panel.capabilities.mail import forms as mail_forms
    from panel.capabilities.mail.kinds import AliasPayload, MailboxQuotaPayload, MailDomainPayload
    from panel.capabilities.sites import forms as site_forms
    from panel.capabilities.sites.kinds import SiteAliasPayload, SiteCertPayload, SiteCreatePayload

    def length(form, field):
        (v,) = [v for v in getattr(form, field).kwargs["validators"] if isinstance(v, Length)]
        return v.max

    assert length(site_forms.SiteCreateForm, "fqdn") == field_limits(SiteCreatePayload, "fqdn")[1]
    assert length(site_forms.SiteCreateForm, "php_version") == field_limits(SiteCreatePayload, "php_version")[1]
    assert length(site_forms.AliasForm, "alias") == field_limits(SiteAliasPayload, "alias")[1]
    assert length(site_forms.CertUploadForm, "certificate") == field_limits(SiteCertPayload, "certificate")[1]
    assert length(mail_forms.DomainForm, "name") == field_limits(MailDomainPayload, "name")[1]
    assert length(mail_forms.DomainForm, "contact") == field_limits(MailDomainPayload, "contact")[1]
    assert length(mail_forms.AliasForm, "source") == field_limits(AliasPayload, "source")[1]
    assert (mail_forms.QUOTA.min, mail_forms.QUOTA.max) == field_limits(MailboxQuotaPayload, "quota_mb")
    assert length(ZoneRequestForm, "name") == 253


def test_the_rendered_form_carries_the_limits(app, make):
    """What the browser gets: maxlength (and the PHP version's pattern) on the inputs."""
    client = app.test_client()
    web_login(client, make.make_user(Role.WEBMASTER))
    page = client.get("/sites/new").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="fqdn"[^>]*maxlength="253"', page), page[:2000]
    assert re.search(r'<input[^>]*id="php_version"[^>]*pattern="', page)


def test_the_cli_refuses_past_the_limit_with_exit_2(cli):
    """Checked by the argument's type, which comes from the kind's schema: a clear message, exit 2,
    and nothing asked for."""
    r = cli("sites", "create", "a" * 250 + ".gov.kh", "--plan", "basic")
    assert r.exit_code == 2 and "at most 253" in r.output, r.output
    r = cli("sites", "alias-add", "1", "--alias", "b" * 254)
    assert r.exit_code == 2 and "at most 253" in r.output, r.output
    r = cli("mail", "quota", "a@b.gov.kh", "5")
    assert r.exit_code == 2 and "10<=x<=102400" in r.output, r.output
    r = cli("mail", "alias-add", "b.gov.kh", "x" * 65, "a@b.gov.kh")
    assert r.exit_code == 2 and "at most 64" in r.output, r.output
    r = cli("sites", "create", "a.gov.kh", "--plan", "basic", "--tls", "maybe")
    assert r.exit_code == 2 and "acme" in r.output, r.output


def test_the_cli_passes_the_kinds_error_through_with_exit_2(cli, make):
    """Past the argument types, the request kind's schema and rules answer: same key, exit 2."""
    org = make.make_org()
    make.make_user(Role.WEBMASTER, org, username="wm14")
    r = cli("sites", "create", "a.gov.kh", "--plan", "basic", "--php", "9.x", "--org", str(org.id), "--as", "wm14")
    assert r.exit_code == 2 and "Choose a PHP version such as 8.2." in r.output, r.output
