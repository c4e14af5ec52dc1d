"""The newcomer test: the quick start as a new data center gets it, tested as the product.

From a fresh copy of the repository (its tracked and new files, nothing of this checkout's config or
data), run what `./scripts/demo` runs (`--no-serve`: its own setup, config and data center, then
this test starts `govhost serve --with-worker` itself), then in Chromium: the admin's first login
(2FA enrolment, own password), a new ministry with its claim suffix and a webmaster; the webmaster's
first login, a claim (its TXT record published by the data center in the demo parent zone), a site
and a mail domain; staff approve; the site answers over HTTPS with the demo CA downloaded from the
panel; a mailbox receives a message read over IMAPS; the demo ministry's WordPress (made by the
quick start) is listed and its front page answers over HTTPS. Then the whole journey again in Khmer, with
every visible string on every page checked: Khmer, or user data, never untranslated English.

Screenshots of every step go to a folder printed at the start (kept after the run). The demo host
and Pebble use addresses of their own (docs/lab.md: ncdemo .246, Pebble :14060).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Error as PlaywrightError

from provisioners import lab as L
from tests.browser.conftest import CHROMIUM
from tests.lab.conftest import lab_unavailable
from tests.support.clients import http_get, imap, smtp

pytestmark = [pytest.mark.lab, pytest.mark.browser]
sync_api = pytest.importorskip("playwright.sync_api")

NAME, IP, ACME_PORT = "ncdemo", str(L.SUBNET.network_address + 246), 14060  # docs/lab.md
REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "Mekong river 2026 datacenter"
WM_PASSWORD = "Tonle Sap lake 2026 webmaster"
BOX_PASSWORD = "Angkor-mailbox-2026"
KHMER = re.compile(r"[\u1780-\u17ff\u19e0-\u19ff]")
# Words that are the same in any language on these pages: protocols, formats, product names.
SAME_IN_KHMER = {
    "DNS", "PHP", "HTTPS", "HTTP", "TXT", "TTL", "SFTP", "API", "PEM", "TSIG", "ACME", "BIND", "IMAP", "IMAPS",
    "SMTP", "MB", "GB", "ID", "TOTP", "QR", "FreeOTP", "Aegis", "Google", "Authenticator", "govhost", "English",
    "CSV", "MX", "SPF", "DKIM", "DMARC", "CNAME", "AAAA", "CAA", "NS", "SRV", "A", "SOA", "nginx", "PHP-FPM",
    "postfix", "dovecot", "opendkim", "webmail", "Roundcube", "postmaster", "abuse", "JSON", "URL", "IP", "OK",
    "AM", "PM",  # CLDR's Khmer day periods are these
    "TLS", "STARTTLS", "IN",
}  # fmt: skip


def _env() -> dict[str, str]:
    """The test's environment without its settings overrides or PYTHONPATH: the copy runs as a user would,
    on this run's lab block (GOVHOST_LAB_NET: the demo's lab host, network, DNS and ACME follow it)."""
    keep = {"GOVHOST_CACHE", "GOVHOST_LAB_DIR", "GOVHOST_LAB_RUN", "GOVHOST_LAB_NET"}
    return {k: v for k, v in os.environ.items() if (not k.startswith("GOVHOST_") or k in keep) and k != "PYTHONPATH"}


def _fresh_copy(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        src = REPO / os.fsdecode(name)
        if src.is_file() and "__pycache__" not in src.parts:
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))
    assert not (dest / "config.yaml").exists() and not (dest / "var").exists()
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Shots:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="govhost-newcomer-"))
        self.n = 0
        print(f"\nnewcomer screenshots: {self.dir}")

    def __call__(self, page, name: str) -> Path:
        self.n += 1
        path = self.dir / f"{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture(scope="module")
def quickstart():
    """The quick start from a fresh copy, then `govhost serve --with-worker` on a free port."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    if not os.path.exists(CHROMIUM) or not shutil.which("pebble"):
        pytest.skip("chromium and pebble are needed (scripts/setup installs both)")
    # Not under pytest's basetemp: other sessions on the machine prune old ones while this one runs.
    top = Path(tempfile.mkdtemp(prefix="govhost-fresh-copy-"))
    copy = _fresh_copy(top / "govhost")
    env = _env()
    L.hosts_down([NAME], forget=True)  # a pristine demo host, as on a fresh machine
    serve = log = None
    try:  # a failing demo still stops its Pebble and demo host (it left them running before)
        started = time.monotonic()
        demo = subprocess.run(
            ["./scripts/demo", "--no-serve", "--host", NAME, "--address", IP, "--acme-port", str(ACME_PORT)],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        setup_s = time.monotonic() - started
        print(demo.stdout[-4000:])
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        one_time = re.search(r"one-time password.*?^\s+(\S{16,})\s*$", demo.stdout, re.S | re.M)
        assert one_time, demo.stdout
        port = _free_port()
        log = open(copy / "serve.log", "w")  # noqa: SIM115 - closed at teardown
        serve = subprocess.Popen(
            ["./scripts/govhost", "serve", "--bind", f"127.0.0.1:{port}", "--with-worker"],
            cwd=copy,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Ready when /readyz answers 200, not when the socket is bound: gunicorn binds before its
        # worker has loaded the app, and under the gate's load that took over 20 s (a CI run's
        # first page timed out). A newcomer's browser would be waiting on the same thing.
        deadline = time.monotonic() + 180
        while not _ready(port):
            assert serve.poll() is None and time.monotonic() < deadline, (copy / "serve.log").read_text()
            time.sleep(0.5)
        yield {
            "copy": copy,
            "base": f"http://127.0.0.1:{port}",
            "password": one_time.group(1),
            "setup_s": setup_s,
            "db": copy / "var" / "govhost.db",
            "demo_out": demo.stdout,
        }
    finally:
        if serve is not None:
            os.killpg(serve.pid, signal.SIGTERM)
            try:
                serve.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
        if log is not None:
            log.close()
        subprocess.run(
            ["./scripts/govhost", "lab", "pebble", "--stop", "--dir", "var/pebble", "--dns", IP],
            cwd=copy,
            env=env,
            check=False,
        )
        L.close_control_sockets(IP)
        L.hosts_down([NAME], forget=True)
        shutil.rmtree(top, ignore_errors=True)


def _ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _db(quickstart, sql: str, *args):
    with sqlite3.connect(f"file:{quickstart['db']}?mode=ro", uri=True, timeout=10) as c:
        return c.execute(sql, args).fetchall()


def _wait(check, timeout: float, what: str, every: float = 1.0, qs=None):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s" + (_state(qs) if qs else "")
        time.sleep(every)


def _state(quickstart) -> str:
    """What the demo was doing when a wait ran out: its latest jobs and the end of the server's log."""
    rows = _db(
        quickstart,
        "select id, kind, status, worker, created_at, started_at, finished_at, substr(explanation, 1, 200) "
        "from jobs order by id desc limit 15",
    )
    log = (quickstart["copy"] / "serve.log").read_text(errors="replace")[-3000:]
    return "\njobs (newest first):\n" + "\n".join(map(str, rows)) + "\nserve.log:\n" + log


# ---- the untranslated-text check -----------------------------------------------------------------

_VISIBLE_TEXTS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const n = walk.currentNode, el = n.parentElement, t = n.textContent.trim();
    // translate="no" (HTML) marks data shown as it is: a request's fields as sent, codes, keys.
    if (!t || !el || el.closest('script,style,noscript,template,[translate=no],.secret-once')) continue;
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden' || !el.getClientRects().length) continue;
    out.push(t);
  }
  for (const el of document.querySelectorAll('input[placeholder],textarea[placeholder],[title],img[alt]')) {
    for (const a of ['placeholder', 'title', 'alt']) { const v = el.getAttribute(a); if (v) out.push(v); }
  }
  for (const el of document.querySelectorAll('input[type=submit][value],button[value]')) out.push(el.value);
  return out;
}"""
_DATA = [
    re.compile(r"[\w.+-]+@[\w.-]+"),  # e-mail addresses
    re.compile(r"https?://\S+"),
    re.compile(r"(?<![\w-])(?:[\w-]+\.)+(?:test|kh|invalid|pem|conf|yaml|json|png|php)\b"),  # names, files
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),  # addresses
    re.compile(r"SHA256:\S+"),
    re.compile(r"\b[A-Z2-7]{16,}\b"),  # a TOTP secret
    re.compile(r"_govhost-challenge\S*|\"[\w-]{20,}\""),  # the claim's record and token
    re.compile(r"#\d+ [a-z_]+\.[a-z_]+\b"),  # a job by number and kind (an identifier, shown as code)
]


class Catalog:
    """The Khmer catalog of the copy under test: a text shown verbatim as an English msgid whose
    Khmer differs was not translated; Latin words the translators kept (Webmail, IMAP...) are fine."""

    def __init__(self, copy: Path) -> None:
        km = json.loads((copy / "panel" / "i18n_km.json").read_text())
        self.english = {k.split("\x04")[-1] for k, v in km.items() if v and v != k and len(k) > 3}
        self.kept = {w for v in km.values() for w in re.findall(r"[A-Za-z][A-Za-z'-]+", v)}

    def untranslated(self, texts: list[str], data: set[str]) -> list[str]:
        """Of a page's visible strings (_VISIBLE_TEXTS), those that are an English msgid, or keep English
        words once Khmer, user data, technical words and words the Khmer catalog itself uses are set aside."""
        bad = []
        for text in texts:
            if text in self.english:
                bad.append(text)
                continue
            rest = text
            for rx in _DATA:
                rest = rx.sub(" ", rest)
            for value in sorted(data, key=len, reverse=True):
                rest = rest.replace(value, " ")
            words = re.findall(r"[A-Za-z][A-Za-z'-]+", KHMER.sub(" ", rest))
            if [w for w in words if w.upper() not in SAME_IN_KHMER and w not in SAME_IN_KHMER and w not in self.kept]:
                bad.append(text)
        return bad


# ---- the journey -----------------------------------------------------------------------------------


class Journey:
    """One pass through the first hour, in one language; `check` collects untranslated strings."""

    def __init__(self, browser, quickstart, shots: Shots, lang: str, slug: str) -> None:
        self.qs, self.shots, self.lang, self.slug = quickstart, shots, lang, slug
        self.domain = f"{slug}.gov.test"
        self.webmaster = f"wm-{slug}"
        self.ministry = f"Ministry of {slug.upper()} ({lang})"
        self.problems: list[str] = []
        self.data = {
            self.domain, self.webmaster, self.ministry, "admin", NAME, IP, "gov.test", "mpt.gov.test",
            "small", "standard", "large", f"www.{self.domain}", f"info@{self.domain}", slug, "govhost",
        }  # fmt: skip
        locale = "km-KH" if lang == "km" else "en-US"
        self.contexts = []
        self.catalog = Catalog(quickstart["copy"])
        self.browser = browser
        self.locale = locale

    def page(self):
        ctx = self.browser.new_context(
            base_url=self.qs["base"], locale=self.locale, viewport={"width": 1280, "height": 900}
        )
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        return page

    def step(self, page, name: str) -> None:
        path, body, html, texts = _settled(page, lambda: self.shots(page, f"{self.lang}-{name}"), self.lang == "km")
        assert body.strip(), f"{name}: empty page"
        assert "Internal Server Error" not in html, f"{name}: 500 ({path})"
        if self.lang == "km":
            people = _db(
                self.qs,
                "select name from organizations union all select name_km from organizations union all "
                "select username from users union all select display_name from mailboxes union all "
                "select local_part from mailboxes",
            )
            for text in self.catalog.untranslated(texts, self.data | {row[0] for row in people if row[0]}):
                self.problems.append(f"{name} {page.url} ({path.name}): {text!r}")

    def close(self) -> None:
        for ctx in self.contexts:
            ctx.close()


def _settled(page, shoot, visible: bool):
    """Screenshot, text and HTML of the page once it stays put. A job's page reloads itself when the
    job ends (static/js/jobs.js), as a user sees it: reading it in that moment fails with "the page is
    navigating" (a gate run failed so), so the read waits for the new page and is tried again."""
    for attempt in range(5):
        page.wait_for_load_state("load")
        try:
            texts = page.evaluate(_VISIBLE_TEXTS) if visible else []
            return shoot(), page.locator("body").inner_text(), page.content(), texts
        except PlaywrightError as e:
            if not ("navigat" in str(e) or "context was destroyed" in str(e)) or attempt == 4:
                raise
            time.sleep(0.5)


