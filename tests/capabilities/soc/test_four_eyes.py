"""Four-eyes for containment: the actions the setting `soc.four_eyes` names (address blocks by
default) are checked, then held until a second SOC user or DC admin approves them; the one who asked
cannot approve; each step is audited; nothing runs while held or after a rejection. On the service,
the API, the CLI and the Security feed page."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.soc import containment
from panel.capabilities.soc.models import PendingStatus, SocPendingAction
from panel.config import ConfigError
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.notifications import Notification
from panel.models.tenants import OrgKind, Role
from panel.models.users import User
from tests.hosts.conftest import api_token, post_form, web_login  # noqa: F401 - fixtures shared with the hosts suite

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIA" + "x" * 43


@pytest.fixture
def settings(settings, request):
    """A test parametrized with `four_eyes` runs under that policy (else the shipped one: address_block)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or "four_eyes" not in callspec.params:
        return settings
    policy = tuple(callspec.params["four_eyes"])
    return dataclasses.replace(settings, soc=dataclasses.replace(settings.soc, four_eyes=policy))


@pytest.fixture
def team(make, dc):
    soc1 = make.make_user(Role.SOC, dc, username="soc1")
    soc2 = make.make_user(Role.SOC, dc, username="soc2")
    admin = make.make_user(Role.ADMIN, dc, username="dcadmin")
    with db.unit_of_work() as s:
        s.add(_web1())
    return soc1, soc2, admin


def _web1() -> Host:
    """A host protected by the fail2ban role (its facts say so), where blocks go."""
    facts = {"fail2ban": {"protected_at": "2026-12-07T01:00:00"}}
    return Host(name="web1", address="10.77.0.250", host_key_type="ssh-ed25519", host_key=KEY,
                fingerprint="SHA256:" + "y" * 43, facts=facts)  # fmt: skip


def _jobs() -> list[Job]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Job).where(Job.kind == "soc.address_block")))


def _audit(*actions: str) -> list[tuple[str, str, dict]]:
    with db.unit_of_work() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.seq))
        return [(r.action, r.actor_name, json.loads(r.summary)) for r in rows]


def test_an_address_block_waits_for_a_second_person(make, team):
    soc1, soc2, admin = team
    a1, a2 = make.actor_of(soc1, "api"), make.actor_of(soc2, "api")
    held = containment.contain_address_block(a1, address="203.0.113.0/24", reason="botnet", minutes=30)
    assert isinstance(held, SocPendingAction) and held.status == PendingStatus.PENDING
    assert _jobs() == []  # nothing reaches a host while it waits
    assert _audit("soc.contain") == []
    (asked,) = _audit("soc.contain_requested")
    assert asked[:2] == ("soc.contain_requested", "soc1") and asked[2]["address"] == "203.0.113.0/24"
    with db.unit_of_work() as s:  # the other approvers are told, not the one who asked
        told = {n.user_id for n in s.scalars(select(Notification).where(Notification.kind == "soc.four_eyes"))}
    assert told == {soc2.id, admin.id}

    # the requester cannot approve their own action, even as a DC admin would
    with pytest.raises(Forbidden) as e:
        containment.contain_approve(a1, held.id)
    assert e.value.key == "soc.four_eyes_self"
    assert _jobs() == []

    done = containment.contain_approve(a2, held.id)
    assert done.status == PendingStatus.APPROVED and done.decided_by == "soc2"
    (job,) = _jobs()
    assert done.outcome == f"job {job.id}"
    assert job.params == {"addresses": ["203.0.113.0/24"], "seconds": 1800, "unblock": False}
    (approved,) = _audit("soc.contain_approved")
    assert approved[:2] == ("soc.contain_approved", "soc2") and approved[2]["requested_by"] == "soc1"
    (contained,) = _audit("soc.contain")
    assert contained[1] == "soc2" and contained[2]["requested_by"] == "soc1" and contained[2]["approved_by"] == "soc2"
    with pytest.raises(Conflict):  # decided once
        containment.contain_approve(make.actor_of(admin), held.id)
    assert len(_jobs()) == 1


