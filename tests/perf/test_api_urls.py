"""Both spellings of a collection URL answer directly, without a redirect."""

from __future__ import annotations


def test_collection_urls_answer_with_and_without_slash(api, world):
    for url in ("/api/v1/sites", "/api/v1/sites/", "/api/v1/jobs", "/api/v1/jobs/", "/api/v1/audit", "/api/v1/audit/"):
        resp = api(url)
        assert resp.status_code == 200, (url, resp.status_code, resp.headers.get("Location"))
        assert resp.get_json()["items"], url
