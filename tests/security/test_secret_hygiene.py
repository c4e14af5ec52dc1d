"""Secrets (API tokens, one-time passwords, mailbox passwords) are shown once to their owner and never
reach the audit log, request/job rows, notifications, Python logging or an error body."""

from __future__ import annotations

import logging

from panel import db
from panel.models.jobs import Job
from panel.models.notifications import Notification
from panel.models.requests import Request
from tests.security.conftest import snapshot
from tests.support.surfaces import api_headers

MAILBOX_PW = "Mailbox-Secret-Pass-9431"


def _everything_stored() -> str:
    """Every row of every table as text (sealed columns are ciphertext, so a plaintext hit is a leak)."""
    return "\n".join("\n".join(rows) for rows in snapshot().values())


def _rows_text(model) -> str:
    with db.unit_of_work() as s:
        return "\n".join(repr(vars(r)) for r in s.query(model).all())


def test_api_token_and_one_time_password_are_shown_once_and_stored_nowhere(client, world, caplog):
    caplog.set_level(logging.DEBUG)
    h = api_headers(world.admin)
    token = client.post("/api/v1/tokens/", json={"name": "ci", "scope": "read", "days": 2}, headers=h).get_json()
    plaintext = token.get("token") or token.get("plaintext")
    assert plaintext and plaintext.startswith("gh_")
    made = client.post(
        "/api/v1/users/",
        json={
            "username": "newbie",
            "email": "n@test.invalid",
            "full_name": "N",
            "org_id": world.a.id,
            "role": "webmaster",
        },
        headers=h,
    )
    assert made.status_code == 201, made.get_json()
    otp = made.get_json()["one_time_password"]
    reset = client.post(f"/api/v1/users/{made.get_json()['id']}/reset-password", headers=h).get_json()
    otp2 = reset["one_time_password"]
    stored, logged = _everything_stored(), caplog.text
    for secret in (plaintext, otp, otp2):
        assert secret not in stored and secret not in logged
    listing = client.get("/api/v1/tokens/", query_string={"user_id": 0}, headers=h).get_data(as_text=True)
    assert plaintext not in listing and plaintext[10:] not in listing


def test_mailbox_password_stays_in_sealed_secrets(client, world, caplog):
    caplog.set_level(logging.DEBUG)
    h = api_headers(world.a_admin)
    ids = world.ids
    r = client.post(f"/api/v1/mail/mailboxes/{ids['mailbox_id']}/password", json={"password": MAILBOX_PW}, headers=h)
    assert r.status_code in (200, 201, 202), r.get_json()
    bad = client.post(
        f"/api/v1/mail/mailboxes/{ids['mailbox_id']}/password", json={"password": MAILBOX_PW * 60}, headers=h
    )
    assert bad.status_code == 422 and MAILBOX_PW not in bad.get_data(as_text=True)
    for text in (_everything_stored(), _rows_text(Request), _rows_text(Job), _rows_text(Notification), caplog.text):
        assert MAILBOX_PW not in text


def test_hostile_body_echo_never_carries_a_password(client, world):
    """marshmallow's 422 names the field, never its value."""
    h = api_headers(world.admin)
    r = client.post("/api/v1/users/", json={"username": "x", "password": ["Leaky-Password-123"]}, headers=h)
    assert r.status_code == 422 and "Leaky-Password-123" not in r.get_data(as_text=True)