def _goto(page, url: str) -> None:
    """page.goto, tried again when a job page's own reload (static/js/jobs.js) aborted it: the page
    stops following its job once the user leaves it, but a reload already under way when the test
    navigates still wins the race (a gate run failed with net::ERR_ABORTED so)."""
    for attempt in range(3):
        try:
            page.goto(url)
            return
        except PlaywrightError as e:
            if not ("ERR_ABORTED" in str(e) or "interrupted by another navigation" in str(e)) or attempt == 2:
                raise
            page.wait_for_load_state("load")


def _log_in(page, username: str, password: str) -> None:
    _goto(page, "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")


def _set_password(page, old: str, new: str) -> None:
    page.wait_for_url(re.compile(r"/password"))
    page.fill("#old_password", old)
    page.fill("#new_password", new)
    page.fill("#confirm", new)
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def admin_first_login(j: Journey, page) -> str:
    _log_in(page, "admin", j.qs["password"])
    page.wait_for_url(re.compile(r"/enrol$"))
    j.step(page, "admin-enrol-2fa")
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("main form button[type=submit]")
    page.wait_for_selector("#recovery-codes li")
    j.step(page, "admin-recovery-codes")
    page.locator("main p a.btn").last.click()
    page.wait_for_url(re.compile(r"/password"))
    j.step(page, "admin-own-password")
    _set_password(page, j.qs["password"], ADMIN_PASSWORD)
    j.step(page, "admin-dashboard")
    return secret


