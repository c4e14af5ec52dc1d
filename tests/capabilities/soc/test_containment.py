"""The SOC role: reads events and health across ministries, changes nothing by the ordinary services,
and takes containment actions (lock a user, revoke a token, suspend a website) through the same
audited services; the ministry's admins are notified with the reason, a suspension is a request in
the ministry's own list with the reason as its comment."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.capabilities.soc import containment
from panel.capabilities.soc import service as svc
from panel.errors import Forbidden, Invalid, NotFound
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.notifications import Notification
from panel.models.requests import Request, RequestComment, RequestStatus
from panel.models.tenants import OrgKind, Role
from panel.models.users import ApiToken, User
from panel.services import policies
from panel.services import requests as requests_svc
from panel.services import tokens as tokens_svc
from tests.hosts.conftest import api_token, post_form, web_login  # noqa: F401 - fixtures shared with the hosts suite


@pytest.fixture
def cast(make, dc):
    soc = make.make_user(Role.SOC, dc, username="soc1")
    ministry = make.make_org("Ministry of Posts", slug="mpt")
    boss = make.make_user(Role.ORG_ADMIN, ministry, username="mptadmin")
    web = make.make_user(Role.WEBMASTER, ministry, username="mptweb")
    return soc, ministry, boss, web


def _site(org) -> int:
    with db.unit_of_work() as s:
        host = Host(
            name="web1",
            address="10.77.0.250",
            host_key_type="ssh-ed25519",
            host_key="AAAAC3NzaC1lZDI1NTE5AAAAIA" + "x" * 43,
            fingerprint="SHA256:" + "y" * 43,
        )
        plan = Plan(name="basic")
        s.add_all([host, plan])
        s.flush()
        site = Site(
            org_id=org.id, fqdn="www.mpt.gov.kh", plan_id=plan.id, host_id=host.id, status=SiteStatus.ACTIVE,
            system_user="site1",
        )  # fmt: skip
        s.add(site)
        s.flush()
        return site.id


def _notes(user_id: int) -> list[Notification]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Notification).where(Notification.user_id == user_id)))


def test_soc_reads_everything_and_changes_nothing_ordinary(make, cast):
    soc, ministry, _, web = cast
    a = make.actor_of(soc)
    assert svc.destination_health(a)[1] == [] and svc.events_recent(a, limit=5) == []  # reads are allowed
    assert not a.can_write
    with pytest.raises(Forbidden):
        svc.destination_create(a, data=svc.DestinationIn("x", "file", "/tmp/x.jsonl"))
    with pytest.raises(Forbidden):
        requests_svc.request_create(a, kind="sites.site_suspend", org_id=ministry.id, payload={"site_id": 1})
    # a write token is allowed (containment needs one); it still changes nothing ordinary
    tokens_svc.token_create(a, name="soc", scope="write", days=1)
    with pytest.raises(Forbidden):
        containment.contain_user_lock(make.actor_of(web), user_id=soc.id, reason="no")


def test_lock_user_over_the_api_notifies_the_ministry(client, make, cast, api_token):
    soc, ministry, boss, web = cast
    h = api_token(soc)
    bad = client.post("/api/v1/soc/contain/user-lock", headers=h, json={"user_id": web.id, "reason": ""})
    assert bad.status_code == 422
    r = client.post(
        "/api/v1/soc/contain/user-lock",
        headers=h,
        json={"user_id": web.id, "reason": "credential stuffing from 203.0.113.0/24"},
    )
    assert r.status_code == 200, r.get_json()
    with db.unit_of_work() as s:
        assert s.get(User, web.id).is_active is False
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "soc.contain")).one()
        assert entry.actor_name == "soc1" and entry.org_id == ministry.id and "credential stuffing" in entry.summary
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "user.deactivate")).one().actor_name == "soc1"
    (note,) = _notes(boss.id)
    assert note.kind == "soc.containment" and note.params["reason"] == "credential stuffing from 203.0.113.0/24"
    event = svc.events_recent(make.actor_of(soc), limit=1)[0]
    assert event["event"]["code"] == "govhost.soc.containment" and event["organization"]["name"] == "Ministry of Posts"
    # a read-only token of the SOC takes no action; nor does a ministry's admin
    assert client.post(
        "/api/v1/soc/contain/user-lock", headers=api_token(soc, scope="read"), json={"user_id": boss.id, "reason": "x"}
    ).status_code == 403  # fmt: skip
    assert client.post(
        "/api/v1/soc/contain/user-lock", headers=api_token(boss), json={"user_id": web.id, "reason": "x"}
    ).status_code == 403  # fmt: skip


def test_revoke_token(make, cast):
    soc, _, boss, web = cast
    token, _ = tokens_svc.token_create(make.actor_of(web), name="ci", scope="write", days=5)
    containment.contain_token_revoke(make.actor_of(soc), token_id=token.id, reason="token leaked on a paste site")
    with db.unit_of_work() as s:
        assert s.get(ApiToken, token.id).revoked_at is not None
    assert [n.params["reason"] for n in _notes(boss.id)] == ["token leaked on a paste site"]
    with pytest.raises(Invalid):
        containment.contain_token_revoke(make.actor_of(soc), token_id=token.id, reason=" ")


def test_lock_and_revoke_are_in_the_ministrys_request_list_with_the_reason(client, make, cast, api_token, web_login):
    """Issue 20: a user locked and a token revoked by the SOC are done requests in the ministry's own
    request list (the reason in the list's line and as the first comment; the notification links
    to it), on the service, the API and the web page (en, km); another ministry sees neither, and
    nobody files such a request by hand."""
    soc, ministry, boss, web = cast
    mid = ministry.id
    other = make.make_org("Ministry of Health", slug="moh")
    stranger = make.make_user(Role.ORG_ADMIN, other, username="mohadmin")
    h_boss, h_stranger = api_token(boss), api_token(stranger)
    a_boss, a_stranger = make.actor_of(boss), make.actor_of(stranger)
    token, _ = tokens_svc.token_create(make.actor_of(web), name="ci", scope="write", days=5)
    a = make.actor_of(soc)
    containment.contain_user_lock(a, user_id=web.id, reason="credential stuffing from 203.0.113.0/24")
    containment.contain_token_revoke(a, token_id=token.id, reason="token leaked on a paste site")
    mine = {r.kind: r for r in requests_svc.request_list(a_boss).items}
    assert set(mine) == {"soc.user_lock", "soc.token_revoke"}
    lock, revoke = mine["soc.user_lock"], mine["soc.token_revoke"]
    lock_id, lock_summary, lock_payload = lock.id, lock.summary, dict(lock.payload)
    assert (lock.status, lock.org_id, lock.requester_name) == (RequestStatus.DONE, mid, "soc1")
    assert (
        lock.summary
        == "Account mptweb locked by the security operation center: credential stuffing from 203.0.113.0/24"
    )
    assert revoke.summary.startswith(f"Token ci ({token.prefix}…) of mptweb revoked by the security operation center")
    assert revoke.payload["reason"] == "token leaked on a paste site" and revoke.status == RequestStatus.DONE
    with db.unit_of_work() as s:
        comments = [c.body for c in s.scalars(select(RequestComment).where(RequestComment.request_id == lock.id))]
        assert comments == ["Security operation center: credential stuffing from 203.0.113.0/24"]
    assert sorted(n.link for n in _notes(boss.id)) == sorted([f"/requests/{lock.id}", f"/requests/{revoke.id}"])
    # scoped to the ministry: the other one's list is empty and the request is a 404 to it
    assert requests_svc.request_list(a_stranger).items == []
    with pytest.raises(NotFound):
        requests_svc.request_get(a_stranger, lock.id)
    # nobody asks for these by hand, not even a DC admin; only containment records them
    admin = make.actor_of(make.make_user(Role.ADMIN, make.make_org("DC 3", kind=OrgKind.DATACENTER)))
    with pytest.raises(Forbidden):
        requests_svc.request_create(admin, kind="soc.user_lock", org_id=mid, payload=lock_payload)
    with pytest.raises(Forbidden):
        requests_svc.request_record(a_boss, kind="soc.user_lock", org_id=mid, payload=lock_payload)
    with pytest.raises(Forbidden):
        requests_svc.request_record(admin, kind="quota.change", org_id=mid, payload={})
    assert "soc.user_lock" not in {p.kind for p in policies.policy_list(admin)}
    web_login(boss)
    page = client.get("/requests/").get_data(as_text=True)
    assert "credential stuffing from 203.0.113.0/24" in page and "token leaked on a paste site" in page
    assert "Account locked by the SOC" in page
    client.set_cookie("locale", "km")
    km = client.get("/requests/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert "គណនីត្រូវបានចាក់សោដោយ SOC" in km
    assert "គណនី mptweb ត្រូវបានចាក់សោដោយមជ្ឈមណ្ឌលប្រតិបត្តិការសន្តិសុខ៖ credential stuffing from 203.0.113.0/24" in km
    listed = client.get("/api/v1/requests/", headers=h_boss).get_json()
    assert {x["kind"]: x["summary"] for x in listed["items"]}["soc.user_lock"] == lock_summary
    assert client.get(f"/api/v1/requests/{lock_id}", headers=h_stranger).status_code == 404
    assert client.get("/api/v1/requests/", headers=h_stranger).get_json()["items"] == []


def test_suspend_a_site_is_a_request_the_ministry_sees_with_the_reason(cli, make, cast):
    _, ministry, boss, _ = cast
    site_id = _site(ministry)
    assert {"sites.site_suspend", "mail.mailbox_suspend"} <= set(containment.suspend_kinds())
    r = cli(
        "soc", "suspend", "sites.site_suspend", "--org", str(ministry.id), "--payload", f'{{"site_id": {site_id}}}',
        "--reason", "defacement: web shell in uploads/", "--as", "soc1",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    with db.unit_of_work() as s:
        req = s.scalars(select(Request).where(Request.kind == "sites.site_suspend")).one()
        assert req.org_id == ministry.id and req.requester_name == "soc1"
        comments = [c.body for c in s.scalars(select(RequestComment).where(RequestComment.request_id == req.id))]
        assert comments == ["Security operation center: defacement: web shell in uploads/"]
    # the ministry's own list shows it, and its admin was told why
    mine = requests_svc.request_list(make.actor_of(boss))
    assert [x.id for x in mine.items] == [req.id]
    assert [n.params["reason"] for n in _notes(boss.id)] == ["defacement: web shell in uploads/"]
    bad = cli("soc", "suspend", "sites.site_delete", "--org", str(ministry.id), "--payload", "{}", "--reason", "x",
              "--as", "soc1")  # fmt: skip
    assert bad.exit_code == 2 and "soc.kind_invalid" in bad.output


def test_suspend_a_mailbox_over_the_api_files_it_in_the_ministrys_list(client, make, cast, api_token):
    """The issue's other suspension: a mailbox, by the API's suspension action (mail.mailbox_suspend).
    Another ministry's mailbox under this ministry's id is refused with nothing filed or audited."""
    from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailDomainStatus

    soc, ministry, boss, _ = cast
    other = make.make_org("Ministry of Health", slug="moh")
    host = make.make_host("mx1", roles=["mail"])
    boxes = {}
    with db.unit_of_work() as s:
        for org in (ministry, other):
            dom = MailDomain(
                org_id=org.id, name=f"{org.slug}.gov.test", host_id=host.id, dkim_selector="govhost",
                status=MailDomainStatus.ACTIVE,
            )  # fmt: skip
            s.add(dom)
            s.flush()
            box = Mailbox(org_id=org.id, domain_id=dom.id, local_part="minister", quota_mb=100,
                          status=MailboxStatus.ACTIVE)  # fmt: skip
            s.add(box)
            s.flush()
            boxes[org.id] = box.id
    h = api_token(soc)
    url = "/api/v1/soc/contain/suspend"
    why = "phishing sent from this mailbox after a password leak"
    foreign = {"kind": "mail.mailbox_suspend", "org_id": ministry.id, "payload": {"mailbox_id": boxes[other.id]}}
    r = client.post(url, headers=h, json={**foreign, "reason": why})
    assert r.status_code == 404 and r.mimetype == "application/problem+json", r.get_json()
    with db.unit_of_work() as s:
        assert s.scalars(select(Request)).all() == []
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "soc.contain")).all() == []
    ask = {"kind": "mail.mailbox_suspend", "org_id": ministry.id, "payload": {"mailbox_id": boxes[ministry.id]}}
    r = client.post(url, headers=h, json={**ask, "reason": why})
    assert r.status_code == 202, r.get_json()
    with db.unit_of_work() as s:
        req = s.scalars(select(Request).where(Request.kind == "mail.mailbox_suspend")).one()
        assert (req.org_id, req.requester_name, req.payload["mailbox_id"]) == (ministry.id, "soc1", boxes[ministry.id])
        comments = [c.body for c in s.scalars(select(RequestComment).where(RequestComment.request_id == req.id))]
        assert comments == [f"Security operation center: {why}"]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "soc.contain")).one()
        assert entry.actor_name == "soc1" and entry.org_id == ministry.id and "phishing" in entry.summary
    assert [x.id for x in requests_svc.request_list(make.actor_of(boss)).items] == [req.id]
    assert [n.params["reason"] for n in _notes(boss.id)] == [why]


def test_web_containment_form_in_english_and_khmer(client, make, cast, web_login):
    import pyotp

    _, ministry, boss, web = cast
    secret = pyotp.random_base32()
    soc2 = make.make_user(Role.SOC, make.make_org("DC 2", kind=OrgKind.DATACENTER), username="soc2", totp_secret=secret)
    web_login(soc2)
    page = client.get("/soc/").get_data(as_text=True)
    assert "Containment" in page and "sites.site_suspend" in page and "Add a destination" not in page
    r = post_form(client, "/soc/contain", {"contain-action": "user_lock", "contain-object_id": str(web.id),
                                           "contain-reason": ""}, page="/soc/")  # fmt: skip
    assert r.status_code == 422
    site_id = _site(ministry)
    r = post_form(client, "/soc/contain", {"contain-action": "sites.site_suspend", "contain-object_id": str(site_id),
                                           "contain-org_id": str(ministry.id), "contain-reason": "phishing kit"},
                  page="/soc/")  # fmt: skip
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    with db.unit_of_work() as s:
        req = s.scalars(select(Request).where(Request.kind == "sites.site_suspend")).one()
        assert req.requester_name == "soc2" and req.org_id == ministry.id
    assert [n.params["reason"] for n in _notes(boss.id)] == ["phishing kit"]
    client.set_cookie("locale", "km")
    km = client.get("/soc/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert "ការទប់ស្កាត់" in km


def test_address_block_refuses_bad_input_and_submits_one_job(client, cli, make, cast, dc, api_token):
    from panel.capabilities.soc import hostguard
    from panel.models.jobs import Job

    soc, _, boss, _ = cast
    second = api_token(make.make_user(Role.SOC, dc, username="soc2"))  # the second person four-eyes asks for
    a = make.actor_of(soc, "api")
    _site(make.make_org("Ministry B"))  # a host row, web1 at 10.77.0.250
    with db.unit_of_work() as s:
        web1 = s.scalars(select(Host).where(Host.name == "web1")).one()
        web1.facts = {"fail2ban": {"protected_at": "2026-12-06T20:00:00"}}
        host_id = web1.id
    for address, key in [
        ("not-an-ip", "soc.address_invalid"),
        ("127.0.0.1", "soc.address_invalid"),
        ("10.0.0.0/8", "soc.address_too_wide"),
        ("10.77.0.0/24", "soc.address_managed"),  # holds web1: the panel would cut itself off
        ("10.77.0.250", "soc.address_managed"),
    ]:
        with pytest.raises(Invalid) as e:
            containment.contain_address_block(a, address=address, reason="scan")
        assert e.value.key == key, address
    with pytest.raises(Invalid):
        containment.contain_address_block(a, address="203.0.113.7", reason="scan", minutes=-1)
    with pytest.raises(Invalid):
        containment.contain_address_block(a, address="203.0.113.7", reason="scan", host_ids=[999999])
    with pytest.raises(Forbidden):
        containment.contain_address_block(make.actor_of(boss), address="203.0.113.7", reason="scan")
    with pytest.raises(Forbidden):  # the SOC installs nothing: that is DC staff's work
        hostguard.hosts_protect(a, host_ids=[host_id])
    r = client.post("/api/v1/soc/contain/address-block", headers=api_token(soc),
                    json={"address": "203.0.113.7", "reason": "scan", "minutes": 10**9})  # fmt: skip
    assert r.status_code == 422
    r = client.post("/api/v1/soc/contain/address-block", headers=api_token(soc, scope="read"),
                    json={"address": "203.0.113.7", "reason": "scan"})  # fmt: skip
    assert r.status_code == 403
    r = client.post("/api/v1/soc/contain/address-block", headers=api_token(soc),
                    json={"address": "203.0.113.7", "reason": "credential stuffing", "minutes": 30})  # fmt: skip
    assert r.status_code == 200 and r.get_json()["awaiting_approval"], r.get_json()
    # four-eyes (the shipped policy holds address blocks): a second SOC user approves
    r = client.post(f"/api/v1/soc/contain/pending/{r.get_json()['id']}/approve", headers=second)
    assert r.status_code == 200, r.get_json()
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "soc.address_block")).one()
        assert job.host_ids == [host_id]
        assert job.params == {"addresses": ["203.0.113.7/32"], "seconds": 1800, "unblock": False}
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "soc.contain")).one()
        assert entry.actor_name == "soc2" and "credential stuffing" in entry.summary and "soc1" in entry.summary
    bad = cli("soc", "block", "10.0.0.0/8", "--reason", "x", "--as", "soc1")
    assert bad.exit_code == 2 and "soc.address_too_wide" in bad.output


def test_web_block_form(client, make, cast, web_login):
    import pyotp

    from panel.models.jobs import Job

    secret = pyotp.random_base32()
    soc2 = make.make_user(Role.SOC, make.make_org("DC 2", kind=OrgKind.DATACENTER), username="soc2", totp_secret=secret)
    _site(cast[1])
    with db.unit_of_work() as s:
        s.scalars(select(Host)).one().facts = {"fail2ban": {"protected_at": "2026-12-06T20:00:00"}}
    web_login(soc2)
    assert "Block an address on the hosts" in client.get("/soc/").get_data(as_text=True)
    r = post_form(client, "/soc/block", {"block-address": "10.0.0.0/8", "block-minutes": "0", "block-reason": "scan"},
                  page="/soc/")  # fmt: skip
    assert r.status_code == 422 and "Block at most a /16 network." in r.get_data(as_text=True)
    r = post_form(client, "/soc/block", {"block-address": "203.0.113.9", "block-minutes": "15",
                                         "block-reason": "password spraying"}, page="/soc/")  # fmt: skip
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    (held,) = containment.pending_list(make.actor_of(soc2))  # four-eyes: held for a second person
    containment.contain_approve(make.actor_of(cast[0]), held.id)
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "soc.address_block")).one()
        assert job.params == {"addresses": ["203.0.113.9/32"], "seconds": 900, "unblock": False}
    client.set_cookie("locale", "km")
    km = client.get("/soc/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert "រារាំងអាសយដ្ឋាននៅលើម៉ាស៊ីន" in km


def test_protect_and_bans_over_the_api(client, make, cast, dc, api_token):
    from panel.models.jobs import Job

    soc = cast[0]
    admin = make.make_user(Role.ADMIN, dc, username="dcadmin")
    _site(cast[1])
    with db.unit_of_work() as s:
        host_id = s.scalars(select(Host.id)).one()
    h = api_token(admin)
    assert client.post("/api/v1/soc/protect", headers=h, json={"host_ids": []}).status_code == 422
    bad = client.post("/api/v1/soc/protect", headers=h, json={"host_ids": [host_id], "ignoreip": ["nope"]})
    assert bad.status_code == 422 and "soc.ignoreip_invalid" in bad.get_data(as_text=True)
    assert client.post("/api/v1/soc/protect", headers=h, json={"host_ids": [999999]}).status_code == 422
    for other in (api_token(soc), api_token(admin, scope="read")):  # the SOC installs nothing; nor a read token
        assert client.post("/api/v1/soc/protect", headers=other, json={"host_ids": [host_id]}).status_code == 403
        assert client.post("/api/v1/soc/bans/collect", headers=other).status_code == 403
    r = client.post("/api/v1/soc/protect", headers=h, json={"host_ids": [host_id], "ignoreip": ["10.77.0.1"]})
    assert r.status_code == 200, r.get_json()
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "soc.hosts_protect")).one()
        assert job.host_ids == [host_id] and job.params == {"ignoreip": ["10.77.0.1/32"]}
        s.get(Host, host_id).facts = {"fail2ban": {"protected_at": "2026-12-06T20:00:00"}}
    r = client.post("/api/v1/soc/bans/collect", headers=h)
    assert r.status_code == 200 and len(r.get_json()["jobs"]) == 1 and r.get_json()["skipped"] == []
    # the previous read not finished yet: no second job for the host
    assert client.post("/api/v1/soc/bans/collect", headers=h).get_json()["jobs"] == []


def test_web_bans_table_and_protect_form(client, make, cast, dc, web_login):
    import pyotp

    from panel.models.jobs import Job

    _site(cast[1])
    with db.unit_of_work() as s:
        host = s.scalars(select(Host)).one()
        host_id = host.id
        host.facts = {"fail2ban": {"protected_at": "2026-12-06T20:00:00", "read_at": "2026-12-06T20:02:00",
                                   "jails": {"sshd": ["203.0.113.66"]}, "blocked": ["198.51.100.0/24"]}}  # fmt: skip
    admin = make.make_user(Role.ADMIN, dc, username="dcadmin2", totp_secret=pyotp.random_base32())
    web_login(admin)
    page = client.get("/soc/").get_data(as_text=True)
    assert "sshd: 203.0.113.66" in page and "198.51.100.0/24" in page and "Install fail2ban on hosts" in page
    r = post_form(client, "/soc/protect", {"protect-host_ids": "x, 2", "protect-ignoreip": ""}, page="/soc/")
    assert r.status_code == 422 and "Give host ids (whole numbers) separated by commas." in r.get_data(as_text=True)
    r = post_form(client, "/soc/protect", {"protect-host_ids": str(host_id), "protect-ignoreip": "bad"}, page="/soc/")
    assert r.status_code == 422 and "bad is not an address or network." in r.get_data(as_text=True)
    r = post_form(client, "/soc/protect", {"protect-host_ids": str(host_id), "protect-ignoreip": "10.77.0.1"},
                  page="/soc/")  # fmt: skip
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    with db.unit_of_work() as s:
        assert s.scalars(select(Job).where(Job.kind == "soc.hosts_protect")).one().host_ids == [host_id]
    client.set_cookie("locale", "km")
    km = client.get("/soc/", headers={"Accept-Language": "km"}).get_data(as_text=True)
    assert "ការហាមឃាត់នៅលើម៉ាស៊ីន" in km
