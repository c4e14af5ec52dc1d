"""Mail on each surface without the lab: validation, password rules, tenant isolation (web, API,
CLI), and where passwords go (hashed at once; never in the DB in clear, the audit log or a job)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from panel import db
from panel.capabilities.mail import passwords as pw
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.errors import Conflict, Invalid, NotFound
from panel.models.audit import AuditEntry
from panel.models.jobs import Job
from panel.models.requests import Request
from panel.models.tenants import Role
from tests.support.fixtures import csrf_from

SECRET = "Zq9!unique-mail-secret"
HOSTILE = ["; id", "{{ 7*7 }}", "../etc", "a\x00b", "a\nb", "x" * 300, "សួស្តី", "a:b", "a b", "a,b"]


@pytest.fixture
def two(make):
    a, b = make.make_org("Ministry A"), make.make_org("Ministry B")
    ua, ub = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    host = make.make_host("mx1", roles=["mail"])
    with db.unit_of_work() as s:
        doms = {}
        for key, org in (("a", a), ("b", b)):
            dom = MailDomain(
                org_id=org.id,
                name=f"{key}.gov.test",
                host_id=host.id,
                dkim_selector="govhost",
                status=MailDomainStatus.ACTIVE,
            )
            s.add(dom)
            s.flush()
            s.add(
                Mailbox(org_id=org.id, domain_id=dom.id, local_part="staff", quota_mb=100, status=MailboxStatus.ACTIVE)
            )
            doms[key] = dom.id
        s.flush()
        boxes = {k: s.scalars(select(Mailbox.id).where(Mailbox.domain_id == v)).one() for k, v in doms.items()}
    return type(
        "Two",
        (),
        {
            "a": a,
            "b": b,
            "ua": ua,
            "ub": ub,
            "aa": make.actor_of(ua),
            "ab": make.actor_of(ub),
            "doms": doms,
            "boxes": boxes,
            "host": host,
        },
    )


@pytest.mark.parametrize("value", [*HOSTILE, "postmaster", "abuse", "mailer-daemon", "-lead", "a..b", ""])
def test_bad_local_parts_are_refused_with_a_key(two, value):
    with pytest.raises(Invalid) as e:
        mail_svc.mailbox_create(two.aa, domain_id=two.doms["a"], mailboxes=[{"local_part": value, "password": SECRET}])
    assert e.value.key.startswith("mail.local_part") and e.value.field == "local_parts"


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short1!A", "short"),
        ("alllowercaseletters", "classes"),
        ("aaaaaaaaaaA1!", "repetitive"),
        ("Password1234", "guessable"),
        ("Staff-pass-2024", "guessable"),
        ("with:colon-Pass1", "chars"),
        ("tab\there-Pass1", "control"),
    ],
)
def test_weak_password_names_the_rule(two, password, rule):
    with pytest.raises(Invalid) as e:
        mail_svc.mailbox_password_set(two.aa, mailbox_id=two.boxes["a"], password=password)
    assert e.value.key == f"mail.password_{rule}" and e.value.field == "password"


def test_duplicate_and_forwarding_policy(two):
    with pytest.raises(Conflict, match="exists already"):
        mail_svc.mailbox_create(
            two.aa, domain_id=two.doms["a"], mailboxes=[{"local_part": "Staff", "password": SECRET}]
        )
    with pytest.raises(Invalid) as e:
        mail_svc.mailbox_create(
            two.aa,
            domain_id=two.doms["a"],
            mailboxes=[{"local_part": "x1", "password": SECRET}, {"local_part": "X1", "password": SECRET}],
        )
    assert e.value.key == "mail.local_part_duplicate"
    with pytest.raises(Invalid) as e:
        mail_svc.alias_create(two.aa, domain_id=two.doms["a"], source="team", destinations=["someone@gmail.com"])
    assert e.value.key == "mail.forwarding_external_forbidden"
    req = mail_svc.alias_create(two.aa, domain_id=two.doms["a"], source="team", destinations=["staff@a.gov.test"])
    assert req.kind == "mail.alias_create"


def test_batch_is_one_request_one_job_and_passwords_are_only_hashes(two):
    boxes = [{"local_part": f"user{i:03d}", "password": f"{SECRET}{i}"} for i in range(40)]
    req = mail_svc.mailbox_create(two.aa, domain_id=two.doms["a"], mailboxes=boxes, quota_mb=50)
    with db.unit_of_work() as s:
        jobs = list(s.scalars(select(Job).where(Job.request_id == req.id)))
        assert len(jobs) == 1 and len(jobs[0].params["mailbox_ids"]) == 40
        secrets = json.loads(mail_svc.requests.security.unseal(s.get(Request, req.id).secrets))
        assert all(pw.is_hash(h) and h.startswith("{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$") for h in secrets.values())
        dump = "\n".join(
            str(row)
            for t in ("requests", "jobs", "audit_entries", "mailboxes", "job_events")
            for row in s.execute(text(f"SELECT * FROM {t}"))  # noqa: S608 (fixed names)
        )
    assert SECRET not in dump
    single = mail_svc.mailbox_password_set(two.aa, mailbox_id=two.boxes["a"], password=SECRET)
    with db.unit_of_work() as s:
        hashed = json.loads(mail_svc.requests.security.unseal(s.get(Request, single.id).secrets))["hash"]
    assert hashed.startswith("{ARGON2ID}$argon2id$") and SECRET not in hashed


def test_service_isolation(two):
    with pytest.raises(NotFound):
        mail_svc.mail_domain_get(two.aa, two.doms["b"])
    with pytest.raises(NotFound):
        mail_svc.mailbox_suspend(two.aa, mailbox_id=two.boxes["b"])
    with pytest.raises(NotFound):
        mail_svc.mailbox_create(two.aa, domain_id=two.doms["b"], mailboxes=[{"local_part": "x", "password": SECRET}])
    assert [d.name for d in mail_svc.mail_domain_list(two.aa).items] == ["a.gov.test"]


def test_api_isolation_and_problem_keys(client, token_for, two):
    h = token_for(two.ua)
    assert [d["name"] for d in client.get("/api/v1/mail/domains", headers=h).json["items"]] == ["a.gov.test"]
    assert client.get(f"/api/v1/mail/domains/{two.doms['b']}", headers=h).status_code == 404
    assert client.get(f"/api/v1/mail/domains/{two.doms['b']}/mailboxes", headers=h).status_code == 404
    assert client.post(f"/api/v1/mail/mailboxes/{two.boxes['b']}/suspend", headers=h).status_code == 404
    r = client.post(
        f"/api/v1/mail/domains/{two.doms['b']}/mailboxes",
        headers=h,
        json={"mailboxes": [{"local_part": "x", "password": SECRET}]},
    )
    assert r.status_code == 404
    r = client.post(
        f"/api/v1/mail/domains/{two.doms['a']}/mailboxes",
        headers=h,
        json={"mailboxes": [{"local_part": "{{ 7*7 }}", "password": SECRET}]},
    )
    assert r.status_code == 422 and r.json["key"] == "mail.local_part_invalid"
    r = client.post(f"/api/v1/mail/mailboxes/{two.boxes['a']}/password", headers=h, json={"password": "Qx7!zk"})
    assert r.status_code == 422 and r.json["key"] == "mail.password_short" and "Qx7!zk" not in r.get_data(as_text=True)
    r = client.post(f"/api/v1/mail/mailboxes/{two.boxes['a']}/password", headers=h, json={"password": SECRET})
    assert r.status_code == 201 and SECRET not in r.get_data(as_text=True)


def test_web_isolation_and_form_errors(login_as, two):
    c = login_as(two.ua)
    assert "a.gov.test" in c.get("/mail/").get_data(as_text=True)
    assert "b.gov.test" not in c.get("/mail/").get_data(as_text=True)
    assert c.get(f"/mail/domains/{two.doms['b']}").status_code == 404
    token = csrf_from(c.get(f"/mail/mailboxes/{two.boxes['a']}").get_data(as_text=True))
    assert c.post(f"/mail/mailboxes/{two.boxes['b']}/suspend", data={"csrf_token": token}).status_code == 404
    r = c.post(
        f"/mail/mailboxes/{two.boxes['a']}/password",
        data={"csrf_token": token, "password": "weakweak", "confirm": "weakweak"},
    )
    assert r.status_code == 422 and "at least 12 characters" in r.get_data(as_text=True)
    r = c.post(f"/mail/domains/{two.doms['a']}/mailboxes/new", data={"csrf_token": token, "entries": f"; id,{SECRET}"})
    assert r.status_code == 422 and "may hold only" in r.get_data(as_text=True)
    # the refused batch comes back without its passwords, and the page is not cached
    assert SECRET not in r.get_data(as_text=True) and r.headers["Cache-Control"] == "no-store"
    r = c.post(f"/mail/mailboxes/{two.boxes['a']}/suspend", data={"csrf_token": token})
    assert r.status_code == 302 and "/requests/" in r.headers["Location"]


def test_cli_isolation_and_exit_codes(cli, two):
    r = cli("mail", "mailboxes", "b.gov.test", "--as", two.ua.username)
    assert r.exit_code == 2 and "not_found" in r.output
    r = cli("mail", "suspend", "staff@b.gov.test", "--as", two.ua.username)
    assert r.exit_code == 2
    r = cli("mail", "mailboxes", "a.gov.test", "--as", two.ua.username)
    assert r.exit_code == 0 and "staff@a.gov.test" in r.output
    r = cli("mail", "create", "a.gov.test", "newbox", "--as", two.ua.username, input=f"{SECRET}\n{SECRET}\n")
    assert r.exit_code == 0 and SECRET not in r.output
    with db.unit_of_work() as s:
        audit = "\n".join(e.summary for e in s.scalars(select(AuditEntry)))
    assert SECRET not in audit and "[redacted]" in audit


# A password holding a comma and a quote, and a display name holding a comma: quoted CSV fields.
BATCH_LINE = '{name},"Quo,ted ""pass"" 2024!","Chan, Dara"'
BATCH_PASSWORD = 'Quo,ted "pass" 2024!'


def _filed(local_part: str) -> tuple[str, dict]:
    """The stored hash of the request that asked for `local_part`, and the request's payload."""
    from panel import security

    with db.unit_of_work() as s:
        for req in s.scalars(select(Request).order_by(Request.id)):
            if req.payload.get("local_parts") == [local_part]:
                return json.loads(security.unseal(req.secrets))[local_part], req.payload
    raise AssertionError(f"no request for {local_part}")


