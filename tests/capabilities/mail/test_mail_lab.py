"""The mail platform on real postfix, dovecot, opendkim and BIND (lab hosts)."""

from __future__ import annotations

import imaplib
import smtplib
import time
from email.message import EmailMessage

import dkim
import dns.message
import dns.query
import pytest

from panel import db
from panel.capabilities.mail import service as mail_svc
from panel.capabilities.mail.models import Mailbox, MailboxStatus
from provisioners import lab as L
from tests.capabilities.mail.conftest import PASSWORD, ZONES, approve_and_run, ca_context, make_domain
from tests.support.clients import imap, smtp

pytestmark = pytest.mark.lab


def create_boxes(world, dom, *names, quota_mb=None, actor=None):
    req = mail_svc.mailbox_create(
        actor or world.aa,
        domain_id=dom.id,
        quota_mb=quota_mb,
        mailboxes=[{"local_part": n, "password": PASSWORD} for n in names],
    )
    approve_and_run(world, req)
    return req


def submit(world, frm, to, subject, body="hello", password=PASSWORD):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = frm, to, subject
    msg.set_content(body)
    s = smtp(world.ip, 587)
    try:
        s.ehlo("client.lab.test")
        s.starttls(context=ca_context(world))
        s.ehlo("client.lab.test")
        s.login(frm, password)
        s.send_message(msg)
    finally:
        s.quit()


