"""Query arguments are loaded once per schema and query string (QueryCachingParser): the same list
page again skips marshmallow, yet every request gets the same answer as an uncached load, a bad
query is refused every time, and a view that changes its arguments changes only its own copy."""

from __future__ import annotations

import flask_smorest
import pytest

from panel.api import common


@pytest.fixture
def parser(monkeypatch):
    p = common.QUERY_PARSER
    monkeypatch.setattr(p, "_loaded", {})
    loads = []
    original = common.FlaskParser.parse  # webargs' own load, which the cache skips

    def counting(self, argmap, req=None, **kwargs):
        if kwargs.get("location") == "query":
            loads.append(type(argmap).__name__)
        return original(self, argmap, req, **kwargs)

    monkeypatch.setattr(common.FlaskParser, "parse", counting)
    p.loads = loads
    return p


def test_every_operation_uses_the_caching_parser():
    assert flask_smorest.Blueprint.ARGUMENTS_PARSER is common.QUERY_PARSER


def test_the_same_query_is_loaded_once_and_answers_alike(api, world, parser):
    url = f"/api/v1/mail/domains/{world.ids['domain_id']}/mailboxes?per_page=2"
    first = api(url).get_json()
    assert parser.loads == ["WindowArgs"]
    again = api(url).get_json()
    assert parser.loads == ["WindowArgs"] and again == first  # from the cache, the same page
    assert api(first["next"]).status_code == 200 and len(parser.loads) == 2  # another query string
    parser.enabled = False
    try:
        assert api(url).get_json() == first and len(parser.loads) == 3  # uncached: the same answer
    finally:
        parser.enabled = True


def test_a_bad_query_is_refused_every_time(api, parser):
    for _ in range(2):
        r = api("/api/v1/sites?per_page=0")
        assert r.status_code == 422 and r.get_json()["key"] == "invalid"
    assert len(parser.loads) == 2 and not parser._loaded


def test_a_view_changing_its_arguments_changes_its_copy_only(api, parser):
    """audit_list pops its paging arguments off the dict it is given: the cached load must not lose them."""
    url = "/api/v1/audit?per_page=1&total=true"
    first = api(url)
    second = api(url)
    assert first.status_code == second.status_code == 200
    assert first.get_json()["total"] == second.get_json()["total"] and len(parser.loads) == 1
