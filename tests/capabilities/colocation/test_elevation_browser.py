"""The rack elevation drawn in Chromium: each ministry's units where they are in the rack, others'
as plain occupied units, in English and Khmer."""

from __future__ import annotations

import pytest

from panel.capabilities.colocation import service as svc
from panel.services import requests as req_svc
from tests.browser.conftest import live_server, log_in, page  # noqa: F401 - fixtures
from tests.support.factories import PASSWORD

pytestmark = pytest.mark.browser


def _grant(colo, who, **spec):
    req = svc.colocation_request(colo.actor(getattr(colo.u, who)), org_id=getattr(colo, who).id, max_w=200, **spec)
    req_svc.request_approve(colo.actor(colo.u.op1), req.id)


def test_elevation_renders(colo, page):
    _grant(colo, "a", u_count=2, label="web")
    _grant(colo, "b", u_count=3, label="mail")
    rack = colo.floor.racks[0]
    log_in(page, "colo_a", PASSWORD)
    page.goto(f"/colocation/racks/{rack}")
    svg = page.locator("svg#elevation")
    assert svg.is_visible()
    slots = page.evaluate(
        """() => [...document.querySelectorAll('#elevation g.slot')].map(g => {
            const r = g.querySelector('rect').getBoundingClientRect();
            return {cls: g.getAttribute('class'), start: +g.dataset.uStart, count: +g.dataset.uCount,
                    top: r.top, bottom: r.bottom, height: r.height, text: g.textContent.trim()};
        })"""
    )
    assert [(s["cls"], s["start"], s["count"], s["text"]) for s in slots] == [
        ("slot own", 1, 2, "Ministry A: web"),
        ("slot other", 3, 3, "occupied"),
    ]
    own, other = slots
    assert other["bottom"] <= own["top"] + 1, "U3-U5 is drawn above U1-U2"
    assert abs(other["height"] / own["height"] - 1.5) < 0.1, "3 U are drawn 1.5 times as tall as 2 U"
    assert "Ministry B" not in page.content() and "mail" not in page.locator("main").inner_text()
    page.click("#elevation g.slot.own a")
    page.wait_for_url("**/colocation/reservations/*")
    assert "U1–U2" in page.locator("main").inner_text()
    ctx = page.context.browser.new_context(base_url=page.url.split("/colocation")[0], locale="km-KH")
    km = ctx.new_page()
    log_in(km, "colo_a", PASSWORD)
    km.goto(f"/colocation/racks/{rack}")
    assert "មានអ្នកប្រើ" in km.locator("#elevation").text_content()
    ctx.close()
