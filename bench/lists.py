"""List pages at data-center scale: 10,000 sites (with orgs, hosts, plans, aliases), 50,000 mailboxes
(20,000 of them in one domain, the worst mailbox list) and 100,000 audit entries, bulk-inserted.

For each backend (a temporary SQLite file, and PostgreSQL at 127.0.0.1:5432 when it answers, in a
database created and dropped here) it times the first and the last page of the sites, mailbox and
audit lists through the service functions, the web page and the API (Flask test client), median of
RUNS, against a bare `SELECT * FROM <table> LIMIT 50` of the same table in the same run.

Run with no arguments: `python bench/lists.py`. Figures (the slowest backend, page and surface of
the service calls; the ratio is that list page over the bare select of its table):
  figure: sites_list_page_ms = N ms
  figure: mailboxes_list_page_ms = N ms
  figure: audit_list_page_ms = N ms
  figure: list_vs_bare_ratio = N x
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text

import panel.models  # noqa: F401  (the core's tables)
from bench._common import sqlite_then_postgres
from panel import capabilities, db
from panel.app import create_app
from panel.boot import boot
from panel.capabilities.mail import service as mail
from panel.capabilities.mail.models import Mailbox, MailDomain
from panel.capabilities.sites import service as sites
from panel.capabilities.sites.models import Plan, Site, SiteAlias
from panel.config import Settings
from panel.db import Base
from panel.models.audit import AuditEntry, AuditHead
from panel.models.hosts import Host
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.services import audit
from panel.services.actor import actor_for_user
from tests.conftest import settings_dict
from tests.support.surfaces import api_headers, web_login

capabilities.load()  # every enabled capability's tables, kinds and jobs

SITES, MAILBOXES, BIG_DOMAIN, AUDIT = 10_000, 50_000, 20_000, 100_000
ORGS, HOSTS, DOMAINS = 200, 100, 301
PER_PAGE, RUNS, CHUNK = 50, 7, 5_000


def bulk(conn, model, rows) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(model), rows[i : i + CHUNK])


def populate(conn) -> None:
    now = db.utcnow()
    bulk(
        conn,
        Organization,
        [{"id": 1, "slug": "dc", "name": "DC", "kind": OrgKind.DATACENTER}]
        + [{"id": i, "slug": f"m{i}", "name": f"Ministry {i}", "kind": OrgKind.MINISTRY} for i in range(2, ORGS + 2)],
    )
    bulk(conn, Plan, [{"id": p, "name": f"plan{p}", "disk_mb": 1000 * p} for p in (1, 2, 3)])
    bulk(
        conn,
        Host,
        [
            {
                "id": h,
                "name": f"web{h}",
                "address": f"198.18.0.{h}",
                "host_key_type": "ssh-ed25519",
                "host_key": "AAAA",
                "fingerprint": f"SHA256:{h}",
                "facts": {},
            }
            for h in range(1, HOSTS + 1)
        ],
    )
    bulk(
        conn,
        Site,
        [
            {
                "id": i,
                "org_id": 2 + i % ORGS,
                "fqdn": f"s{i:05d}.gov.kh",
                "plan_id": 1 + i % 3,
                "host_id": 1 + i % HOSTS,
                "system_user": f"site{i}",
                "status": "active",
                "quota_request_ids": [],
            }
            for i in range(1, SITES + 1)
        ],
    )
    bulk(conn, SiteAlias, [{"site_id": i, "name": f"www.s{i:05d}.gov.kh"} for i in range(1, SITES + 1)])
    bulk(
        conn,
        MailDomain,
        [
            {
                "id": d,
                "org_id": 2 + d % ORGS,
                "name": f"d{d}.gov.kh",
                "host_id": 1,
                "dkim_selector": "govhost",
                "dns_status": {},
            }
            for d in range(1, DOMAINS + 1)
        ],
    )
    per_domain = (MAILBOXES - BIG_DOMAIN) // (DOMAINS - 1)
    boxes = [(1, n) for n in range(BIG_DOMAIN)] + [(d, n) for d in range(2, DOMAINS + 1) for n in range(per_domain)]
    bulk(
        conn,
        Mailbox,
        [
            {"org_id": 2 + d % ORGS, "domain_id": d, "local_part": f"u{n:05d}", "quota_mb": 1024, "status": "active"}
            for d, n in boxes
        ],
    )
    bulk(
        conn,
        AuditEntry,
        [
            {
                "seq": i,
                "created_at": now,
                "actor_name": "bench",
                "org_id": 2 + i % ORGS,
                "action": "sites.site_create",
                "object_type": "site",
                "object_id": str(i),
                "summary": "{}",
                "surface": "cli",
                "prev_hash": "0" * 64,
                "hash": f"{i:064x}",
            }
            for i in range(1, AUDIT + 1)
        ],
    )
    conn.execute(insert(AuditHead), [{"id": 1, "seq": AUDIT, "hash": f"{AUDIT:064x}"}])
    conn.execute(insert(User), [{"id": 1, "username": "admin", "email": "a@bench.invalid", "password_hash": "!"}])
    conn.execute(insert(Membership), [{"user_id": 1, "org_id": 1, "role": Role.ADMIN}])


def median_ms(fn) -> float:
    fn()  # warm (statement caches, templates)
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        db.remove()
    return statistics.median(times)


def ok(resp):
    assert resp.status_code == 200, (resp.status_code, resp.get_data(as_text=True)[:300])
    return resp


def measure(settings: Settings) -> dict[str, float]:
    with db.unit_of_work() as s:
        actor = actor_for_user(s.get(User, 1), surface="cli")
    app = create_app(settings)
    app.config.update(TESTING=True)
    web = app.test_client()
    web_login(app, web, db.session().get(User, 1))
    headers = api_headers(db.session().get(User, 1), "read")
    lists = {  # name -> (table, last page, service call, web url, api url)
        "sites": (
            "sites",
            -(-SITES // PER_PAGE),
            lambda p: sites.site_list(actor, page=p, per_page=PER_PAGE),
            "/sites/",
            "/api/v1/sites/",
        ),
        "mailboxes": (
            "mailboxes",
            -(-BIG_DOMAIN // PER_PAGE),
            lambda p: mail.mailbox_list(actor, domain_id=1, page=p, per_page=PER_PAGE),
            "/mail/domains/1",
            "/api/v1/mail/domains/1/mailboxes",
        ),
        "audit": (
            "audit_entries",
            -(-AUDIT // PER_PAGE),
            lambda p: audit.audit_list(actor, page=p, per_page=PER_PAGE),
            "/audit/",
            "/api/v1/audit/",
        ),
    }
    out = {}
    for name, (table, last, call, web_url, api_url) in lists.items():
        bare = f"SELECT * FROM {table} LIMIT {PER_PAGE}"  # noqa: S608  fixed names
        out[f"{name}.bare"] = median_ms(lambda b=bare: db.session().execute(text(b)).all())
        for label, page in (("first", 1), ("last", last)):
            out[f"{name}.service.{label}"] = median_ms(lambda c=call, p=page: c(p).items)
            # The web pages are PER_PAGE long too (settings web.page_size), so the same page numbers apply.
            out[f"{name}.web.{label}"] = median_ms(lambda u=web_url, p=page: ok(web.get(f"{u}?page={p}")))
            out[f"{name}.api.{label}"] = median_ms(
                lambda u=api_url, p=page: ok(web.get(f"{u}?page={p}&per_page={PER_PAGE}", headers=headers))
            )
    return out


def run(label: str, url: str, tmp: Path) -> dict[str, float]:
    raw = settings_dict(tmp, url)
    raw["web"]["page_size"] = PER_PAGE
    settings = Settings.from_dict(raw)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    t = time.perf_counter()
    with engine.begin() as conn:
        populate(conn)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"{label}: inserted in {time.perf_counter() - t:.1f} s", flush=True)
    engine.dispose()
    boot(settings)
    try:
        res = measure(settings)
    finally:
        db.remove()
        db.engine().dispose()
    for key, ms in res.items():
        print(f"  {label:10s} {key:28s} {ms:8.2f} ms")
    return res


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-lists-"))
    try:
        results = {label: run(label, url, tmp / label) for label, url in sqlite_then_postgres(tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)


def report(results: dict[str, dict[str, float]]) -> None:
    worst, ratio = {}, 0.0
    for name in ("sites", "mailboxes", "audit"):
        worst[name] = max(r[f"{name}.service.{p}"] for r in results.values() for p in ("first", "last"))
        ratio = max(
            ratio, *(r[f"{name}.service.{p}"] / r[f"{name}.bare"] for r in results.values() for p in ("first", "last"))
        )
    print(f"figure: sites_list_page_ms = {worst['sites']:.1f} ms")
    print(f"figure: mailboxes_list_page_ms = {worst['mailboxes']:.1f} ms")
    print(f"figure: audit_list_page_ms = {worst['audit']:.1f} ms")
    print(f"figure: list_vs_bare_ratio = {ratio:.1f} x")


if __name__ == "__main__":
    main()
