"""Lists stay fast however many rows there are: no query per row, and every list is paginated.

Every GET page and endpoint of the app (found in app.url_map, so a new list is checked without
touching this file) is fetched as a staff admin with 3 rows of every object, then again with 30:
the number of SQL statements must not change. Detail pages are fetched for "pivot" objects whose
embedded lists (members, records, events, mailboxes) grow as well. A route whose path argument
this file cannot fill fails, so a new one gets a value here rather than going unchecked.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import Rule

from panel.capabilities.databases import rules as databases_rules
from panel.services import jobs
from tests.perf.querycount import count_statements, growth
from tests.perf.world import World, shown
from tests.support.factories import actor_of

SMALL, LARGE = 3, 30
API_MAX_PER_PAGE = 200

# Path arguments: the world's pivot objects (their embedded lists grow with the world).
ARGS = {
    "kind": lambda w: "host.ping",
    "fmt": lambda w: "csv",
    "what": lambda w: "rack",
}  # a kind staff may ask for; a report format

# Routes that are not pages of rows, with the reason.
NOT_LISTS = {
    "static": "files",
    "api-docs.openapi_json": "the API description",
    "api-docs.openapi_redoc": "the API description page",
    "auth.logout": "ends the session the check runs in",
    "dns.plan": "asks the BIND server (network); its records are read in one query",
    "api_dns.zone_plan": "asks the BIND server (network); its records are read in one query",
    "sites.ca_pem": "a file (sites.acme_root_ca, unset here: 404), no rows",
    "api_sites.ca_pem": "a file (sites.acme_root_ca, unset here: 404), no rows",
    "bulk.template": "a file (a CSV header line), no rows",
    "api_bulk.template": "a file (a CSV header line), no rows",
    "colocation.netbox_export": "a file: the whole floor as NetBox import rows, one query per object type",
    "api_colocation.netbox_export": "a file: the whole floor as NetBox import rows, one query per object type",
    "health.metrics": "Prometheus text for a staff API token, not the session this walk has (GROUP BY counts)",
}

# Query strings worth checking besides the bare path (other views of the same list).
# (Not later pages: with SMALL rows they are empty, so the eager loads would not run at all.)
VARIANTS = {
    "requests.index": ["view=all", "view=mine"],
    "api_requests.request_list": ["status=done"],
    "api_sites.site_list": ["status=active"],
    "hosts.index": ["role=web"],
}
# A form's <select> choices are bounded by their services (request_orgs and the like: 500 rows).
CHOICES_BOUND = 500
SELECT = re.compile(r"<select\b.*?</select>", re.S)

# Embedded lists that are bounded otherwise than by pagination: (endpoint, marker kind) -> bound.
BOUNDED = {
    ("jobs.detail", "evt"): 1000,  # job_events(limit=1000); the page then polls by counter
    ("jobs.progress", "evt"): 500,  # job_events(limit=500) per poll
    ("api_jobs.job_events", "evt"): 500,
    ("requests.create", "hst"): 200,  # the host choice of a staff request form: host_list(per_page=200)
    ("mail.domain", "als"): 200,  # alias_list(per_page=200) beside the paginated mailboxes
    ("quotas.index", "org"): 500,  # request_orgs() caps at 500 ministries; no pager yet (told the lead)
    ("requests.detail", "cmt"): 100,  # one request's conversation, shown whole
    ("requests.detail", "usr"): 100,  # ... with its authors
    ("databases.user", "pdb"): databases_rules.MAX_GRANTS,  # the databases one user reaches
}
# Embedded lists shown beside a full page, bounded by their own constant: (endpoint, kind) -> how many more.
BESIDE_PAGE = {
    ("sites.index", "site"): 5,  # panel.capabilities.sites.web.ASKED_SHOWN requested sites above page 1
}


def _get_rules(app, api: bool) -> list[Rule]:
    rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in NOT_LISTS]
    return sorted((r for r in rules if r.rule.startswith("/api/") == api), key=lambda r: r.rule)


def _url(rule: Rule, world: World) -> str:
    values = {}
    for name in rule.arguments:
        if name in ARGS:
            values[name] = ARGS[name](world)
        elif name in world.ids:
            values[name] = world.ids[name]
        else:
            pytest.fail(f"{rule.rule}: no value for <{name}>; give the world a pivot for it (tests/perf/world.py)")
    return rule.build(values)[1]


def _measure(fetch, urls) -> dict[str, tuple[int, list[str], str]]:
    out = {}
    for url in urls:
        fetch(url)  # warm: first-use work (caches, lazy imports) is not per row
        with count_statements() as stmts:
            resp = fetch(url)
        out[url] = (resp.status_code, stmts, resp.get_data(as_text=True))
    return out


def _check(fetch, world: World, rules: list[Rule]) -> dict[str, tuple[str, int, list[str], str]]:
    """Fetch every rule with SMALL and with LARGE rows; per url, (endpoint, status, statements, body) of LARGE."""
    urls = {}
    for r in rules:
        base = _url(r, world)
        urls[base] = r.endpoint
        urls.update({f"{base}?{q}": r.endpoint for q in VARIANTS.get(r.endpoint, ())})
    small = _measure(fetch, urls)
    world.grow(LARGE - SMALL)
    large = _measure(fetch, urls)
    problems = []
    for url in urls:
        (s_status, s_stmts, _), (l_status, l_stmts, _) = small[url], large[url]
        if s_status >= 400 or l_status >= 400 or s_status != l_status:
            problems.append(f"{url}: status {s_status} with {SMALL} rows, {l_status} with {LARGE}")
        elif len(l_stmts) > len(s_stmts):
            problems.append(
                f"{url}: {len(s_stmts)} statements with {SMALL} rows, {len(l_stmts)} with {LARGE}:\n"
                + growth(s_stmts, l_stmts)
            )
    assert not problems, "\n".join(problems)
    return {url: (endpoint, *large[url]) for url, endpoint in urls.items()}


def _over_bound(endpoint: str, rows: dict[str, int], limit: int) -> list[str]:
    def bound(kind: str) -> int:
        return BOUNDED.get((endpoint, kind), limit + BESIDE_PAGE.get((endpoint, kind), 0))

    return [
        f"{endpoint}: {n} {kind} rows on one page (at most {bound(kind)})"
        for kind, n in rows.items()
        if n > bound(kind)
    ]


def _rows(html: str) -> tuple[dict[str, int], dict[str, int]]:
    """Rows of each kind a page shows, apart from its forms' choices."""
    return shown(SELECT.sub("", html)), shown("".join(SELECT.findall(html)))