def test_bad_input_is_refused_at_the_request_not_held(make, team):
    soc1, _, _ = team
    a1 = make.actor_of(soc1)
    for address in ("10.0.0.0/8", "10.77.0.250", "nope"):
        with pytest.raises(Invalid):
            containment.contain_address_block(a1, address=address, reason="x")
    with pytest.raises(Invalid):
        containment.contain_address_block(a1, address="203.0.113.7", reason="")
    with db.unit_of_work() as s:
        assert s.scalars(select(SocPendingAction)).all() == []


def test_reject_and_withdraw_run_nothing(make, team, dc):
    soc1, soc2, _ = team
    a1, a2 = make.actor_of(soc1), make.actor_of(soc2)
    first = containment.contain_address_block(a1, address="198.51.100.7", reason="scanner")
    second = containment.contain_address_block(a1, address="198.51.100.8", reason="scanner")
    refused = containment.contain_reject(a2, first.id, reason="that is our pentest vendor")
    assert refused.status == PendingStatus.REJECTED
    assert containment.contain_reject(a1, second.id).decided_by == "soc1"  # the requester withdraws
    with pytest.raises(Conflict):
        containment.contain_approve(a2, first.id)
    with pytest.raises(NotFound):
        containment.contain_approve(a2, 999999)
    ministry = make.make_org("Ministry of Posts", slug="mpt")
    boss = make.actor_of(make.make_user(Role.ORG_ADMIN, ministry))
    with pytest.raises(Forbidden):
        containment.pending_list(boss)
    held = containment.contain_address_block(a1, address="198.51.100.9", reason="scanner")
    with pytest.raises(Forbidden):  # a ministry admin is no second approver
        containment.contain_approve(boss, held.id)
    assert _jobs() == []
    assert [r[2]["reason"] for r in _audit("soc.contain_rejected")] == ["that is our pentest vendor", ""]
    assert [p.id for p in containment.pending_list(a2)] == [held.id]


@pytest.mark.parametrize("four_eyes", [()])
def test_an_empty_policy_acts_at_once(make, team, four_eyes):
    soc1, _, _ = team
    job = containment.contain_address_block(make.actor_of(soc1), address="203.0.113.7", reason="scan")
    assert isinstance(job, Job) and len(_jobs()) == 1


@pytest.mark.parametrize("four_eyes", [("user_lock", "address_block")])
def test_the_policy_lists_other_actions_too(make, team, four_eyes):
    soc1, soc2, _ = team
    ministry = make.make_org("Ministry of Posts", slug="mpt")
    web = make.make_user(Role.WEBMASTER, ministry, username="mptweb")
    held = containment.contain_user_lock(make.actor_of(soc1), user_id=web.id, reason="phished")
    assert isinstance(held, SocPendingAction)
    with db.unit_of_work() as s:
        assert s.get(User, web.id).is_active
    containment.contain_approve(make.actor_of(soc2), held.id)
    with db.unit_of_work() as s:
        assert not s.get(User, web.id).is_active
    # not in the list: revoking a token acts at once
    assert "token_revoke" not in containment.four_eyes()


def test_unknown_actions_in_the_policy_are_a_config_error(settings):
    with pytest.raises(ConfigError, match=r"soc\.four_eyes"):
        dataclasses.replace(settings.soc, four_eyes=("address_block", "nuke"))


