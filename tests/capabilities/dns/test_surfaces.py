"""Web, API and CLI over the same services: ministry A gets 404 on ministry B's zones and records on
every surface; bad input gets a precise key, never a 5xx. (No BIND needed: 404s come first.)"""

from __future__ import annotations

import pytest

from panel import db
from panel.capabilities.dns.models import Record, Zone, ZoneStatus
from panel.models.tenants import Role
from tests.hosts.conftest import api_token, post_form, web_login  # noqa: F401 - fixtures shared with the hosts suite


@pytest.fixture
def two(make):
    a_org, b_org = make.make_org("Ministry A"), make.make_org("Ministry B")
    a = make.make_user(Role.ORG_ADMIN, a_org, username="mina")
    b = make.make_user(Role.ORG_ADMIN, b_org, username="minb")
    with db.unit_of_work() as s:
        zone = Zone(org_id=b_org.id, name="b-ministry.gov.test", status=ZoneStatus.ACTIVE)
        s.add(zone)
        s.flush()
        rec = Record(
            zone_id=zone.id, org_id=b_org.id, name="www.b-ministry.gov.test", rtype="A", ttl=300, data="10.77.0.11"
        )
        s.add(rec)
        s.flush()
    return a, b, zone.id, rec.id


def test_api_isolation_and_keys(client, two, api_token):
    a, b, zone_id, rec_id = two
    ha, hb = api_token(a), api_token(b)
    for method, url in [
        ("get", f"/api/v1/dns/zones/{zone_id}"),
        ("get", f"/api/v1/dns/zones/{zone_id}/records"),
        ("get", f"/api/v1/dns/zones/{zone_id}/plan"),
        ("post", f"/api/v1/dns/zones/{zone_id}/apply"),
        ("delete", f"/api/v1/dns/records/{rec_id}"),
    ]:
        r = getattr(client, method)(url, headers=ha, json={} if method == "post" else None)
        assert r.status_code == 404, (url, r.status_code, r.get_json())
    r = client.post(
        f"/api/v1/dns/zones/{zone_id}/records", headers=ha, json={"name": "x", "type": "A", "data": "1.2.3.4"}
    )
    assert r.status_code == 404 and r.get_json()["key"] == "dns_zone.not_found"
    assert client.get("/api/v1/dns/zones", headers=ha).get_json()["total"] == 0
    assert client.get("/api/v1/dns/zones", headers=hb).get_json()["total"] == 1
    bad = client.post(
        f"/api/v1/dns/zones/{zone_id}/records", headers=hb, json={"name": "; id", "type": "A", "data": "{{ 7*7 }}"}
    )
    assert bad.status_code == 422 and bad.get_json()["key"] == "dns.name_invalid"
    bad = client.post(
        f"/api/v1/dns/zones/{zone_id}/records",
        headers=hb,
        json={"name": "www", "type": "CNAME", "data": "web.govhost.test"},
    )
    assert bad.status_code == 409 and bad.get_json()["key"] == "dns.cname_conflict"
    # A Khmer label is a valid international name: stored as its IDNA 2008 A-label, as sites store it.
    ok = client.post(f"/api/v1/dns/zones/{zone_id}/records", headers=hb, json={"name": "ក", "type": "TXT", "data": "x"})
    assert ok.status_code == 201 and ok.get_json()["name"].startswith("xn--"), ok.get_json()
    bad = client.post(
        f"/api/v1/dns/zones/{zone_id}/records", headers=hb, json={"name": "xn--a", "type": "TXT", "data": "x"}
    )
    assert bad.status_code == 422 and bad.get_json()["key"] == "name.idna_invalid"
    assert client.get("/api/v1/dns/zones").status_code == 401


def test_web_isolation(client, two, web_login):
    a, _b, zone_id, _rec_id = two
    web_login(a)
    assert client.get(f"/dns/zones/{zone_id}").status_code == 404
    assert client.get(f"/dns/zones/{zone_id}/plan").status_code == 404
    assert "b-ministry" not in client.get("/dns/").get_data(as_text=True)
    client.get("/logout")


def test_web_record_form_errors(client, two, web_login):
    _a, b, zone_id, _rec_id = two
    web_login(b)
    page = client.get(f"/dns/zones/{zone_id}")
    assert page.status_code == 200 and "www.b-ministry.gov.test" in page.get_data(as_text=True)
    r = post_form(
        client,
        f"/dns/zones/{zone_id}/records",
        {"name": "www", "rtype": "CNAME", "data": "web.govhost.test"},
        page=f"/dns/zones/{zone_id}",
    )
    assert r.status_code == 409 and "CNAME" in r.get_data(as_text=True)


def test_cli_isolation(cli, two):
    _a, _b, zone_id, rec_id = two
    for args in (
        ["records", str(zone_id)],
        ["plan", "b-ministry.gov.test"],
        ["apply", str(zone_id)],
        ["delete", str(rec_id)],
    ):
        r = cli("dns", *args, "--as", "mina")
        assert r.exit_code == 2 and "not_found" in r.output, (args, r.output)
    r = cli("dns", "records", str(zone_id), "--as", "minb")
    assert r.exit_code == 0 and "1 records" in r.output
    r = cli("dns", "add", str(zone_id), "bad name", "A", "10.0.0.1", "--as", "minb")
    assert r.exit_code == 2 and "dns.name_invalid" in r.output


def test_readding_a_deleted_record_before_the_removal_is_applied(app, client, two, api_token):
    """The row waits as 'absent' until BIND drops it; asking for it again brings it back (no 500).
    The same journey against a real BIND: tests/dns/test_services.py."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    _a, b, zone_id, rec_id = two
    with db.unit_of_work() as s:
        s.get(Record, rec_id).applied_at = db.utcnow()  # as if an apply had put it on the server
    hb = api_token(b)
    assert client.delete(f"/api/v1/dns/records/{rec_id}", headers=hb).status_code == 204
    r = client.post(
        f"/api/v1/dns/zones/{zone_id}/records", headers=hb, json={"name": "www", "type": "A", "data": "10.77.0.11"}
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["id"] == rec_id and r.get_json()["state"] == "present" and r.get_json()["applied_at"] is None
    again = client.post(
        f"/api/v1/dns/zones/{zone_id}/records", headers=hb, json={"name": "www", "type": "A", "data": "10.77.0.11"}
    )
    assert again.status_code == 409 and again.get_json()["key"] == "dns.record_exists"
