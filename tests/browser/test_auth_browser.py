"""Login, 2FA enrolment and login, language switch and the audit page in headless Chromium."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from panel.models.tenants import OrgKind, Role
from tests.browser.conftest import log_in
from tests.support.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_login_page_and_login(page, make):
    make.make_user(Role.WEBMASTER, username="alice")
    page.goto("/login")
    assert page.locator("h1").inner_text() == "Log in"
    page.screenshot(path="/tmp/govhost-login.png", full_page=True)
    log_in(page, "alice", "wrong password 123")
    assert "The username or password is not right." in page.locator("main").inner_text()
    log_in(page, "alice", PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    assert "Welcome, alice" in page.locator("h1").inner_text()


def test_2fa_enrolment_and_login(page, make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    make.make_user(Role.OPERATOR, dc, username="oper")
    log_in(page, "oper", PASSWORD)
    page.wait_for_url(re.compile(r"/enrol$"))
    assert page.locator(".qr svg").count() == 1
    secret = page.locator("#totp-secret").inner_text().strip()
    page.goto("/")  # staff cannot go anywhere else before enrolling
    page.wait_for_url(re.compile(r"/enrol$"))
    assert page.locator("#totp-secret").inner_text().strip() == secret
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    page.click("text=I have saved them, continue")
    page.wait_for_url(re.compile(r"/$"))
    page.click("header button:has-text('Log out')")
    page.wait_for_url(re.compile(r"/login"))

    log_in(page, "oper", PASSWORD)
    page.wait_for_url(re.compile(r"/twofa$"))
    page.fill("#code", pyotp.TOTP(secret).at(int(time.time()) + 30))  # the enrolment's step is spent
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert "Welcome, oper" in page.locator("h1").inner_text()


def test_language_switch_to_khmer(page, make):
    make.make_user(Role.WEBMASTER, username="bopha")
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "en"
    page.select_option("#lang", "km")  # the page's script submits the form on change
    page.locator('html[lang="km"]').wait_for(state="attached")  # no eval: the panel's CSP forbids it
    assert page.locator("#lang").input_value() == "km"
    assert (
        page.get_by_role("heading", name="ចូលប្រព័ន្ធ").count() + page.get_by_role("button", name="ចូលប្រព័ន្ធ").count() > 0
    )  # "Log in", from the km catalog
    log_in(page, "bopha", PASSWORD)
    page.wait_for_url(re.compile(r"/$"))
    assert page.locator("html").get_attribute("lang") == "km"  # kept across the login
    assert "ផ្ទាំងគ្រប់គ្រង" in page.title()  # "Dashboard"


def test_audit_page_for_an_auditor(page, make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    secret = pyotp.random_base32()
    make.make_user(Role.AUDITOR, dc, username="audra", totp_secret=secret)
    log_in(page, "audra", PASSWORD)
    page.wait_for_url(re.compile(r"/twofa$"))
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    response = page.goto("/audit/")
    assert response.status == 200
    assert "auth.login" in page.locator("main").inner_text()  # the login just made is in the log
