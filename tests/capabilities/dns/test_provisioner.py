"""provisioners.dns against a real BIND (set up by the govhost playbook): every change is confirmed by
a plain query from 10.77.0.1, never by trusting our own read-back alone."""

from __future__ import annotations

import dns.query
import dns.rcode
import dns.update
import pytest

from provisioners import dns as D
from provisioners import lab as L
from tests.capabilities.dns.conftest import run_bare, zone_name
from tests.support.clients import dns_query

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def zone(bind, tmp_path_factory):
    name = zone_name()
    r = run_bare(
        "zone_create.yml",
        bind.ip,
        {"zone_name": name, "zone_nameservers": ["ns1.govhost.test"], "zone_hostmaster": f"hostmaster.{name}"},
        {},
        tmp_path_factory.mktemp("zone"),
    )
    assert r.ok, r.explanation
    return name


def answers(bind, name: str, rtype: str) -> set[str]:
    resp = dns_query(bind.ip, name, rtype)
    return {rd.to_text() for rrset in resp.answer for rd in rrset}


def test_unsigned_update_is_refused(bind, zone):
    upd = dns.update.UpdateMessage(zone + ".")
    upd.add(f"evil.{zone}.", 60, "A", "192.0.2.66")
    resp = dns.query.tcp(upd, bind.ip, timeout=5, source=L.GATEWAY)
    assert dns.rcode.to_text(resp.rcode()) == "REFUSED"
    assert answers(bind, f"evil.{zone}", "A") == set()


def test_plan_apply_readback_and_query(bind, zone):
    wanted = [
        D.rec(f"www.{zone}", "A", "10.77.0.11", 300),
        D.rec(zone, "MX", "10 mx.govhost.test", 3600),
        D.rec(zone, "TXT", D.txt_data("v=spf1 " + "a" * 400 + " -all"), 3600),
    ]
    plan = D.live_plan(bind.server, bind.tsig, zone, wanted)
    assert len(plan.add) == 3 and not plan.remove
    done = D.apply(bind.server, bind.tsig, plan)
    assert done.sent and done.serial_after > plan.serial
    assert answers(bind, f"www.{zone}", "A") == {"10.77.0.11"}
    assert answers(bind, zone, "MX") == {"10 mx.govhost.test."}
    txt = dns_query(bind.ip, zone, "TXT").answer[0][0]
    assert [len(s) for s in txt.strings] == [255, 157]
    assert b"".join(txt.strings) == ("v=spf1 " + "a" * 400 + " -all").encode()
    again = D.live_plan(bind.server, bind.tsig, zone, wanted)
    assert again.empty and again.unchanged == 3


def test_dry_run_sends_nothing(bind, zone):
    wanted = [D.rec(f"dry.{zone}", "A", "10.77.0.99")]
    done = D.converge(bind.server, bind.tsig, zone, wanted, dry_run=True)
    assert not done.sent and len(done.plan.add) == 1
    assert answers(bind, f"dry.{zone}", "A") == set()


def test_hand_made_record_between_plan_and_apply_survives(bind, zone):
    ours = [D.rec(f"race.{zone}", "A", "10.77.0.20")]
    plan = D.live_plan(bind.server, bind.tsig, zone, ours)
    by_hand = dns.update.UpdateMessage(zone + ".", keyring=bind.tsig.key(), keyname="govhost")
    by_hand.add(f"hand.{zone}.", 300, "A", "10.77.0.21")
    assert dns.query.tcp(by_hand, bind.ip, timeout=5, source=L.GATEWAY).rcode() == dns.rcode.NOERROR
    with pytest.raises(D.Stale):
        D.apply(bind.server, bind.tsig, plan)  # the SOA prerequisite caught the change
    done = D.converge(bind.server, bind.tsig, zone, ours)
    assert done.sent
    assert any(r.name == f"hand.{zone}" for r in done.plan.unmanaged)
    assert answers(bind, f"hand.{zone}", "A") == {"10.77.0.21"}
    assert answers(bind, f"race.{zone}", "A") == {"10.77.0.20"}
    forced = D.live_plan(bind.server, bind.tsig, zone, ours, force=True)
    assert any(r.name == f"hand.{zone}" for r in forced.remove)


def test_only_owned_records_are_removed(bind, zone):
    a, b = D.rec(f"own1.{zone}", "A", "10.77.0.31"), D.rec(f"own2.{zone}", "A", "10.77.0.32")
    D.converge(bind.server, bind.tsig, zone, [a, b])
    done = D.converge(bind.server, bind.tsig, zone, [a], owned={a.key, b.key})
    assert [r.name for r in done.plan.remove] == [f"own2.{zone}"]
    assert answers(bind, f"own2.{zone}", "A") == set()
    assert answers(bind, f"own1.{zone}", "A") == {"10.77.0.31"}


def test_wrong_key_fails_clearly_and_changes_nothing(bind, zone):
    wrong = D.Tsig("govhost", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=")
    with pytest.raises(D.AuthFailed, match="BADSIG"):
        D.converge(bind.server, wrong, zone, [D.rec(f"wrongkey.{zone}", "A", "10.77.0.40")])
    unknown = D.Tsig("nobody", bind.secret)
    with pytest.raises(D.AuthFailed, match="BADKEY"):
        D.axfr(bind.server, unknown, zone)
    assert answers(bind, f"wrongkey.{zone}", "A") == set()


def test_server_down_is_a_clear_failure(bind, zone):
    closed = D.Server(bind.ip, port=5399, timeout=1, source=L.GATEWAY)
    with pytest.raises(D.Unreachable, match="not answering"):
        D.converge(closed, bind.tsig, zone, [])


def test_ttl_change_is_remove_plus_add(bind, zone):
    D.converge(bind.server, bind.tsig, zone, [D.rec(f"ttl.{zone}", "A", "10.77.0.50", 300)])
    done = D.converge(bind.server, bind.tsig, zone, [D.rec(f"ttl.{zone}", "A", "10.77.0.50", 900)])
    assert len(done.plan.add) == 1 and len(done.plan.remove) == 1
    assert dns_query(bind.ip, f"ttl.{zone}", "A").answer[0].ttl == 900


def test_txt_split_is_byte_exact():
    assert D.txt_data("") == '""'
    assert D.txt_data('say "hi"\\') == '"say \\"hi\\"\\\\"'
    long = "x" * 511
    assert D.txt_data(long) == '"' + "x" * 255 + '" "' + "x" * 255 + '" "x"'