def fetch(world, address, subject, password=PASSWORD, timeout=10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        box = imap(world.ip, 993, use_ssl=True, ssl_context=ca_context(world))
        try:
            box.login(address, password)
            box.select("INBOX")
            _, found = box.search(None, "SUBJECT", f'"{subject}"')
            if found[0]:
                return box.fetch(found[0].split()[-1], "(RFC822)")[1][0][1]
        finally:
            box.logout()
        if time.monotonic() > deadline:
            raise AssertionError(f"{subject!r} not in {address}'s inbox")
        time.sleep(0.2)


def login(world, address, password) -> None:
    """One IMAPS login; raises imaplib.IMAP4.error when refused. The connection is always closed."""
    box = imap(world.ip, 993, use_ssl=True, ssl_context=ca_context(world))
    try:
        box.login(address, password)
    except imaplib.IMAP4.error:
        box.shutdown()
        raise
    box.logout()


def lab_dns(world):
    """dkimpy's DNS lookups go to the lab BIND, from 10.77.0.1 (never the machine's resolver)."""

    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        L.assert_pinned(world.dns_ip)
        answer = dns.query.udp(dns.message.make_query(name, "TXT"), world.dns_ip, timeout=5, source=L.GATEWAY)
        return b"".join(s for rrset in answer.answer for rd in rrset for s in rd.strings)

    return lookup


def test_submission_delivers_signed_mail_that_verifies_against_bind(mail_world):
    dom = make_domain(mail_world)
    assert dom.status.value == "active" and dom.dkim_public_key
    a, b = (f"{n}@{ZONES['a']}" for n in ("sokha", "dara"))
    create_boxes(mail_world, dom, "sokha", "dara")
    submit(mail_world, a, b, "signed hello")
    raw = fetch(mail_world, b, "signed hello")
    assert b"DKIM-Signature:" in raw and f"d={ZONES['a']}".encode() in raw
    assert dkim.verify(raw, dnsfunc=lab_dns(mail_world)), "DKIM signature does not verify against BIND"
    checked = mail_svc.mail_domain_dns_check(mail_world.aa, domain_id=dom.id)
    assert set(checked.dns_status.values()) == {"ok"}, checked.dns_status


def test_no_open_relay_vrfy_refused_and_alias_delivers(mail_world):
    """One domain and mailbox for three checks of port 25 (each had its own domain and mailbox runs)."""
    dom = make_domain(mail_world)
    create_boxes(mail_world, dom, "chanthy")
    s = smtp(mail_world.ip, 25)
    try:
        s.ehlo("outside.example")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            s.sendmail("spammer@outside.example", ["victim@example.org"], "Subject: relay\r\n\r\nx")
        assert refused.value.recipients["victim@example.org"][0] == 554
        for who in (f"chanthy@{ZONES['a']}", f"nobody@{ZONES['a']}"):
            code, text = s.verify(who)
            # the same refusal for a mailbox that exists and one that does not: nothing to harvest
            assert code == 502 and b"VRFY command is disabled" in text, (who, code, text)
    finally:
        s.quit()
    approve_and_run(
        mail_world,
        mail_svc.alias_create(mail_world.aa, domain_id=dom.id, source="info", destinations=[f"chanthy@{ZONES['a']}"]),
    )
    s = smtp(mail_world.ip, 25)
    try:
        s.ehlo("outside.example")
        s.sendmail("friend@outside.example", [f"info@{ZONES['a']}"], "Subject: via alias\r\n\r\nhi")
    finally:
        s.quit()
    assert b"via alias" in fetch(mail_world, f"chanthy@{ZONES['a']}", "via alias")


def test_suspended_cannot_log_in_wrong_password_fails_over_quota_rejects(mail_world):
    dom = make_domain(mail_world)
    create_boxes(mail_world, dom, "vanna", "small", quota_mb=10)
    vanna = f"vanna@{ZONES['a']}"
    with db.unit_of_work() as s:
        box = s.query(Mailbox).filter_by(local_part="vanna", domain_id=dom.id).one()
    with pytest.raises(imaplib.IMAP4.error):
        login(mail_world, vanna, PASSWORD + "x")
    approve_and_run(mail_world, mail_svc.mailbox_suspend(mail_world.aa, mailbox_id=box.id))
    assert mail_svc.mailbox_get(mail_world.aa, box.id).status == MailboxStatus.SUSPENDED
    with pytest.raises(imaplib.IMAP4.error, match="suspended"):
        login(mail_world, vanna, PASSWORD)
    approve_and_run(mail_world, mail_svc.mailbox_unsuspend(mail_world.aa, mailbox_id=box.id))
    login(mail_world, vanna, PASSWORD)
    s = smtp(mail_world.ip, 25)
    try:
        s.ehlo("outside.example")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as full:
            s.sendmail("x@outside.example", [f"small@{ZONES['a']}"], "Subject: big\r\n\r\n" + "x" * (11 * 1024 * 1024))
        assert full.value.recipients[f"small@{ZONES['a']}"][0] == 552
    finally:
        s.quit()


def test_no_password_or_hash_in_any_output(mail_world):
    """Create + reset through the real jobs, then grep everything the panel and the host keep."""
    from sqlalchemy import text

    from panel.models.jobs import JobEvent

    dom = make_domain(mail_world)
    secret_new = "Nw!fresh-secret-8812"
    create_boxes(mail_world, dom, "leak")
    with db.unit_of_work() as s:
        box = s.query(Mailbox).filter_by(local_part="leak", domain_id=dom.id).one()
    approve_and_run(mail_world, mail_svc.mailbox_password_set(mail_world.aa, mailbox_id=box.id, password=secret_new))
    login(mail_world, f"leak@{ZONES['a']}", secret_new)
    users = L.host_exec("mt1", "cat", "/etc/dovecot/govhost/users").stdout
    line = next(x for x in users.splitlines() if x.startswith(f"leak@{ZONES['a']}:"))
    hashed = line.split(":")[1]
    assert hashed.startswith("{ARGON2ID}$argon2id$")
    with db.unit_of_work() as s:
        events = "\n".join(f"{e.task} {e.stdout}" for e in s.query(JobEvent))
        tables = (
            [r[0] for r in s.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))]
            if s.bind.dialect.name == "sqlite"
            else [r[0] for r in s.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))]
        )
        dump = "\n".join(str(row) for t in tables for row in s.execute(text(f'SELECT * FROM "{t}"')))  # noqa: S608
    logs = L.host_exec("mt1", "sh", "-c", "cat /var/log/postfix.log /var/log/dovecot.log /var/log/sshd.log").stdout
    for where, blob in (("job events", events), ("database", dump), ("host logs", logs)):
        for value in (PASSWORD, secret_new, hashed.split("$")[-1]):
            assert value not in blob, f"a password or hash is in the {where}"
    assert "no password hash" not in events