def test_api_and_cli(client, cli, make, team, api_token):
    soc1, soc2, _ = team
    r = client.post("/api/v1/soc/contain/address-block", headers=api_token(soc1),
                    json={"address": "203.0.113.7", "reason": "credential stuffing", "minutes": 30})  # fmt: skip
    assert r.status_code == 200 and r.get_json()["awaiting_approval"] is True, r.get_json()
    pid = r.get_json()["id"]
    listed = client.get("/api/v1/soc/contain/pending", headers=api_token(soc2)).get_json()
    assert [(p["id"], p["action"], p["requested_by"], p["status"]) for p in listed] == [
        (pid, "address_block", "soc1", "pending")
    ]
    own = client.post(f"/api/v1/soc/contain/pending/{pid}/approve", headers=api_token(soc1))
    assert own.status_code == 403 and own.get_json()["key"] == "soc.four_eyes_self", own.get_json()
    read = client.post(f"/api/v1/soc/contain/pending/{pid}/approve", headers=api_token(soc2, scope="read"))
    assert read.status_code == 403
    ok = client.post(f"/api/v1/soc/contain/pending/{pid}/approve", headers=api_token(soc2))
    assert ok.status_code == 200 and ok.get_json()["status"] == "approved", ok.get_json()
    assert ok.get_json()["outcome"] == f"job {_jobs()[0].id}"
    again = client.post(f"/api/v1/soc/contain/pending/{pid}/reject", headers=api_token(soc2), json={})
    assert again.status_code == 409

    out = cli("soc", "block", "198.51.100.0/24", "--reason", "c2", "--as", "soc1")
    assert out.exit_code == 0 and "held for a second approver" in out.output, out.output
    with db.unit_of_work() as s:
        second = s.scalars(select(SocPendingAction).where(SocPendingAction.status == PendingStatus.PENDING)).one()
    assert "198.51.100.0/24" in cli("soc", "pending", "--as", "soc2").output
    mine = cli("soc", "approve", str(second.id), "--as", "soc1")
    assert mine.exit_code != 0 and "you cannot approve" in mine.output
    done = cli("soc", "approve", str(second.id), "--as", "soc2")
    assert done.exit_code == 0 and "approved: job" in done.output, done.output
    assert len(_jobs()) == 2


def test_web_page_approve_and_khmer(client, make, dc, web_login):
    import pyotp

    secrets = [pyotp.random_base32() for _ in range(2)]
    soc1 = make.make_user(Role.SOC, dc, username="soc1", totp_secret=secrets[0])
    soc2 = make.make_user(Role.SOC, make.make_org("DC 2", kind=OrgKind.DATACENTER), username="soc2",
                          totp_secret=secrets[1])  # fmt: skip
    with db.unit_of_work() as s:
        s.add(_web1())
    web_login(soc1)
    r = post_form(client, "/soc/block", {"block-address": "203.0.113.9", "block-minutes": "15",
                                         "block-reason": "password spraying"}, page="/soc/")  # fmt: skip
    assert r.status_code == 302 and _jobs() == []
    page = client.get("/soc/").get_data(as_text=True)
    assert "Held for a second approver" in page and "Waiting for a second approver" in page
    with db.unit_of_work() as s:
        pid = s.scalars(select(SocPendingAction.id)).one()
    assert f"/soc/pending/{pid}/approve" not in page and f"/soc/pending/{pid}/reject" in page  # only withdraw
    r = post_form(client, f"/soc/pending/{pid}/approve", {}, page="/soc/")
    assert r.status_code == 302 and _jobs() == []  # refused for the requester (the page says why)
    assert "you cannot approve it" in client.get("/soc/").get_data(as_text=True)

    assert post_form(client, "/logout", {}, page="/soc/").status_code == 302
    web_login(soc2)
    page = client.get("/soc/").get_data(as_text=True)
    assert f"/soc/pending/{pid}/approve" in page
    r = post_form(client, f"/soc/pending/{pid}/approve", {}, page="/soc/")
    assert r.status_code == 302
    (job,) = _jobs()
    assert job.params["addresses"] == ["203.0.113.9/32"]
    client.set_cookie("locale", "km")
    km = client.get("/soc/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert "រង់ចាំអ្នកអនុម័តទីពីរ" in km
