"""Web and API against the lab BIND: plan and dry-run show the diff and send nothing (the zone's
serial does not move, the name does not answer); apply submits a `dns.records_apply` job and sends
nothing in the request; the job makes it live, confirmed by a query; domain
claims are created, fail with the precise key while the token is missing or wrong, and pass once the
TXT token is published (by hand with a signed update, or through a zone govhost manages)."""

from __future__ import annotations

import dns.query
import dns.rcode
import dns.update
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.dns import claims
from panel.capabilities.dns import service as svc
from panel.capabilities.dns.models import DomainClaim
from provisioners import lab as L
from tests.hosts.conftest import api_token, post_form, web_login  # noqa: F401 - fixtures shared with the hosts suite
from tests.support.clients import dns_query

pytestmark = pytest.mark.lab


def answers(bind, name: str, rtype: str = "A") -> set[str]:
    return {rd.to_text() for rrset in dns_query(bind.ip, name, rtype).answer for rd in rrset}


def serial(bind, zone: str) -> int:
    return dns_query(bind.ip, zone, "SOA").answer[0][0].serial


def by_hand(bind, zone: str, name: str, txt: str) -> None:
    """What an operator's nsupdate does: a TSIG-signed update govhost did not make."""
    upd = dns.update.UpdateMessage(zone + ".", keyring=bind.tsig.key(), keyname="govhost")
    upd.add(f"{name}.", 60, "TXT", f'"{txt}"')
    assert dns.query.tcp(upd, bind.ip, timeout=5, source=L.GATEWAY).rcode() == dns.rcode.NOERROR


def test_api_plan_dry_run_then_apply(bind, ministry, live_zone, client, api_token, send_records):
    a = ministry("A")
    zone = live_zone(a.org)
    h = api_token(a.user)
    base = f"/api/v1/dns/zones/{zone.id}"
    r = client.post(f"{base}/records", headers=h, json={"name": "api", "type": "A", "data": "10.77.0.101", "ttl": 120})
    assert r.status_code == 201 and r.get_json()["applied_at"] is None, r.get_json()
    line = f"api.{zone.name}. 120 IN A 10.77.0.101"
    before = serial(bind, zone.name)

    plan = client.get(f"{base}/plan", headers=h).get_json()
    assert plan["add"] == [line] and plan["remove"] == [] and not plan["sent"] and plan["dry_run"]
    dry = client.post(f"{base}/apply", headers=h, json={"dry_run": True}).get_json()
    assert dry["add"] == [line] and not dry["sent"] and dry["dry_run"]
    assert answers(bind, f"api.{zone.name}") == set() and serial(bind, zone.name) == before  # nothing sent

    done = client.post(f"{base}/apply", headers=h, json={})
    assert done.status_code == 202, done.get_json()
    job = done.get_json()
    assert job["kind"] == "dns.records_apply" and job["status"] == "pending" and job["org_id"] == a.org.id
    assert answers(bind, f"api.{zone.name}") == set() and serial(bind, zone.name) == before  # not in the request
    assert send_records() == 1  # the worker's part
    job = client.get(f"/api/v1/jobs/{job['id']}", headers=h).get_json()
    assert job["status"] == "successful" and job["explanation"].startswith("1 added, 0 removed, serial "), job
    assert answers(bind, f"api.{zone.name}") == {"10.77.0.101"}
    assert serial(bind, zone.name) == int(job["explanation"].rsplit(" ", 1)[1]) > before
    [rec] = client.get(f"{base}/records", headers=h).get_json()["items"]
    assert rec["applied_at"] is not None
    again = client.get(f"{base}/plan", headers=h).get_json()
    assert again["add"] == [] and again["remove"] == [] and again["unchanged"] == 1

    gone = client.delete(f"/api/v1/dns/records/{rec['id']}", headers=h)
    assert gone.status_code == 204
    assert client.get(f"{base}/plan", headers=h).get_json()["remove"] == [line]
    assert answers(bind, f"api.{zone.name}") == {"10.77.0.101"}  # still served until apply
    assert client.post(f"{base}/apply", headers=h, json={}).status_code == 202
    assert send_records() == 1
    assert answers(bind, f"api.{zone.name}") == set()


