"""The big API lists (sites, mailboxes, audit, requests, jobs): one statement per page however big
the table, cursor pages that walk the whole list exactly once, `page` numbers for older clients,
a total only when asked, and a plain dump that says exactly what the schema (and so the OpenAPI
document) says."""

from __future__ import annotations

import pytest

from tests.perf.querycount import count_statements, growth
from tests.perf.world import World

# list -> (url, the item schema, statements for one page with the token's authentication cached)
LISTS = {
    "sites": ("/api/v1/sites", "panel.capabilities.sites.api:SiteListItemSchema", 1),
    "mailboxes": ("/api/v1/mail/domains/{domain_id}/mailboxes", "panel.capabilities.mail.api:MailboxSchema", 1),
    "audit": ("/api/v1/audit", "panel.api.audit:EntrySchema", 1),
    "requests": ("/api/v1/requests", "panel.api.requests:RequestListItemSchema", 1),
    "jobs": ("/api/v1/jobs", "panel.api.jobs:JobSchema", 2),  # the page, then the hosts of its jobs
}


def _url(world: World, name: str) -> str:
    return LISTS[name][0].format(**world.ids)


def _schema(name: str):
    import importlib

    module, cls = LISTS[name][1].split(":")
    return getattr(importlib.import_module(module), cls)


@pytest.mark.parametrize("name", LISTS)
def test_statements_per_page_do_not_grow_with_the_table(api, world, name):
    url = f"{_url(world, name)}?per_page=2"
    expected = LISTS[name][2]

    def measure():
        api(url)  # authentication cached, as on a busy panel
        with count_statements() as first:
            body = api(url).get_json()
        assert body["next"], body
        with count_statements() as second:
            assert api(body["next"]).status_code == 200
        with count_statements() as counted:
            assert api(f"{url}&total=true").get_json()["total"] >= 3
        return first, second, counted

    small = measure()
    world.grow(30)
    large = measure()
    for few, many in zip(small, large, strict=True):
        assert len(few) == len(many), growth(few, many)
    # SQLite's BEGIN is sent by panel.db itself (in-process, no round trip); on PostgreSQL a read
    # sends none (autocommit).
    first, second, counted = ([x for x in stmts if not x.startswith("BEGIN")] for stmts in large)
    assert len(first) == expected and len(second) == expected, first + second
    assert len(counted) == expected + 1, counted


@pytest.mark.parametrize("name", LISTS)
def test_cursor_pages_walk_the_list_once_and_page_numbers_agree(api, world, name):
    world.grow(9)
    url = _url(world, name)
    everything = api(f"{url}?per_page=200&total=true").get_json()
    assert everything["next"] is None and everything["total"] == len(everything["items"])
    walked, nxt, pages = [], f"{url}?per_page=5", 0
    while nxt:
        resp = api(nxt)
        body = resp.get_json()
        assert len(body["items"]) <= 5 and "total" not in body
        assert (
            (resp.headers.get("Link") == f'<{body["next"]}>; rel="next"')
            if body["next"]
            else "Link" not in resp.headers
        )
        walked += body["items"]
        nxt, pages = body["next"], pages + 1
    assert walked == everything["items"] and pages == -(-len(walked) // 5)
    second = api(f"{url}?per_page=5&page=2").get_json()
    assert second["page"] == 2 and second["items"] == walked[5:10]


@pytest.mark.parametrize("name", LISTS)
def test_a_bad_cursor_is_a_clear_422(api, world, name):
    for cursor in ("nonsense", "WzEsMl0", "W251bGxd", "eyJhIjoxfQ"):
        resp = api(f"{_url(world, name)}?cursor={cursor}")
        assert resp.status_code == 422 and resp.get_json()["key"] == "page.cursor_invalid", resp.get_data()


def test_another_ministrys_domain_is_404_not_an_empty_list(app, make, world):
    from panel.models.tenants import Role
    from tests.support.surfaces import api_headers

    stranger = make.make_user(Role.ORG_ADMIN, make.make_org("Elsewhere"), username="stranger")
    resp = app.test_client().get(_url(world, "mailboxes"), headers=api_headers(stranger, "read"))
    assert resp.status_code == 404 and resp.get_json()["key"] == "mail_domain.not_found"


@pytest.mark.parametrize("name", LISTS)
def test_plain_dump_is_the_schemas_dump(api, world, name):
    """What the endpoint sends is what marshmallow would make of the same rows with the documented schema."""
    schema = _schema(name)()
    items = api(f"{_url(world, name)}?per_page=200").get_json()["items"]
    assert items
    for item in items:
        assert set(item) == set(schema.fields)
    from panel.api.common import plain_dumper

    if name == "jobs":  # items are job_public's, as GET /jobs/{id} sends them
        from panel.services import jobs as jobs_svc

        actor = _actor(world)
        assert items == [schema.dump(jobs_svc.job_public(actor, jobs_svc.job_get(actor, i["id"]))) for i in items]
        return
    # Dump the very rows both ways: the window's rows are plain Row objects.
    win = _window(name, world)
    assert plain_dumper(type(schema))(win.items) == schema.dump([r._mapping for r in win.items], many=True)


def _actor(world: World):
    from panel import db
    from panel.models.users import User
    from panel.services.actor import actor_for_user

    return actor_for_user(db.session().get(User, world.admin_id), surface="api")


def _window(name: str, world: World):
    actor = _actor(world)
    if name == "sites":
        from panel.capabilities.sites.service import site_window

        return site_window(actor, per_page=200)
    if name == "mailboxes":
        from panel.capabilities.mail.service import mailbox_window

        return mailbox_window(actor, domain_id=world.ids["domain_id"], per_page=200)
    if name == "audit":
        from panel.services.audit import audit_window

        return audit_window(actor, per_page=200)
    if name == "requests":
        from panel.services.requests import request_window

        return request_window(actor, per_page=200)
    raise AssertionError(name)


def test_a_list_read_holds_no_transaction(api, world):
    """PostgreSQL: the page's statement runs in autocommit (the driver sends no BEGIN, and so no
    COMMIT or ROLLBACK), and the connection goes back to the pool transactional again for writers.
    SQLite: a deferred BEGIN, never the write lock (BEGIN IMMEDIATE)."""
    from sqlalchemy import event

    from panel import db

    url = _url(world, "sites")
    api(url)
    seen = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement.strip(), getattr(conn.connection.dbapi_connection, "autocommit", None)))

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", hook)
    try:
        assert api(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    if engine.dialect.name == "postgresql":
        assert seen and all(autocommit is True for _s, autocommit in seen), seen
        with engine.connect() as conn:  # a pooled connection handed to a writer is transactional
            assert conn.connection.dbapi_connection.autocommit is False
    else:
        assert [s for s, _a in seen if s.startswith("BEGIN")] == ["BEGIN"], seen