def admin_log_in(j: Journey, page, secret: str) -> None:
    _log_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url(re.compile(r"/twofa"))
    j.step(page, "admin-second-factor")
    code = pyotp.TOTP(secret)
    while time.time() % 30 > 27:  # a code about to expire would be refused as used next window
        time.sleep(1)
    page.fill("#code", code.now())
    page.click("main form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    j.step(page, "admin-dashboard")


def _submit(page, form: str = "main form") -> None:
    page.locator(f"{form} button[type=submit]").first.click()
    page.wait_for_load_state("load")


def create_ministry_and_webmaster(j: Journey, page) -> str:
    _goto(page, "/orgs/new")
    j.step(page, "new-ministry-form")
    page.fill("#slug", j.slug)
    page.fill("#name", j.ministry)
    page.fill("#name_km", f"ក្រសួង {j.slug}")
    page.select_option("#kind", "ministry")
    _submit(page)
    j.step(page, "ministry-created")
    org_id = _db(j.qs, "select id from organizations where slug = ?", j.slug)[0][0]
    _goto(page, "/dns/suffixes")
    j.step(page, "suffixes")
    page.select_option("#org_id", str(org_id))
    page.fill("#suffixes", j.domain)
    _submit(page, "#set-suffixes form")
    j.step(page, "suffix-set")
    assert j.domain in page.locator("main").inner_text()
    _goto(page, "/users/new")
    j.step(page, "new-webmaster-form")
    page.fill("#username", j.webmaster)
    page.fill("#email", f"{j.webmaster}@{j.domain}")
    page.select_option("#org_id", str(org_id))
    page.select_option("#role", "webmaster")
    _submit(page)
    j.step(page, "webmaster-one-time-password")
    return page.locator("#one-time-password").inner_text().strip()


def webmaster_claims(j: Journey, page, one_time: str) -> str:
    _log_in(page, j.webmaster, one_time)
    j.step(page, "webmaster-own-password")
    _set_password(page, one_time, WM_PASSWORD)
    j.step(page, "webmaster-dashboard")
    _goto(page, "/dns/claims")
    j.step(page, "claims")
    page.fill("#domain", j.domain)
    _submit(page, "#claim form")
    j.step(page, "claim-made")
    token = re.search(r'TXT "([^"]+)"', page.locator("main").inner_text()).group(1)
    return token


def staff_publish_txt(j: Journey, page, token: str) -> None:
    _goto(page, "/dns/")
    j.step(page, "dns-zones")
    page.click("main a:text-is('gov.test')")
    j.step(page, "parent-zone")
    page.fill("#name", f"_govhost-challenge.{j.slug}")
    page.select_option("#rtype", "TXT")
    page.fill("#data", token)
    page.locator("form[action$='/records'] button[type=submit]").click()
    page.wait_for_load_state("load")
    j.step(page, "txt-added")
    page.locator("form[action$='/apply'] button[type=submit]").click()
    page.wait_for_load_state("load")
    j.step(page, "txt-applied")


def webmaster_verifies_and_asks_for_a_zone(j: Journey, page) -> None:
    _goto(page, "/dns/claims")
    page.locator("form[action$='/verify'] button[type=submit]").first.click()
    page.wait_for_load_state("load")
    j.step(page, "claim-verified")
    assert _db(j.qs, "select verified_at from dns_domain_claims where domain = ?", j.domain)[0][0]
    # Its own zone, so its site and mail records are published for it (a name under the parent's
    # wildcard stops resolving once the claim's TXT record makes the ministry's name exist there).
    _goto(page, "/dns/")
    page.fill("#name", j.domain)
    page.locator("form[action$='/dns/'] button[type=submit]").click()
    page.wait_for_load_state("load")
    j.step(page, "zone-requested")


def webmaster_asks_for_site_and_mail(j: Journey, page) -> None:
    _wait(
        lambda: _db(j.qs, "select id from dns_zones where name = ? and status = 'ACTIVE'", j.domain),
        180,
        f"zone {j.domain} active",
        every=1,
    )
    _goto(page, "/dns/")
    j.step(page, "zone-active")
    _goto(page, "/sites/new")
    j.step(page, "site-form")
    page.fill("#fqdn", f"www.{j.domain}")
    page.select_option("#plan", "small")
    _submit(page)
    j.step(page, "site-requested")
    _goto(page, "/mail/new")
    j.step(page, "mail-domain-form")
    page.fill("#name", j.domain)
    page.fill("#contact", f"it@{j.domain}")
    _submit(page)
    j.step(page, "mail-domain-requested")


def staff_approve(j: Journey, page, kind: str) -> None:
    (rid,) = _db(
        j.qs,
        "select r.id from requests r join organizations o on o.id = r.org_id "
        "where o.slug = ? and r.kind = ? order by r.id desc limit 1",
        j.slug,
        kind,
    )[0]
    _goto(page, f"/requests/{rid}")
    j.step(page, f"{kind}-to-approve")
    page.locator("form[action$='/approve'] button[type=submit]").first.click()
    page.wait_for_load_state("load")
    j.step(page, f"{kind}-approved")


def site_answers_over_https(j: Journey, page) -> float:
    started = time.monotonic()
    ca = j.qs["copy"] / f"ca-{j.lang}.pem"
    _goto(page, "/sites/")
    with page.expect_download() as dl:
        page.locator("a[href$='/sites/ca.pem']").click()
    dl.value.save_as(str(ca))

    def answers():
        try:
            return http_get(f"https://{IP}/", host_header=f"www.{j.domain}", cafile=str(ca), timeout=5).status == 200
        except (OSError, ssl.SSLError):
            return False

    # Alone this takes well under a minute; in the gate six sessions share 2 cores and the demo host
    # runs its jobs one at a time, and the second pass's site once missed 300 s (cause not found).
    _wait(answers, 600, f"https://www.{j.domain}/ with the demo CA", every=2, qs=j.qs)
    seconds = time.monotonic() - started
    _goto(page, "/sites/")
    j.step(page, "site-active-https")
    return seconds


def demo_wordpress_answers(j: Journey, page) -> None:
    """The demo ministry's WordPress, made by the quick start: listed for staff, its front page over
    HTTPS with the demo CA (downloaded by the site step), its administrator's password printed once."""
    said = re.search(  # the console may wrap the line anywhere between words
        r"WordPress\s+administrator\s+webadmin\s+at\s+(\S+),\s+password\s+\(shown\s+once\):\s+(\S+)", j.qs["demo_out"]
    )
    assert said and said.group(1) == "https://www.mpt.gov.test/wp-admin/" and len(said.group(2)) == 24, j.qs["demo_out"]
    _goto(page, "/cms/")
    j.step(page, "demo-wordpress")
    row = page.locator("tr", has_text="www.mpt.gov.test")
    assert row.count() == 1 and "active" in row.inner_text().lower(), page.content()[:2000]
    front = http_get(
        f"https://{IP}/", host_header="www.mpt.gov.test", cafile=str(j.qs["copy"] / f"ca-{j.lang}.pem"), timeout=30
    )
    assert front.status == 200 and "<title>Ministry of Posts and Telecommunications" in front.text, front.text[:500]


def mailbox_receives(j: Journey, page) -> None:
    _wait(
        lambda: _db(j.qs, "select id from mail_domains where name = ? and status = 'ACTIVE'", j.domain),
        300,
        f"mail domain {j.domain} active",
        every=2,
        qs=j.qs,
    )
    (domain_id,) = _db(j.qs, "select id from mail_domains where name = ?", j.domain)[0]
    _goto(page, f"/mail/domains/{domain_id}/mailboxes/new")
    j.step(page, "mailbox-form")
    page.fill("#entries", f"info,{BOX_PASSWORD},Info desk")
    _submit(page)
    j.step(page, "mailbox-requested")
    _wait(
        lambda: _db(
            j.qs,
            "select id from mailboxes where local_part = 'info' and domain_id = ? and status = 'ACTIVE'",
            domain_id,
        ),
        300,
        "mailbox active",
        every=2,
        qs=j.qs,
    )
    _goto(page, f"/mail/domains/{domain_id}")
    j.step(page, "mailbox-active")
    with page.expect_download() as dl:
        _goto(page, "/mail/")
        page.locator("a[href$='/mail/ca.pem']").click()
    mail_ca = j.qs["copy"] / f"mail-ca-{j.lang}.pem"
    dl.value.save_as(str(mail_ca))
    subject = f"newcomer {uuid.uuid4().hex[:8]}"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "citizen@example.test", f"info@{j.domain}", subject
    msg.set_content("Hello from the newcomer test.")
    with smtp(IP, 25) as s:
        s.send_message(msg)
    ctx = ssl.create_default_context(cafile=str(mail_ca))

    def arrived():
        with imap(IP, 993, use_ssl=True, ssl_context=ctx) as m:
            m.login(f"info@{j.domain}", BOX_PASSWORD)
            m.select("INBOX")
            typ, found = m.search(None, "SUBJECT", f'"{subject}"')
            return typ == "OK" and found[0].split()

    _wait(arrived, 60, "the message in the mailbox over IMAPS", every=1)


def run_journey(j: Journey, admin_secret: str | None) -> tuple[str, float]:
    admin = j.page()
    if admin_secret is None:
        admin_secret = admin_first_login(j, admin)
    else:
        admin_log_in(j, admin, admin_secret)
    one_time = create_ministry_and_webmaster(j, admin)
    wm = j.page()
    token = webmaster_claims(j, wm, one_time)
    staff_publish_txt(j, admin, token)
    webmaster_verifies_and_asks_for_a_zone(j, wm)
    staff_approve(j, admin, "dns.zone_create")
    webmaster_asks_for_site_and_mail(j, wm)
    staff_approve(j, admin, "sites.site_create")
    https_s = site_answers_over_https(j, wm)
    if j.lang == "en":
        demo_wordpress_answers(j, admin)
    # One after the other: a mail domain's job renews the host's mail TLS files, and a site job's
    # nginx -t that reads them half-written fails (the webmail vhost uses them).
    staff_approve(j, admin, "mail.domain_create")
    mailbox_receives(j, wm)
    return admin_secret, https_s


def test_newcomer_first_hour_in_english_then_khmer(quickstart, browser):
    shots = Shots()
    en = Journey(browser, quickstart, shots, "en", "mof")
    try:
        secret, https_en = run_journey(en, None)
    finally:
        en.close()
    km = Journey(browser, quickstart, shots, "km", "mfa")
    try:
        _, https_km = run_journey(km, secret)
    finally:
        km.close()
    print(
        f"newcomer: ./scripts/demo --no-serve {quickstart['setup_s']:.0f} s; after approval, HTTPS answered in "
        f"{https_en:.0f} s (en) and {https_km:.0f} s (km); screenshots in {shots.dir}"
    )
    assert not km.problems, "untranslated text on Khmer pages:\n" + "\n".join(km.problems)