def test_web_plan_shows_diff_and_apply_publishes(bind, ministry, live_zone, client, web_login, send_records):
    a = ministry("A")
    zone = live_zone(a.org)
    page = f"/dns/zones/{zone.id}"
    web_login(a.user)
    r = post_form(
        client, f"{page}/records", {"name": "web", "rtype": "A", "data": "10.77.0.102", "ttl": "300"}, page=page
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    assert "pending" in client.get(page).get_data(as_text=True)
    line = f"+ web.{zone.name}. 300 IN A 10.77.0.102"
    before = serial(bind, zone.name)

    plan = client.get(f"{page}/plan")
    assert plan.status_code == 200 and line in plan.get_data(as_text=True)
    assert "1 to add, 0 to remove" in plan.get_data(as_text=True)
    assert answers(bind, f"web.{zone.name}") == set() and serial(bind, zone.name) == before

    done = post_form(client, f"{page}/apply", {}, page=page)
    assert done.status_code == 302 and "/jobs/" in done.headers["Location"], done.get_data(as_text=True)[:2000]
    assert answers(bind, f"web.{zone.name}") == set() and serial(bind, zone.name) == before  # not in the request
    assert send_records() == 1
    text = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "sends the zone&#39;s changes to the DNS server" in text and "1 added, 0 removed" in text, text[:3000]
    assert answers(bind, f"web.{zone.name}") == {"10.77.0.102"} and serial(bind, zone.name) > before
    assert "published" in client.get(page).get_data(as_text=True)
    client.get("/logout")


def test_cli_apply_waits_for_the_job_and_prints_its_outcome(request, bind, ministry, live_zone, cli):
    a = ministry("A")
    zone = live_zone(a.org)
    request.getfixturevalue("consumer")  # a real worker, started once the zone exists
    svc.record_create(a.actor, zone_id=zone.id, name="cli", rtype="A", data="10.77.0.103")
    dry = cli("dns", "apply", zone.name, "--dry-run", "--as", a.user.username)
    assert dry.exit_code == 0 and "1 to add" in dry.output and "dry run: nothing sent" in dry.output, dry.output
    assert answers(bind, f"cli.{zone.name}") == set()
    r = cli("dns", "apply", zone.name, "--as", a.user.username)
    assert r.exit_code == 0, r.output
    assert "dns.records_apply" in r.output and "successful: 1 added, 0 removed, serial" in r.output, r.output
    assert answers(bind, f"cli.{zone.name}") == {"10.77.0.103"}

    svc.record_create(a.actor, zone_id=zone.id, name="cli2", rtype="A", data="10.77.0.104")
    L.host_exec(bind.name, "sh", "-c", "/etc/init.d/named stop </dev/null >/dev/null 2>&1")
    try:
        r = cli("dns", "apply", zone.name, "--as", a.user.username)
    finally:
        L.host_exec(bind.name, "sh", "-c", "/etc/init.d/named start </dev/null >/dev/null 2>&1")
        L.wait_port(bind.ip, 53, 10)
    assert r.exit_code == 1 and "failed:" in r.output and "not answering" in r.output, r.output


@pytest.fixture
def claimant(ministry, live_zone, staff, make):
    """Ministry A may claim names under a zone that ministry B has hosted here (B's zone serves
    the TXT tokens, as an outside DNS provider would)."""
    a, b = ministry("A"), ministry("B")
    hosting = live_zone(b.org)
    claims.suffix_set(make.actor_of(staff), org_id=a.org.id, suffixes=[hosting.name])
    return a, b, hosting


def test_api_claim_fails_precisely_then_verifies(bind, claimant, client, api_token):
    a, _b, hosting = claimant
    h = api_token(a.user)
    domain = f"api-claim.{hosting.name}"
    r = client.post("/api/v1/dns/claims", headers=h, json={"org_id": a.org.id, "domain": f"x.{hosting.name}x"})
    assert r.status_code == 403 and r.get_json()["key"] == "dns.claim_not_allowed"
    r = client.post("/api/v1/dns/claims", headers=h, json={"org_id": a.org.id, "domain": domain})
    assert r.status_code == 201, r.get_json()
    claim = r.get_json()
    assert claim["challenge"] == f"_govhost-challenge.{domain}" and claim["verified_at"] is None
    assert len(claim["token"]) >= 32
    zone_ask = {"org_id": a.org.id, "name": domain}
    r = client.post("/api/v1/dns/zones", headers=h, json=zone_ask)
    assert r.status_code == 403 and r.get_json()["key"] == "dns.domain_unverified"

    verify = f"/api/v1/dns/claims/{claim['id']}/verify"
    r = client.post(verify, headers=h)
    assert r.status_code == 422 and r.get_json()["key"] == "dns.claim_token_missing", r.get_json()
    by_hand(bind, hosting.name, claim["challenge"], "not-the-token")
    r = client.post(verify, headers=h)
    assert r.status_code == 422 and r.get_json()["key"] == "dns.claim_token_missing", r.get_json()
    with db.unit_of_work() as s:
        row = s.get(DomainClaim, claim["id"])
        assert row.verified_at is None and row.checked_at is not None and row.last_error == "token not found"

    by_hand(bind, hosting.name, claim["challenge"], claim["token"])
    r = client.post(verify, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["verified_at"] is not None and r.get_json()["method"] == "txt"
    assert client.post("/api/v1/dns/zones", headers=h, json=zone_ask).status_code == 202  # now it may ask


def test_web_claim_token_through_a_zone(bind, claimant, client, web_login, applied):
    a, b, hosting = claimant
    domain = f"web-claim.{hosting.name}"
    web_login(a.user)
    r = post_form(client, "/dns/claims", {"org_id": a.org.id, "domain": domain})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    with db.unit_of_work() as s:
        claim = s.scalars(select(DomainClaim).where(DomainClaim.domain == domain)).one()
    assert claim.token in client.get("/dns/claims").get_data(as_text=True)

    r = post_form(client, f"/dns/claims/{claim.id}/verify", {}, page="/dns/claims")
    assert r.status_code == 302
    text = client.get("/dns/claims").get_data(as_text=True)
    assert f"No TXT record _govhost-challenge.{domain} with the token was found" in text
    assert not claims.domain_verified(a.org.id, f"www.{domain}")

    svc.record_create(b.actor, zone_id=hosting.id, name="_govhost-challenge.web-claim", rtype="TXT", data=claim.token)
    applied(b.actor, hosting.id)
    assert answers(bind, f"_govhost-challenge.{domain}", "TXT") == {f'"{claim.token}"'}
    r = post_form(client, f"/dns/claims/{claim.id}/verify", {}, page="/dns/claims")
    assert r.status_code == 302
    assert f"{domain} is verified." in client.get("/dns/claims").get_data(as_text=True)
    assert claims.domain_verified(a.org.id, f"www.{domain}")
    client.get("/logout")
