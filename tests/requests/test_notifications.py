"""Notifications in the panel and by e-mail, against a real SMTP sink on 127.0.0.1 (started here)."""

from __future__ import annotations

import dataclasses
import email
import socketserver
import threading
import time

import pytest
from sqlalchemy import select

from panel import boot, db
from panel.errors import QuotaExceeded
from panel.models.notifications import Notification
from panel.services import notifications, request_kinds
from panel.services import requests as svc
from panel.services.request_kinds import RequestKind, require_text
from tests.support.fixtures import MINISTRY, set_limit


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink ready")
        sender, rcpts = "", []
        while line := self.rfile.readline():
            cmd = line.decode("utf-8", "replace").strip()
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                sender, rcpts = cmd[10:].strip("<> "), []
                self.reply("250 ok")
            elif verb == "RCPT":
                rcpts.append(cmd[8:].strip("<> "))
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.messages.append((sender, rcpts, email.message_from_bytes(b"".join(data))))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class SMTPSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.messages: list = []

    def wait_for(self, n: int, timeout: float = 5.0) -> list:
        end = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < end:
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def sink(booted):
    server = SMTPSink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    smtp = dataclasses.replace(booted.smtp, host="127.0.0.1", port=server.server_address[1])
    boot.boot(dataclasses.replace(booted, smtp=smtp))
    yield server
    server.shutdown()
    server.server_close()
    boot.boot(booted)


def to(messages, user) -> list:
    return [m for _s, rcpts, m in messages if user.email in rcpts]


def rows(user) -> list[Notification]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)))


def test_approvers_then_requester_get_mail_and_panel_notes(sink, make, min_a, oa_a, op1, op2):
    req = svc.request_create(
        make.actor_of(oa_a),
        kind="quota.change",
        org_id=min_a.id,
        payload={"resource": "sites", "new_limit": 9, "reason": "portal"},
    )
    mails = sink.wait_for(2)  # one message per recipient: approvers do not see each other's address
    assert all(len(rcpts) == 1 for _s, rcpts, _m in mails)
    assert [m["Subject"] for m in to(mails, op1)] == [f"Request #{req.id} (Quota change) waits for approval"]
    assert len(to(mails, op2)) == 1 and to(mails, oa_a) == []
    assert f"/requests/{req.id}" in to(mails, op1)[0].get_payload()
    svc.request_approve(make.actor_of(op1), req.id)
    mails = sink.wait_for(4)
    assert [m["Subject"] for m in to(mails, oa_a)] == [
        f"Request #{req.id} (Quota change) was approved",
        f"Request #{req.id} (Quota change) is done",
    ]
    assert [n.kind for n in rows(oa_a)] == ["request.approved", "request.done"]
    a = make.actor_of(oa_a)
    assert notifications.notification_unread_count(a) == 2
    assert notifications.notification_mark_read(a, notification_id=rows(oa_a)[0].id) == 1
    assert notifications.notification_unread_count(a) == 1
    assert notifications.notification_mark_read(make.actor_of(op1), notification_id=rows(oa_a)[1].id) == 0
    assert notifications.notification_mark_read(a) == 1


def test_a_rolled_back_change_mails_nobody(sink, make, min_a, wm_a, op1):
    set_limit(min_a.id, "sites", 1)
    with pytest.raises(QuotaExceeded):
        svc.request_create(make.actor_of(wm_a), kind="test.widget", org_id=min_a.id, payload={"count": 2})
    time.sleep(0.3)
    assert sink.messages == [] and rows(op1) == []


request_kinds.register(
    RequestKind(
        name="test.mailbox",
        label="Test mailbox",
        who_may_request=MINISTRY,
        validate=lambda a, o, p: {"address": require_text(p, "address", max_len=100)},
        validate_secrets=lambda a, o, s: {"password": require_text(s, "password", max_len=200)},
        describe=lambda p: p["address"],
    )
)


def test_mail_never_carries_secrets(sink, make, min_a, wm_a, op1):
    pw = "S3cret-Mailbox-pw-77"
    req = svc.request_create(
        make.actor_of(wm_a),
        kind="test.mailbox",
        org_id=min_a.id,
        payload={"address": "info@mptc.gov.kh"},
        secrets={"password": pw},
    )
    svc.request_approve(make.actor_of(op1), req.id)
    mails = sink.wait_for(3)
    assert len(mails) == 3
    assert all(pw not in m.as_string() for _s, _r, m in mails)
    assert all(pw not in (n.subject + n.body) for n in rows(wm_a) + rows(op1))


def test_no_smtp_host_sends_nothing(booted):
    assert booted.smtp.host == ""
    assert notifications.send_mail(["someone@test.invalid"], "subject", "body") is False
