"""Names asked for by open requests are held in site_name_holds (a unique name, one indexed lookup),
not found by scanning open requests' payloads: held from the request's creation, released when it
leaves the open states, a race for one name ends in one Conflict, and the migration copies the names
of requests open when it runs."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import func, select, text

from panel import db
from panel.capabilities.sites import service as svc
from panel.capabilities.sites.models import SiteNameHold
from panel.errors import PanelError
from panel.models.requests import Request
from panel.services import requests, schema
from tests.hosts.test_capacities import empty_database  # noqa: F401 - fixture

BEFORE = "9b6ceaaceb0c"  # the last revision without site_name_holds
PG_URL = os.environ.get("GOVHOST_TEST_DATABASE", "")


@pytest.fixture
def host(make):
    return make.make_host("webh", roles=["web"], capacities={"sites": 50}, facts={"php_versions": ["8.2"]})


def ask(actor, org, fqdn, **kw):
    return svc.site_request(actor, action="create", org_id=org.id, payload={"fqdn": fqdn, "plan": "basic", **kw})


def holds() -> dict[str, int]:
    with db.unit_of_work() as s:
        return dict(s.execute(select(SiteNameHold.name, SiteNameHold.request_id)).all())


def test_names_are_held_while_the_request_is_open(world, host):
    req = ask(world.wa, world.a, "www.a.gov.test", aliases=["a.gov.test"])
    assert holds() == {"www.a.gov.test": req.id, "a.gov.test": req.id}
    for name, aliases in (("www.a.gov.test", []), ("shop.a.gov.test", ["a.gov.test"])):
        with pytest.raises(PanelError) as exc:
            ask(world.wa, world.a, name, aliases=aliases)
        assert exc.value.key == "site.name_taken"
    assert holds() == {"www.a.gov.test": req.id, "a.gov.test": req.id}  # the refused asks held nothing
    requests.request_reject(world.op, req.id, comment="not now")
    assert holds() == {}
    again = ask(world.wa, world.a, "www.a.gov.test")  # free again once the request was rejected
    requests.request_cancel(world.wa, again.id)
    assert holds() == {}


def test_approval_hands_the_names_to_the_site(world, host):
    req = ask(world.wa, world.a, "www.a.gov.test", aliases=["a.gov.test"])
    requests.request_approve(world.op, req.id)
    assert holds() == {}  # the site and its alias rows hold them now
    for name in ("www.a.gov.test", "a.gov.test"):
        with pytest.raises(PanelError) as exc:
            ask(world.wa, world.a, name)
        assert exc.value.key == "site.name_taken"


def test_alias_requests_hold_only_their_alias(world, host, make):
    site = make.make_site(world.a, "www.a.gov.test", host=host, plan=make.make_plan("p1"), system_user="site9")
    one = svc.site_request(world.wa, action="alias_add", site_id=site.id, payload={"alias": "one.a.gov.test"})
    two = svc.site_request(world.wa, action="alias_add", site_id=site.id, payload={"alias": "two.a.gov.test"})
    assert holds() == {"one.a.gov.test": one.id, "two.a.gov.test": two.id}
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "two.a.gov.test")
    assert exc.value.key == "site.name_taken"


def test_a_race_for_one_name_ends_in_one_conflict(world, host, monkeypatch):
    """validate() found the name free, but another request took it before this one's row: the
    unique name refuses the second, and nothing of it is left."""
    first = ask(world.wa, world.a, "www.a.gov.test")
    monkeypatch.setattr(svc, "name_taken", lambda *a, **kw: False)
    with db.unit_of_work() as s:
        before = s.scalar(select(func.count()).select_from(Request))
    with pytest.raises(PanelError) as exc:
        ask(world.wa, world.a, "www.a.gov.test")
    assert exc.value.status == 409 and exc.value.key == "site.name_taken"
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Request)) == before
    assert holds() == {"www.a.gov.test": first.id}


def test_the_migration_holds_the_names_of_open_requests(empty_database):
    db.configure(empty_database)
    try:
        schema.schema_upgrade(BEFORE)
        rows = [  # id, status as stored, kind, payload
            (1, "SUBMITTED", "sites.site_create", {"fqdn": "a.gov.test", "aliases": ["www.a.gov.test"]}),
            (2, "DRAFT", "sites.site_create", {"sites": [{"fqdn": "b1.gov.test"}, {"fqdn": "b2.gov.test"}]}),
            (3, "APPROVED", "sites.site_alias_add", {"site_id": 9, "fqdn": "a.gov.test", "alias": "c.gov.test"}),
            (4, "REJECTED", "sites.site_create", {"fqdn": "d.gov.test"}),
            (5, "DONE", "sites.site_create", {"fqdn": "e.gov.test"}),
            (6, "SUBMITTED", "sites.site_alias_remove", {"site_id": 9, "fqdn": "a.gov.test", "alias": "f.gov.test"}),
        ]
        with db.engine().begin() as c:
            c.execute(
                text(
                    "INSERT INTO organizations (id, slug, name, name_km, kind, is_active, created_at)"
                    " VALUES (1, 'm', 'M', '', 'MINISTRY', true, '2026-01-01')"
                )
            )
            for rid, status, kind, payload in rows:
                c.execute(
                    text(
                        "INSERT INTO requests (id, kind, org_id, requester_name, status, summary, payload,"
                        " approvals_needed, retries, created_at, updated_at)"
                        " VALUES (:id, :kind, 1, 'x', :status, '', :payload, 1, 0, '2026-01-01', '2026-01-01')"
                    ),
                    {"id": rid, "kind": kind, "status": status, "payload": json.dumps(payload)},
                )
        schema.schema_upgrade("head")
        with db.engine().connect() as c:
            held = dict(c.execute(text("SELECT name, request_id FROM site_name_holds")).all())
        assert held == {"a.gov.test": 1, "www.a.gov.test": 1, "b1.gov.test": 2, "b2.gov.test": 2, "c.gov.test": 3}
    finally:
        db.remove()
        db.engine().dispose()
