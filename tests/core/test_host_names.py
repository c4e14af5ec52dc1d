"""The ONE host-name validator (panel.services.names, IDNA 2008): every capability that takes a name
(domain claims, DNS zones and record names, sites, mail domains) gets the same answer for the same
name. `faß.gov.kh` is `xn--fa-hia.gov.kh` everywhere (IDNA 2003 made it `fass.gov.kh`, another
domain), a Khmer name is its A-label everywhere, and an `xn--` label that does not decode and encode
back to itself is refused everywhere."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns import claims
from panel.capabilities.dns import rules as dns_rules
from panel.capabilities.dns.models import ClaimMethod, DomainClaim
from panel.errors import Invalid
from panel.models.requests import Request
from panel.models.tenants import OrgKind, Role
from panel.services.names import clean_hostname, to_unicode
from tests.support.surfaces import api_headers

KHMER = "ក្រសួង.gov.kh"
KHMER_ASCII = "xn--i2ei9dua4mxe.gov.kh"
SAME = {
    "faß.gov.kh": "xn--fa-hia.gov.kh",
    "FAß.GOV.KH": "xn--fa-hia.gov.kh",
    "XN--FA-HIA.gov.kh": "xn--fa-hia.gov.kh",
    "fass.gov.kh": "fass.gov.kh",  # a different name, not a spelling of faß
    KHMER: KHMER_ASCII,
    KHMER_ASCII: KHMER_ASCII,
    "ｗｗｗ．gov．kh": "www.gov.kh",  # full-width letters and dots map (UTS #46)
}
BAD_A_LABELS = ["xn--a.gov.kh", "xn--ab--cx.gov.kh", "xn--zzzzzzzzzz9.gov.kh", "xn--.gov.kh", "ab--cd.gov.kh"]


@pytest.mark.parametrize(("typed", "stored"), SAME.items())
def test_one_answer_for_sites_mail_zones_and_claims(typed, stored):
    assert clean_hostname(typed) == stored
    assert dns_rules.clean_domain(typed) == stored  # zones, claims, suffixes
    assert dns_rules.owner_name("gov.kh", typed + ".") == stored  # record names


@pytest.mark.parametrize("typed", BAD_A_LABELS)
def test_invalid_a_labels_refused_by_every_capability(typed):
    keys = set()
    for check in (clean_hostname, dns_rules.clean_domain, lambda v: dns_rules.owner_name("gov.kh", v + ".")):
        with pytest.raises(Invalid) as err:
            check(typed)
        keys.add(err.value.key)
    assert keys <= {"name.idna_invalid", "name.label_invalid"}, keys


def test_display_form_is_idna_2008():
    assert to_unicode("xn--fa-hia.gov.kh") == "faß.gov.kh"
    assert to_unicode(KHMER_ASCII) == KHMER


@pytest.fixture
def settings(settings):
    """A DNS server named in the settings, so zone requests get as far as checking the name."""
    return dataclasses.replace(settings, dns=dataclasses.replace(settings.dns, primary_host="ns1"))


@pytest.fixture
def ministry(make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    org = make.make_org("Ministry", slug="min")
    staff = make.make_user(Role.ADMIN, dc)
    user = make.make_user(Role.ORG_ADMIN, org)
    claims.suffix_set(make.actor_of(staff), org_id=org.id, suffixes=["gov.kh"])
    make.make_plan("basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8)
    facts = {"php_versions": ["8.2"], "mail_server_at": "2026-01-01T00:00:00+00:00"}
    make.make_host("ns1", roles=["web", "dns", "mail"], capacities={"sites": 50}, facts=facts)
    return org, api_headers(user)


def _last_payload() -> dict:
    with db.unit_of_work() as s:
        return s.scalars(select(Request).order_by(Request.id.desc())).first().payload


def _verify_all():
    with db.unit_of_work() as s:
        for claim in s.query(DomainClaim).all():
            claim.verified_at, claim.method = db.utcnow(), ClaimMethod.TXT


@pytest.mark.parametrize(("typed", "stored"), [("faß.gov.kh", "xn--fa-hia.gov.kh"), (KHMER, KHMER_ASCII)])
def test_each_capability_stores_the_same_name_over_the_api(app, ministry, typed, stored):
    org, h = ministry
    client = app.test_client()
    claim = client.post("/api/v1/dns/claims", headers=h, json={"org_id": org.id, "domain": typed})
    assert claim.status_code == 201 and claim.get_json()["domain"] == stored, claim.get_json()
    again = client.post("/api/v1/dns/claims", headers=h, json={"org_id": org.id, "domain": stored})
    assert again.get_json()["id"] == claim.get_json()["id"]  # the typed and the stored form are one claim
    _verify_all()
    zone = client.post("/api/v1/dns/zones", headers=h, json={"org_id": org.id, "name": typed})
    assert zone.status_code in (201, 202) and _last_payload()["name"] == stored, zone.get_json()
    site = client.post("/api/v1/sites/", headers=h, json={"org_id": org.id, "fqdn": "www." + typed, "plan": "basic"})
    assert site.status_code in (201, 202) and _last_payload()["fqdn"] == "www." + stored, site.get_json()
    mail = client.post(
        "/api/v1/mail/domains", headers=h, json={"org_id": org.id, "name": typed, "contact": "it@example.org"}
    )
    assert mail.status_code in (201, 202) and _last_payload()["name"] == stored, mail.get_json()


def test_each_capability_refuses_an_invalid_a_label_over_the_api(app, ministry):
    org, h = ministry
    client = app.test_client()
    bad = "xn--ab--cx.gov.kh"
    answers = [
        client.post("/api/v1/dns/claims", headers=h, json={"org_id": org.id, "domain": bad}),
        client.post("/api/v1/dns/zones", headers=h, json={"org_id": org.id, "name": bad}),
        client.post("/api/v1/sites/", headers=h, json={"org_id": org.id, "fqdn": "www." + bad, "plan": "basic"}),
        client.post("/api/v1/mail/domains", headers=h, json={"org_id": org.id, "name": bad, "contact": "it@x.org"}),
    ]
    assert [(r.status_code, r.get_json()["key"]) for r in answers] == [(422, "name.idna_invalid")] * 4


def test_web_and_cli_refuse_an_invalid_a_label(app, ministry, cli, make):
    org, _h = ministry
    user = make.make_user(Role.ORG_ADMIN, org, username="idnaadmin")
    result = cli("sites", "create", "www.xn--a.gov.kh", "--plan", "basic", "--org", str(org.id), "--as", user.username)
    assert result.exit_code == 2 and "name.idna_invalid" in result.output
    from tests.support.surfaces import web_login

    client = app.test_client()
    web_login(app, client, user)
    app.config["WTF_CSRF_ENABLED"] = False
    page = client.post("/dns/claims", data={"org_id": org.id, "domain": "xn--zzzzzzzzzz9.gov.kh"})
    assert page.status_code == 422 and "not a valid international domain name" in page.get_data(as_text=True)