def test_a_quoted_comma_in_a_password_reads_the_same_on_web_and_cli(two, login_as, cli, tmp_path):
    from argon2 import PasswordHasher

    c = login_as(two.ua)
    page = f"/mail/domains/{two.doms['a']}/mailboxes/new"
    token = csrf_from(c.get(page).get_data(as_text=True))
    r = c.post(page, data={"csrf_token": token, "entries": BATCH_LINE.format(name="fromweb")})
    assert r.status_code == 302, r.get_data(as_text=True)
    batch = tmp_path / "boxes.csv"
    batch.write_text("# local_part,password,display name\n" + BATCH_LINE.format(name="fromcli") + "\n")
    r = cli("mail", "create", "a.gov.test", "--csv", str(batch), "--as", two.ua.username)
    assert r.exit_code == 0, r.output

    for name in ("fromweb", "fromcli"):
        stored, payload = _filed(name)
        assert PasswordHasher().verify(stored.removeprefix("{ARGON2ID}"), BATCH_PASSWORD)  # whole, quotes undone
        assert payload["display_names"] == {name: "Chan, Dara"}


def test_a_batch_line_with_an_unquoted_extra_comma_is_refused_the_same_way(two, login_as, cli, tmp_path):
    line = f"box,{SECRET},Chan, Dara"  # four fields: before, the web cut the password silently
    c = login_as(two.ua)
    page = f"/mail/domains/{two.doms['a']}/mailboxes/new"
    r = c.post(page, data={"csrf_token": csrf_from(c.get(page).get_data(as_text=True)), "entries": line})
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "Line 1 has 4 fields" in body and SECRET not in body
    batch = tmp_path / "boxes.csv"
    batch.write_text(line + "\n")
    r = cli("mail", "create", "a.gov.test", "--csv", str(batch), "--as", two.ua.username)
    assert r.exit_code == 2 and "table.too_many_fields" in r.output and SECRET not in r.output


def test_batch_errors_name_the_line_on_the_api_and_the_cli(cli, client, token_for, two, tmp_path):
    """The service names the entry (params.entry); the CLI turns it into the file's line."""
    csv = tmp_path / "boxes.csv"
    csv.write_text(f"# new staff\nsokha,{SECRET}\n\ndara,short\n", encoding="utf-8")
    r = cli("mail", "create", "a.gov.test", "--csv", str(csv), "--as", two.ua.username)
    assert r.exit_code == 2 and "Line 4:" in r.output and "password" in r.output, r.output
    boxes = [{"local_part": "sokha", "password": SECRET}, {"local_part": "dara", "password": "short"}]
    r = client.post(
        f"/api/v1/mail/domains/{two.doms['a']}/mailboxes", json={"mailboxes": boxes}, headers=token_for(two.ua)
    )
    assert r.status_code == 422 and r.json["params"]["entry"] == 2, r.json
