"""Headless Chromium (Debian's, driven by Playwright's Python package) against the real app served
from a thread. Playwright's own browser download cannot work here, hence executable_path."""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/lib/chromium/chromium" if os.path.exists("/usr/lib/chromium/chromium") else "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api")


# The session's Chromium is tests/conftest.py's `browser` fixture (one per session: see there).


@pytest.fixture
def live_server(app):
    """The app on 127.0.0.1:<free port> in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, locale="en-US", viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(30_000)  # the gate runs beside lab sessions on 2 cores: pages took 10+ s at load 20
    yield pg
    context.close()


def log_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main button[type=submit]")


def through_network_changes(step, tries: int = 3):
    """Run a browser step that talks to a lab host, again when Chromium cancelled it with
    ERR_NETWORK_CHANGED: Chromium aborts requests in flight whenever an address or link changes on
    the machine, and the gate's other sessions start and stop lab hosts (veths) beside this one.
    A step that lands on Chromium's error page without raising (a form post) counts the same."""
    for attempt in range(tries):
        try:
            result = step()
        except Exception as e:
            if "ERR_NETWORK_CHANGED" not in str(e) or attempt == tries - 1:
                raise
            continue
        return result
