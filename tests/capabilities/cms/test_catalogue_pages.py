"""The catalogue's and the update plans' read pages on the web and the API (list, detail): a ministry
sees the approved items only and its own plans' rows, never another ministry's plan nor a
data-center-wide one; staff see every item; lists are paginated; pages in Khmer too."""

from __future__ import annotations

from types import SimpleNamespace

from panel import db
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import updates
from panel.models.users import User
from tests.capabilities.cms.test_catalogue import plugin_zip
from tests.capabilities.cms.test_services import world  # noqa: F401 (the fixture)
from tests.capabilities.cms.test_updates import plan_world  # noqa: F401 (the fixture)
from tests.support.fixtures import login_as, token_for  # noqa: F401 (fixtures)


def _user(actor) -> User:
    with db.unit_of_work() as s:
        return s.get(User, actor.user_id)


def test_api_catalogue_and_plans_read_only_what_each_may_see(client, token_for, plan_world):
    w = plan_world
    pending = cat.catalogue_upload(w.op, kind="plugin", data=plugin_zip(version="3.0"))
    mine = updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["1.1"].id)
    dc_wide = updates.update_plan(w.op, org_id=w.dc.id, item_id=w.items["1.1"].id)
    ha, hb, hop = token_for(_user(w.wa)), token_for(_user(w.wb)), token_for(_user(w.op))
    listed = client.get("/api/v1/cms/catalogue", headers=ha).json
    assert {i["version"] for i in listed["items"]} == {"1.0", "1.1", "2.0"} and listed["total"] == 3
    assert client.get(f"/api/v1/cms/catalogue/{pending.id}", headers=ha).status_code == 404
    staff = client.get("/api/v1/cms/catalogue?status=pending", headers=hop).json
    assert [i["id"] for i in staff["items"]] == [pending.id]
    one = client.get(f"/api/v1/cms/catalogue/{w.items['1.1'].id}", headers=ha).json
    assert one["sha256"] == w.items["1.1"].sha256 and one["status"] == "approved"
    assert client.get("/api/v1/cms/catalogue?status=nonsense", headers=hop).status_code == 422
    plans_a = client.get("/api/v1/cms/plans", headers=ha).json
    assert [p["id"] for p in plans_a["items"]] == [mine.id]
    plan = client.get(f"/api/v1/cms/plans/{mine.id}", headers=ha).json
    assert plan["request"]["id"] == mine.id and plan["targets"]["total"] == 2
    assert {t["from_version"] + ">" + t["to_version"] for t in plan["targets"]["items"]} == {"1.0>1.1"}
    for headers, rid in ((hb, mine.id), (ha, dc_wide.id)):  # another ministry's; the data center's
        r = client.get(f"/api/v1/cms/plans/{rid}", headers=headers)
        assert r.status_code == 404 and r.content_type == "application/problem+json", r.json
    assert client.get("/api/v1/cms/plans", headers=hb).json["total"] == 0
    paged = client.get(f"/api/v1/cms/plans/{dc_wide.id}?per_page=1", headers=hop).json["targets"]
    assert paged["per_page"] == 1 and paged["total"] == 3 and len(paged["items"]) == 1


def test_web_catalogue_and_plan_pages(login_as, plan_world):
    w = plan_world
    mine = updates.update_plan(w.wa, org_id=w.a.id, item_id=w.items["1.1"].id)
    c = login_as(SimpleNamespace(username=w.wa.username))
    page = c.get("/cms/catalogue").get_data(as_text=True)
    assert "ministry-banner" in page and "1.1" in page
    item = c.get(f"/cms/catalogue/{w.items['1.1'].id}").get_data(as_text=True)
    assert w.items["1.1"].sha256 in item
    assert "ministry-banner" in c.get("/cms/plans").get_data(as_text=True)
    detail = c.get(f"/cms/plans/{mine.id}")
    assert detail.status_code == 200 and "a1.gov.test" in detail.get_data(as_text=True)
    other = login_as(SimpleNamespace(username=w.wb.username))
    assert other.get(f"/cms/plans/{mine.id}").status_code == 404
    c.set_cookie("lang", "km")
    for url in ("/cms/catalogue", f"/cms/catalogue/{w.items['1.1'].id}", "/cms/plans", f"/cms/plans/{mine.id}"):
        html = c.get(url, headers={"Accept-Language": "km"}).get_data(as_text=True)
        assert 'lang="km"' in html and "Plugins and themes" not in html, url
