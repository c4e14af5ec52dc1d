"""Every page an admin, a ministry webmaster and an auditor can reach, in English and Khmer, on a desktop
and a phone: status 200, an <h1>, a translated menu in km, no sideways scrolling on the phone.
With GOVHOST_UI_SHOTS=1, screenshots go to /tmp/ui/<role>-<lang>-<size>-<page>.png for a person to
look at (off in the gate: a full-page PNG of each of ~200 pages was most of this test's time, and no
check reads them)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest

from panel import db
from panel.capabilities.dns import service as dns_svc
from panel.capabilities.dns.models import Zone, ZoneStatus
from panel.capabilities.sites import service as sites_svc
from panel.capabilities.sites.models import Site, SiteStatus
from panel.models.hosts import Host
from panel.models.jobs import JobEvent
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services import notifications as notifications_svc
from panel.services import quotas as quotas_svc
from panel.services import requests as requests_svc
from panel.services import tenants as tenants_svc
from panel.services.actor import system_actor
from tests.browser.conftest import log_in
from tests.support.factories import PASSWORD

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/ui") if os.environ.get("GOVHOST_UI_SHOTS") == "1" else None
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
KHMER = re.compile("[\u1780-\u17ff]")
LATIN_IN_KM = {"DNS"}  # a label the km catalog keeps as it is
ROOT = system_actor("cli", "test")
KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth + 1"


@dataclass
class World:
    ministry: int
    webmaster: int
    host: int
    site: int
    zone: int
    request: int
    job: int
    admin_secret: str
    auditor_secret: str


def _host_and_site(org_id: int) -> tuple[int, int]:
    plan = sites_svc.plan_create(ROOT, name="basic", disk_mb=1024)
    with db.unit_of_work() as s:
        host = Host(
            name="web1",
            address="10.77.0.250",
            host_key_type="ssh-ed25519",
            host_key=KEY,
            fingerprint="SHA256:Vn4xYo3nq1kVf0m1tQb3OZc1w1pZ3m2m7bF9o3QWk2Q",
            facts={"php_versions": ["8.2"]},
        )
        host.roles = ["web"]
        s.add(host)
        s.flush()
        site = Site(
            org_id=org_id,
            fqdn="www.mpt.gov.test",
            plan_id=plan.id,
            host_id=host.id,
            system_user="site1",
            status=SiteStatus.ACTIVE,
            disk_used_mb=312.5,
        )
        s.add(site)
        s.flush()
        return host.id, site.id


def _zone(org_id: int, org_admin) -> int:
    with db.unit_of_work() as s:
        zone = Zone(org_id=org_id, name="mpt.gov.test", status=ZoneStatus.ACTIVE)
        s.add(zone)
        s.flush()
    for name, rtype, data in [
        ("www", "A", "10.77.0.11"),
        ("mail", "A", "10.77.0.12"),
        ("@", "MX", "10 mail.mpt.gov.test"),
        ("@", "TXT", "v=spf1 mx -all"),
    ]:
        dns_svc.record_create(org_admin, zone_id=zone.id, name=name, rtype=rtype, data=data, ttl=3600)
    return zone.id


def _job(org_id: int, host_id: int) -> int:
    job = jobs_svc.job_submit(ROOT, kind="host.ping", org_id=org_id, host_ids=[host_id], params={})
    with db.unit_of_work() as s:
        for i, (ev, task, st) in enumerate(
            [
                ("playbook_on_task_start", "Gathering Facts", None),
                ("runner_on_ok", "Gathering Facts", "ok"),
                ("playbook_on_task_start", "Check the host answers", None),
                ("runner_on_ok", "Check the host answers", "ok"),
            ],
            start=1,
        ):
            s.add(
                JobEvent(
                    job_id=job.id, counter=i, event=ev, host="web1", task=task, status=st, stdout=f"ok: [web1] step {i}"
                )
            )
    return job.id


@pytest.fixture
def world(make) -> World:
    dc = make.make_org("Government Data Center", kind=OrgKind.DATACENTER, slug="dc")
    org = tenants_svc.org_create(
        ROOT,
        slug="mpt",
        name="Ministry of Posts and Telecommunications",
        name_km="ក្រសួងប្រៃសណីយ៍និងទូរគមនាគមន៍",
        kind="ministry",
    )
    admin_secret, auditor_secret = pyotp.random_base32(), pyotp.random_base32()
    make.make_user(Role.ADMIN, dc, username="admin", totp_secret=admin_secret)
    make.make_user(Role.AUDITOR, dc, username="audra", totp_secret=auditor_secret)
    boss = make.make_user(Role.ORG_ADMIN, org, username="sokha")
    wm = make.make_user(Role.WEBMASTER, org, username="dara")
    boss_actor = make.actor_of(boss)
    host_id, site_id = _host_and_site(org.id)
    zone_id = _zone(org.id, boss_actor)
    req = requests_svc.request_create(
        boss_actor,
        kind="quota.change",
        org_id=org.id,
        payload={"resource": "sites", "new_limit": 12, "reason": "Ten new provinces"},
    )
    job_id = _job(org.id, host_id)
    with db.unit_of_work() as s:
        notifications_svc.notify(
            s,
            [wm.id],
            kind="site.ready",
            subject="www.mpt.gov.test is ready",
            body="The website is online.",
            link=f"/sites/{site_id}",
            org_id=org.id,
        )
    return World(org.id, wm.id, host_id, site_id, zone_id, req.id, job_id, admin_secret, auditor_secret)


def _extra_pages(role: str, w: World) -> list[str]:
    """Detail and form pages that the menu does not link directly."""
    seen = [
        f"/orgs/{w.ministry}",
        f"/requests/{w.request}",
        f"/jobs/{w.job}",
        f"/sites/{w.site}",
        f"/dns/zones/{w.zone}",
        f"/quotas/{w.ministry}",
        "/profile",
    ]
    if role == "admin":
        return [
            *seen,
            "/orgs/new",
            f"/users/{w.webmaster}",
            "/users/new",
            f"/hosts/{w.host}",
            "/hosts/new",
            "/requests/new",
            "/requests/new/quota.change",
            "/sites/new",
            "/dns/claims",
            "/cms/new",
        ]
    if role == "auditor":
        return [*seen, f"/users/{w.webmaster}", f"/hosts/{w.host}"]
    return [*seen, "/requests/new", "/sites/new", "/dns/claims", "/cms/new"]


def _log_in(page, role: str, w: World) -> None:
    username = {"admin": "admin", "auditor": "audra", "webmaster": "dara"}[role]
    log_in(page, username, PASSWORD)
    if role != "webmaster":
        page.wait_for_url(re.compile(r"/twofa$"))
        page.fill("#code", pyotp.TOTP(w.admin_secret if role == "admin" else w.auditor_secret).now())
        page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def _nav(page) -> list[tuple[str, str]]:
    links = page.locator("header nav a")
    return [(links.nth(i).get_attribute("href"), links.nth(i).inner_text().strip()) for i in range(links.count())]


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "dashboard"


def _check(page, path: str, shot: str, problems: list[str]) -> None:
    response = page.goto(path)
    where = f"{shot} {path}"
    if response is None or response.status != 200:
        problems.append(f"{where}: status {response.status if response else None}")
    if page.locator("main h1").count() != 1:
        problems.append(f"{where}: {page.locator('main h1').count()} <h1> in <main>")
    if not page.evaluate(FITS):
        problems.append(f"{where}: wider than the screen")
    if SHOTS is not None:
        page.screenshot(path=str(SHOTS / f"{shot}-{_slug(path)}.png"), full_page=True)


def _switch_to_khmer(page) -> None:
    page.goto("/")
    page.select_option("#lang", "km")
    page.locator('html[lang="km"]').wait_for(state="attached")


def _check_dashboard(page, role: str, w: World) -> None:
    """Staff see the request waiting for approval; the webmaster sees the site and the budget."""
    main = page.locator("main")
    if role == "webmaster":
        assert main.locator(f'a[href="/sites/{w.site}"]').count() == 1
        watched = [name for name, r in quotas_svc.RESOURCES.items() if r.watched]  # from the manifests
        assert len(watched) >= 4 and main.locator("meter").count() == len(watched)
    else:
        assert main.locator(f'a[href="/requests/{w.request}"]').count() == 1
        assert main.locator("meter").count() == 0


@pytest.mark.parametrize("role", ["admin", "webmaster", "auditor"])
def test_every_page_in_both_languages_and_sizes(browser, live_server, world, role):
    if SHOTS is not None:
        SHOTS.mkdir(exist_ok=True)
    # CDP evaluation (the width measurement) must not be blocked by the panel's script-src policy.
    context = browser.new_context(base_url=live_server, locale="en-US", viewport=SIZES["desktop"], bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    try:
        _log_in(page, role, world)
        _check_dashboard(page, role, world)
        labels = {}
        for lang in ("en", "km"):
            if lang == "km":
                _switch_to_khmer(page)
            nav = _nav(page)
            labels[lang] = [label for _href, label in nav]
            paths = ["/", *[href for href, _label in nav], *_extra_pages(role, world)]
            for size, viewport in SIZES.items():
                page.set_viewport_size(viewport)
                for path in paths:
                    _check(page, path, f"{role}-{lang}-{size}", problems)
    finally:
        context.close()
    assert len(labels["en"]) >= 5 and len(labels["en"]) == len(labels["km"]), labels
    untranslated = [k for k in labels["km"] if not KHMER.search(k) and k not in LATIN_IN_KM]
    assert not untranslated, f"English left in the km menu: {untranslated}"
    assert not problems, "\n".join(problems)