def test_web_pages_do_not_query_per_row_and_are_paginated(app, web, world, settings):
    rules = _get_rules(app, api=False)
    assert {"sites.index", "audit.index", "requests.index", "jobs.index"} <= {r.endpoint for r in rules}
    results = _check(web.get, world, rules)
    page_size = settings.web.page_size
    assert page_size < LARGE, "the world must outgrow one page"
    problems = []
    for url, (endpoint, _, _, html) in results.items():
        rows, choices = _rows(html)
        problems += _over_bound(endpoint, rows, page_size) + _over_bound(endpoint, choices, CHOICES_BOUND)
        if rows and max(rows.values()) >= page_size - 1 and "?" not in url:
            # A full page (a pivot row may take one place): page 2 shows more of the same rows.
            nxt = web.get(f"{url}?page=2")
            assert nxt.status_code == 200, (url, nxt.status_code)
            page2 = _rows(nxt.get_data(as_text=True))[0]
            assert set(page2) & set(rows), (url, rows, page2)
    assert not problems, "\n".join(problems)


def test_api_lists_do_not_query_per_row_and_are_paginated(app, api, world):
    rules = _get_rules(app, api=True)
    assert {"api_sites.site_list", "api_audit.audit_list", "api_requests.request_list"} <= {r.endpoint for r in rules}
    results = _check(api, world, rules)
    problems = []
    for url, (endpoint, _, _, body) in results.items():
        problems += _over_bound(endpoint, shown(body), API_MAX_PER_PAGE)
        data = api(url).get_json(silent=True)
        if isinstance(data, dict) and "items" in data:
            assert data["per_page"] <= API_MAX_PER_PAGE and len(data["items"]) <= data["per_page"], url
            sep = "&" if "?" in url else "?"
            too_many = api(f"{url}{sep}per_page={API_MAX_PER_PAGE + 1}")  # refused (422) or clamped
            assert too_many.status_code in (200, 422), (url, too_many.status_code)
            if too_many.status_code == 200:
                assert too_many.get_json()["per_page"] <= API_MAX_PER_PAGE, url
            else:
                assert too_many.get_json()["key"] == "invalid", url
            one = api(f"{url}{sep}per_page=1&page=2").get_json()
            assert len(one["items"]) <= 1 and one["page"] == 2, url
    assert not problems, "\n".join(problems)


def test_pagination_clamps_what_a_service_is_asked(world, admin):
    """Services clamp per_page (the CLI and other callers pass it through unchecked)."""
    page = jobs.job_list(actor_of(admin), per_page=10**9, page=10**12)
    assert page.per_page == 200 and page.items == [] and page.total == SMALL + 1
