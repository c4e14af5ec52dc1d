"""The quick start's first login, as a new data center sees it: `govhost setup` prints a one-time
password; the admin must enrol two-factor, then choose their own password, then reaches the panel."""

from __future__ import annotations

import re

import pyotp
import pytest

from panel.services.actor import system_actor
from panel.services.setup import panel_setup
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser
NEW_PASSWORD = "Mekong river 2026 datacenter"


def test_admin_first_login_enrols_2fa_then_changes_password(page, booted):
    result = panel_setup(system_actor("cli"), admin_username="admin", demo=True)
    assert result.admin_created and result.one_time_password
    log_in(page, "admin", result.one_time_password)
    page.wait_for_url(re.compile(r"/enrol$"))  # staff: two-factor first, and required
    page.goto("/")  # nothing else before that
    page.wait_for_url(re.compile(r"/enrol$"))
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main button[type=submit]")
    assert len(page.locator("#recovery-codes li").all_inner_texts()) == 10
    page.click("text=I have saved them, continue")
    page.wait_for_url(re.compile(r"/password"))  # then the one-time password is replaced
    page.goto("/")
    page.wait_for_url(re.compile(r"/password"))
    page.fill("#old_password", result.one_time_password)
    page.fill("#new_password", "short")
    page.fill("#confirm", "short")
    page.click("main button[type=submit]")
    assert "12 characters" in page.locator("main").inner_text()  # the rule it broke, beside the field
    page.fill("#old_password", result.one_time_password)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    assert "Welcome, admin" in page.locator("h1").inner_text()
