"""A webmaster's first hour without dead ends (issue 11 item 3) and in Khmer (item 4), on the web:
forms offered only to those who may file them and refusals in words, a requested site listed at
once, mailbox batch errors naming their line, required aliases without a Remove button, the way on
for a domain whose parent zone is run elsewhere, statuses and dates in the reader's language."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from panel import db
from panel.capabilities.dns.models import DomainClaim, Zone, ZoneStatus
from panel.capabilities.mail.models import MailAlias, MailDomain, MailDomainStatus, SuspendPolicy
from panel.capabilities.sites import service as sites_svc
from panel.models.hosts import Host
from panel.models.requests import Request
from panel.models.tenants import Role
from panel.services.actor import system_actor
from panel.web.common import day, idn, when
from tests.support.fixtures import auditor, csrf_from, dc, login_as, post_form  # noqa: F401  (fixtures)

GOOD = "Zq9!unique-mail-secret"
KHMER = re.compile("[\u1780-\u17ff]")


@pytest.fixture
def ministry(make):
    org = make.make_org("Ministry of Posts", slug="mpt")
    return {"org": org, "wm": make.make_user(Role.WEBMASTER, org, username="webm")}


@pytest.fixture
def mail_domain(ministry):
    org = ministry["org"]
    with db.unit_of_work() as s:
        host = Host(name="mx1", address="10.77.0.250", host_key_type="ssh-ed25519", host_key="AAAA", fingerprint="x")
        host.roles = {"mail"}
        s.add(host)
        s.flush()
        dom = MailDomain(
            org_id=org.id,
            name="mpt.gov.test",
            host_id=host.id,
            dkim_selector="govhost",
            status=MailDomainStatus.ACTIVE,
            on_suspend=SuspendPolicy.DEFER,
            dns_status={"MX mpt.gov.test": "ok", "TXT govhost._domainkey": "missing"},
        )
        s.add(dom)
        s.flush()
        for source in ("postmaster", "abuse", "info"):
            s.add(MailAlias(org_id=org.id, domain_id=dom.id, source=source, destinations=["boss@mpt.gov.test"]))
        return dom.id


def page(client, url: str, status: int = 200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code)
    return r.get_data(as_text=True)


def test_webmaster_may_ask_for_mail_and_read_only_users_are_not_offered_forms(login_as, auditor, ministry):
    wm = login_as(ministry["wm"])
    assert 'href="/mail/new"' in page(wm, "/mail/")
    r = post_form(wm, "/mail/new", {"org_id": ministry["org"].id, "name": "mpt.gov.test", "contact": "it@example.org"})
    # no verified domain in this test: the service's reason, never "You may not ask for mail_domain.create."
    body = r.get_data(as_text=True)
    assert "mail.domain_create" not in body and "You may not ask" not in body
    ro = login_as(auditor)
    assert 'href="/mail/new"' not in page(ro, "/mail/") and 'href="/sites/new"' not in page(ro, "/sites/")
    refused = page(ro, "/mail/new", 403)
    assert "You may not ask for this: Mail for a domain." in refused and "mail.domain_create" not in refused
    assert "sites.site_create" not in page(ro, "/sites/new", 403)


def test_requested_site_is_listed_at_once_as_requested(login_as, ministry):
    sites_svc.plan_create(system_actor("cli", "test"), name="basic", disk_mb=1024)
    with db.unit_of_work() as s:
        req = Request(
            org_id=ministry["org"].id,
            kind="sites.site_create",
            status="submitted",
            payload={"fqdn": "xn--y9a3aq.mpt.gov.test", "aliases": [], "plan": "basic", "php_version": "8.2"},
            requester_id=ministry["wm"].id,
            requester_name="webm",
            summary="x",
        )
        s.add(req)
        s.flush()
        rid = req.id
    html = page(login_as(ministry["wm"]), "/sites/")
    assert "No websites yet" not in html and f"/requests/{rid}" in html
    assert "requested" in html and "awaiting approval" in html
    assert "հայ.mpt.gov.test (xn--y9a3aq.mpt.gov.test)" in html  # Unicode first, the punycode beside


def test_mailbox_batch_error_names_the_line_and_required_aliases_stay(login_as, ministry, mail_domain):
    wm = login_as(ministry["wm"])
    html = page(wm, f"/mail/domains/{mail_domain}")
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"<tr>\s*<td class=\"mono\">(\w+)@.*?</td>(.*?)</tr>", html, re.S)
    }
    assert set(rows) == {"postmaster", "abuse", "info"}
    assert "Remove" not in rows["postmaster"] and "Remove" not in rows["abuse"] and "Remove" in rows["info"]
    token = csrf_from(html)
    entries = f"sokha,{GOOD}\n\ndara,{GOOD}\nvisal,short"
    r = wm.post(f"/mail/domains/{mail_domain}/mailboxes/new", data={"csrf_token": token, "entries": entries})
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "Line 4: " in body and "at least 12 characters" in body
    assert GOOD not in body  # the refused batch comes back without its passwords
    entries = f"sokha,{GOOD}\ndara,{GOOD}\nSokha,{GOOD}"
    r = wm.post(f"/mail/domains/{mail_domain}/mailboxes/new", data={"csrf_token": token, "entries": entries})
    assert r.status_code == 422 and "Line 3: " in r.get_data(as_text=True)


def test_mail_statuses_are_words_in_both_languages(login_as, ministry, mail_domain):
    wm = login_as(ministry["wm"])
    html = page(wm, f"/mail/domains/{mail_domain}")
    assert "defer (the sender retries later)" in html and ">missing<" in html
    post_form(wm, "/language", {"locale": "km", "next": "/"}, page="/")
    km = page(wm, f"/mail/domains/{mail_domain}")
    for raw in (">active<", ">defer<", ">ok<", ">missing<", "defer (the sender"):
        assert raw not in km, raw


def test_claim_whose_parent_zone_is_elsewhere_says_what_to_do(login_as, dc, ministry):
    org = ministry["org"]
    with db.unit_of_work() as s:
        s.add(DomainClaim(org_id=org.id, domain="mpt.gov.example", token="tok1"))  # parent zone elsewhere
        s.add(DomainClaim(org_id=org.id, domain="post.gov.test", token="tok2"))
        s.add(Zone(org_id=dc.id, name="gov.test", status=ZoneStatus.ACTIVE))  # its parent zone is hosted here
    html = page(login_as(ministry["wm"]), "/dns/claims")
    assert "The domain above mpt.gov.example (gov.example) is not run by this data center" in html
    assert "whoever runs gov.example" in html and "press Verify" in html
    assert "gov.test is run by this data center" in html


def test_dates_are_in_the_readers_locale_not_numeric(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        text = day(dt.date(2031, 12, 6))
        assert "12/6/31" not in text and "Dec" in text and "2031" in text
        assert "2031" in when("2031-12-06T10:00:00+00:00") and when(None) == "-"
    with app.test_request_context("/", headers={"Accept-Language": "km"}):
        text = day(dt.date(2031, 12, 6))
        assert "Dec" not in text and KHMER.search(text), text


def test_idn_shows_unicode_with_punycode_beside():
    assert idn("xn--y9a3aq.gov.kh") == "հայ.gov.kh (xn--y9a3aq.gov.kh)"
    assert idn("www.gov.kh") == "www.gov.kh"
    assert idn("xn--.gov.kh") == "xn--.gov.kh"  # not punycode after all: shown as stored


def test_request_kind_and_description_in_the_readers_language(login_as, ministry):
    with db.unit_of_work() as s:
        req = Request(
            org_id=ministry["org"].id,
            kind="mail.domain_create",
            status="submitted",
            payload={"name": "mpt.gov.test"},
            requester_id=ministry["wm"].id,
            requester_name="webm",
            summary="mail for mpt.gov.test",
        )
        s.add(req)
        s.flush()
        rid = req.id
    wm = login_as(ministry["wm"])
    en = page(wm, "/requests/?view=all")
    assert "Mail for a domain" in en and "mail for mpt.gov.test" in en and ">mail_domain.create<" not in en
    post_form(wm, "/language", {"locale": "km", "next": "/"}, page="/")
    for url in ("/requests/?view=all", f"/requests/{rid}"):
        km = page(wm, url)
        assert "mail for mpt.gov.test" not in km and "Mail for a domain" not in km
        assert "សំបុត្រសម្រាប់ mpt.gov.test" in km
    assert "<dt>ឈ្មោះ</dt>" in km and "<dt>name</dt>" not in km  # the payload by names for people
    assert "សំបុត្រសម្រាប់ mpt.gov.test" in page(wm, "/")  # the dashboard's request card too


def test_read_only_staff_are_offered_no_mail_forms(login_as, auditor, mail_domain):
    ro = login_as(auditor)
    html = page(ro, f"/mail/domains/{mail_domain}")
    assert "info@" in html  # they see everything
    assert "/mailboxes/new" not in html and "/aliases/new" not in html and ">Remove<" not in html
    assert "You may not ask for this: New mailboxes." in page(ro, f"/mail/domains/{mail_domain}/mailboxes/new", 403)


def test_zone_page_offers_changes_only_to_who_may_make_them(login_as, auditor, ministry):
    with db.unit_of_work() as s:
        zone = Zone(org_id=ministry["org"].id, name="mpt.gov.test", status=ZoneStatus.ACTIVE)
        s.add(zone)
        s.flush()
        zone_id = zone.id
    assert "Add a record" in page(login_as(ministry["wm"]), f"/dns/zones/{zone_id}")
    html = page(login_as(auditor), f"/dns/zones/{zone_id}")
    assert "mpt.gov.test" in html and "Add a record" not in html and "Apply to the DNS server" not in html
