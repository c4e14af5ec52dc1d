"""The DNS services against the real BIND: zone job, records, plan/apply, faults, ownership proofs,
templates for sites/mail, and the secret kept out of every log."""

from __future__ import annotations

import base64

import dns.query
import dns.rcode
import dns.update
import pytest
from sqlalchemy import select

from panel import db, security
from panel.boot import current as current_settings
from panel.capabilities.dns import claims
from panel.capabilities.dns import service as svc
from panel.capabilities.dns.models import DnsKey, Record, RecordState, Zone
from panel.errors import PanelError
from panel.jobs.runner import run_job
from panel.models.audit import AuditEntry
from panel.models.jobs import Job, JobEvent
from panel.services.actor import system_actor
from provisioners import lab as L
from tests.capabilities.dns.conftest import zone_name
from tests.support.clients import dns_query

pytestmark = pytest.mark.lab


def answers(bind, name, rtype="A"):
    return {rd.to_text() for rrset in dns_query(bind.ip, name, rtype).answer for rd in rrset}


def key_of(fn, *args, **kw) -> str:
    with pytest.raises(PanelError) as e:
        fn(*args, **kw)
    return e.value.key


def test_records_apply_to_bind_and_validation_keys(bind, ministry, live_zone, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    assert answers(bind, zone.name, "NS") == {"ns1.govhost.test."}
    rec = svc.record_create(a.actor, zone_id=zone.id, name="www", rtype="A", data="10.77.0.11", ttl=300)
    svc.record_create(a.actor, zone_id=zone.id, name="@", rtype="TXT", data="v=spf1 " + "i" * 300 + " -all")
    svc.record_create(a.actor, zone_id=zone.id, name="_sip._tcp", rtype="SRV", data="10 5 5060 sip.govhost.test")
    svc.record_create(a.actor, zone_id=zone.id, name="@", rtype="CAA", data='0 issue "letsencrypt.org"')
    svc.record_create(a.actor, zone_id=zone.id, name="sub", rtype="NS", data="ns.elsewhere.test")
    plan = svc.dns_plan(a.actor, zone.id)
    assert len(plan.add) == 5 and not plan.remove
    job = applied(a.actor, zone.id)
    assert job.status.value == "successful" and job.explanation.startswith("5 added, 0 removed, serial ")
    assert int(job.explanation.rsplit(" ", 1)[1]) > 1
    assert answers(bind, f"www.{zone.name}") == {"10.77.0.11"}
    assert answers(bind, f"_sip._tcp.{zone.name}", "SRV") == {"10 5 5060 sip.govhost.test."}
    with db.unit_of_work() as s:
        assert s.get(Record, rec.id).applied_at is not None
    z = zone.id
    cases = {
        "dns.name_invalid": {"name": "bad_name!", "rtype": "A", "data": "10.0.0.1"},
        "dns.name_out_of_zone": {"name": "www.other.test.", "rtype": "A", "data": "10.0.0.1"},
        "dns.a_invalid": {"name": "x", "rtype": "A", "data": "10.0.0.300"},
        "dns.aaaa_invalid": {"name": "x", "rtype": "AAAA", "data": "10.0.0.1"},
        "dns.target_invalid": {"name": "x", "rtype": "CNAME", "data": "; id"},
        "dns.mx_invalid": {"name": "@", "rtype": "MX", "data": "mail.govhost.test"},
        "dns.txt_chunk_too_long": {"name": "t", "rtype": "TXT", "data": '"' + "a" * 256 + '"'},
        "dns.txt_too_long": {"name": "t", "rtype": "TXT", "data": "a" * 5000},
        "dns.txt_invalid": {"name": "t", "rtype": "TXT", "data": "line\nbreak"},
        "dns.srv_name_invalid": {"name": "sip", "rtype": "SRV", "data": "10 5 5060 sip.govhost.test"},
        "dns.caa_invalid": {"name": "@", "rtype": "CAA", "data": "0 bogus x"},
        "dns.ns_at_apex": {"name": "@", "rtype": "NS", "data": "ns.elsewhere.test"},
        "dns.cname_at_apex": {"name": "@", "rtype": "CNAME", "data": "web.govhost.test"},
        "dns.cname_conflict": {"name": "www", "rtype": "CNAME", "data": "web.govhost.test"},
        "dns.type_unsupported": {"name": "x", "rtype": "HINFO", "data": "a b"},
        "dns.ttl_out_of_range": {"name": "x", "rtype": "A", "data": "10.0.0.1", "ttl": 5},
        "dns.record_exists": {"name": "www", "rtype": "A", "data": "10.77.0.11", "ttl": 300},
        "dns.target_no_address": {"name": "@", "rtype": "MX", "data": f"10 nomail.{zone.name}"},
    }
    for key, kw in cases.items():
        assert key_of(svc.record_create, a.actor, zone_id=z, **kw) == key, key
    svc.record_create(a.actor, zone_id=z, name="alias", rtype="CNAME", data="web.govhost.test")
    assert key_of(svc.record_create, a.actor, zone_id=z, name="alias", rtype="TXT", data="x") == "dns.cname_conflict"


def test_delete_and_update_reach_bind(bind, ministry, live_zone, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    rec = svc.record_create(a.actor, zone_id=zone.id, name="app", rtype="A", data="10.77.0.61")
    applied(a.actor, zone.id)
    new = svc.record_update(a.actor, record_id=rec.id, data="10.77.0.62")
    applied(a.actor, zone.id)
    assert answers(bind, f"app.{zone.name}") == {"10.77.0.62"}
    svc.record_delete(a.actor, record_id=new.id)
    assert applied(a.actor, zone.id).explanation.startswith("0 added, 1 removed,")
    assert answers(bind, f"app.{zone.name}") == set()
    assert applied(a.actor, zone.id).explanation.startswith("nothing to change, serial ")
    with db.unit_of_work() as s:
        assert s.scalars(select(Record).where(Record.zone_id == zone.id)).all() == []


def test_readding_a_record_whose_removal_is_not_applied_yet(app, bind, ministry, live_zone, make, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    rec = svc.record_create(a.actor, zone_id=zone.id, name="back", rtype="A", data="10.77.0.63")
    applied(a.actor, zone.id)
    svc.record_delete(a.actor, record_id=rec.id)  # on BIND still: the removal waits for the next apply
    from panel.services.tokens import token_create

    _row, plain = token_create(a.actor, name="t", scope="write", days=1)
    r = app.test_client().post(
        f"/api/v1/dns/zones/{zone.id}/records",
        headers={"Authorization": f"Bearer {plain}"},
        json={"name": "back", "type": "A", "data": "10.77.0.63"},
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.json["state"] == "present" and r.json["applied_at"] is None
    applied(a.actor, zone.id)
    assert answers(bind, f"back.{zone.name}") == {"10.77.0.63"}
    with db.unit_of_work() as s:
        rows = s.scalars(select(Record).where(Record.zone_id == zone.id, Record.data == "10.77.0.63")).all()
        assert [(r.state, r.applied_at is not None) for r in rows] == [(RecordState.PRESENT, True)]


def test_hand_made_records_are_kept_unless_forced(bind, ministry, live_zone, staff, make, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    upd = dns.update.UpdateMessage(zone.name + ".", keyring=bind.tsig.key(), keyname="govhost")
    upd.add(f"manual.{zone.name}.", 300, "A", "10.77.0.70")
    assert dns.query.tcp(upd, bind.ip, timeout=5, source=L.GATEWAY).rcode() == dns.rcode.NOERROR
    svc.record_create(a.actor, zone_id=zone.id, name="ours", rtype="A", data="10.77.0.71")
    assert any(f"manual.{zone.name}." in line for line in svc.dns_plan(a.actor, zone.id).unmanaged)
    assert applied(a.actor, zone.id).explanation.startswith("1 added, 0 removed,")
    assert answers(bind, f"manual.{zone.name}") == {"10.77.0.70"}
    assert key_of(svc.dns_apply, a.actor, zone.id, force=True) == "auth.forbidden"
    assert applied(make.actor_of(staff), zone.id, force=True).explanation.startswith("0 added, 1 removed,")
    assert answers(bind, f"manual.{zone.name}") == set()
    assert answers(bind, f"ours.{zone.name}") == {"10.77.0.71"}


def test_wrong_key_fails_nothing_applied_then_retry_converges(bind, ministry, live_zone, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    rec = svc.record_create(a.actor, zone_id=zone.id, name="k", rtype="A", data="10.77.0.80")
    with db.unit_of_work() as s:
        key = s.scalars(select(DnsKey)).one()
        key.secret_sealed = security.seal(base64.b64encode(b"w" * 32).decode())
    job = applied(a.actor, zone.id)
    assert job.status.value == "failed" and "(BADSIG)" in job.explanation
    with db.unit_of_work() as s:
        assert s.get(Record, rec.id).applied_at is None
        assert "(BADSIG)" in s.get(Zone, zone.id).last_error  # the zone says why
        s.scalars(select(DnsKey)).one().secret_sealed = security.seal(bind.secret)
    assert answers(bind, f"k.{zone.name}") == set()
    assert applied(a.actor, zone.id).status.value == "successful"
    assert answers(bind, f"k.{zone.name}") == {"10.77.0.80"}


def test_bind_down_is_a_clear_failure(bind, ministry, live_zone, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    svc.record_create(a.actor, zone_id=zone.id, name="down", rtype="A", data="10.77.0.90")
    L.host_exec(bind.name, "sh", "-c", "/etc/init.d/named stop </dev/null >/dev/null 2>&1")
    try:
        assert key_of(svc.dns_plan, a.actor, zone.id) == "dns.unreachable"
        job = applied(a.actor, zone.id)
        assert job.status.value == "failed" and "not answering" in job.explanation
    finally:
        L.host_exec(bind.name, "sh", "-c", "/etc/init.d/named start </dev/null >/dev/null 2>&1")
        L.wait_port(bind.ip, 53, 10)
    assert applied(a.actor, zone.id).status.value == "successful"
    assert answers(bind, f"down.{zone.name}") == {"10.77.0.90"}
    with db.unit_of_work() as s:
        assert s.get(Zone, zone.id).last_error == ""  # cleared by the success


def test_publish_and_withdraw_touch_only_their_source(bind, ministry, live_zone, send_records, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    mine = svc.record_create(a.actor, zone_id=zone.id, name="www", rtype="A", data="10.77.0.11")
    applied(a.actor, zone.id)
    site = [{"name": "shop", "type": "A", "data": "10.77.0.12"}, {"name": "shop", "type": "AAAA", "data": "fd00::12"}]
    got = svc.records_publish(
        system_actor("worker"), org_id=a.org.id, fqdn=f"shop.{zone.name}", source="site:12", records=site
    )
    assert got.id == zone.id
    assert send_records() == 1
    assert answers(bind, f"shop.{zone.name}") == {"10.77.0.12"}  # sent by the job
    assert (
        svc.records_publish(
            system_actor("worker"), org_id=a.org.id, fqdn="shop.elsewhere.test", source="site:13", records=site
        )
        is None
    )
    assert svc.records_withdraw(system_actor("worker"), source="site:12") == 2
    assert send_records() == 1
    assert answers(bind, f"shop.{zone.name}") == set()
    assert answers(bind, f"www.{zone.name}") == {"10.77.0.11"}
    with db.unit_of_work() as s:
        assert s.get(Record, mine.id).state == RecordState.PRESENT


def test_claims_verify_with_txt_token(bind, ministry, live_zone, staff, make, applied):
    a, b = ministry("A"), ministry("B")
    admin = make.actor_of(staff)
    hosting = live_zone(b.org)  # the TXT token is served by our BIND, the configured resolver
    domain = f"claim.{hosting.name}"
    assert key_of(claims.claim_create, a.actor, org_id=a.org.id, domain=domain) == "dns.claim_not_allowed"
    claims.suffix_set(admin, org_id=a.org.id, suffixes=[hosting.name])
    assert key_of(claims.suffix_set, a.actor, org_id=a.org.id, suffixes=["x.test"]) == "auth.forbidden"
    claim = claims.claim_create(a.actor, org_id=a.org.id, domain=domain)
    assert claim.verified_at is None
    assert key_of(claims.claim_verify, a.actor, claim.id) == "dns.claim_token_missing"
    assert not claims.domain_verified(a.org.id, f"www.{domain}")
    svc.record_create(b.actor, zone_id=hosting.id, name="_govhost-challenge.claim", rtype="TXT", data="wrong")
    applied(b.actor, hosting.id)
    assert key_of(claims.claim_verify, a.actor, claim.id) == "dns.claim_token_missing"
    svc.record_create(b.actor, zone_id=hosting.id, name="_govhost-challenge.claim", rtype="TXT", data=claim.token)
    applied(b.actor, hosting.id)
    assert claims.claim_verify(a.actor, claim.id).verified_at is not None
    assert claims.domain_verified(a.org.id, f"www.{domain}")
    assert key_of(claims.domain_require, b.actor, org_id=b.org.id, fqdn="www.unclaimed.test") == "dns.domain_unverified"
    assert key_of(claims.claim_get, b.actor, claim.id) == "dns_claim.not_found"


def test_other_ministry_gets_404(ministry, live_zone):
    a, b = ministry("A"), ministry("B")
    zone = live_zone(a.org)
    rec = svc.record_create(a.actor, zone_id=zone.id, name="www", rtype="A", data="10.77.0.11")
    assert key_of(svc.zone_get, b.actor, zone.id) == "dns_zone.not_found"
    assert key_of(svc.dns_plan, b.actor, zone.id) == "dns_zone.not_found"
    assert key_of(svc.dns_apply, b.actor, zone.id) == "dns_zone.not_found"
    assert (
        key_of(svc.record_create, b.actor, zone_id=zone.id, name="x", rtype="A", data="10.0.0.1")
        == "dns_zone.not_found"
    )
    assert key_of(svc.record_delete, b.actor, record_id=rec.id) == "dns_record.not_found"
    assert svc.zone_list(b.actor).total == 0


def test_secret_never_in_job_output_events_or_audit(bind, ministry, live_zone, staff, make, dns_env, applied):
    a = ministry("A")
    zone = live_zone(a.org)
    svc.record_create(a.actor, zone_id=zone.id, name="s", rtype="A", data="10.77.0.5")
    applied(a.actor, zone.id)
    job = svc.dns_server_setup(make.actor_of(staff), host_id=dns_env.id)
    assert run_job(job.id, current_settings()) == "successful"
    secret = bind.secret
    with db.unit_of_work() as s:
        texts = [e.summary for e in s.scalars(select(AuditEntry))]
        texts += [e.stdout for e in s.scalars(select(JobEvent))]
        texts += [f"{j.explanation} {j.traceback} {j.params} {j.data}" for j in s.scalars(select(Job))]
    assert any("bind_server" in t for t in texts)  # the job output was really captured
    assert not [t for t in texts if secret in t]
    logs = L.host_exec(bind.name, "sh", "-c", "cat /var/log/named/named.log").stdout
    assert secret not in logs


def test_zone_request_goes_through_approval(bind, ministry, staff, make, dns_env):
    a = ministry("A")
    name = zone_name()
    assert key_of(svc.zone_request, a.actor, org_id=a.org.id, name=name) == "dns.domain_unverified"
    assert key_of(svc.zone_request, a.actor, org_id=a.org.id, name="bad name") == "name.characters"
