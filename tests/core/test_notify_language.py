"""Notices are stored as a message key + params and reach each reader in their own language: in the
panel, in the API and by e-mail (a real SMTP server, aiosmtpd, on 127.0.0.1 started here).

Issue 14's defect: the over-limit notices of the site and mailbox usage jobs were English f-strings
inserted as rows by the jobs, never e-mailed and never translated.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import socket
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from panel import boot, db
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Plan, Site, SiteStatus
from panel.jobs import capabilities, runner
from panel.models.hosts import Host
from panel.models.jobs import Job, JobHost, JobStatus
from panel.models.notifications import Notification
from panel.models.tenants import Role
from panel.models.users import User
from panel.services import notifications
from provisioners.base import Result
from tests.support import factories

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"
SITE_KM = "គេហទំព័រ www.a.gov.test ប្រើ 150 MB លើសកម្រិតកញ្ចប់របស់វា 100 MB"
SITE_EN = "Site www.a.gov.test uses 150 MB, over its plan's 100 MB"


class Collect:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg["X-Rcpt"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(booted):
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    boot.boot(
        dataclasses.replace(booted, smtp=dataclasses.replace(booted.smtp, host="127.0.0.1", port=controller.port))
    )
    yield handler
    controller.stop()
    boot.boot(booted)


def wait_for(handler: Collect, n: int, timeout: float = 5.0) -> list:
    end = time.monotonic() + timeout
    while len(handler.messages) < n and time.monotonic() < end:
        time.sleep(0.02)
    return handler.messages


def mail_to(handler: Collect, user: User) -> list:
    return [m for m in handler.messages if user.email in m["X-Rcpt"].split(",")]


def set_locale(user: User, locale: str) -> None:
    with db.unit_of_work() as s:
        s.get(User, user.id).locale = locale


@pytest.fixture
def people(make):
    org = make.make_org("Ministry A")
    wm_km = make.make_user(Role.WEBMASTER, org)  # reads Khmer
    admin_en = make.make_user(Role.ORG_ADMIN, org)  # reads English
    op = make.make_user(Role.OPERATOR)  # no language of their own: the panel's default (en here)
    outsider = make.make_user(Role.WEBMASTER)  # another ministry: hears nothing
    set_locale(wm_km, "km")
    set_locale(admin_en, "en")
    return org, wm_km, admin_en, op, outsider


def finish(kind: str, host: Host, params: dict, data: dict) -> None:
    """End a running job the way the worker does (runner.finish: status, hook, signals, commit)."""
    with db.unit_of_work() as s:
        job = Job(
            kind=kind, status=JobStatus.PENDING, params=params, host_links=[JobHost(host_id=host.id, host_name="h")]
        )
        s.add(job)
    assert runner.claim(job.id)  # as the worker does: pending -> running, with its lease
    assert runner.finish(job.id, Result(status="successful", rc=0, data=data), capabilities.get(kind)) == (
        JobStatus.SUCCESSFUL
    )


def host(s, role: str) -> Host:
    return s.merge(factories.make_host(f"{role}1", roles=[role]))


def test_over_limit_site_notice_is_mailed_in_each_members_language(smtp, people):
    org, wm_km, admin_en, op, outsider = people
    with db.unit_of_work() as s:
        web = host(s, "web")
        plan = Plan(name="basic", disk_mb=100)
        s.add(plan)
        s.flush()
        site = Site(org_id=org.id, fqdn="www.a.gov.test", plan_id=plan.id, host_id=web.id, status=SiteStatus.ACTIVE)
        s.add(site)
    finish("sites.site_usage", web, {"site_ids": [site.id]}, {"site_usage": {"www.a.gov.test": 150.0}})

    wait_for(smtp, 3)
    assert [m["Subject"] for m in mail_to(smtp, wm_km)] == [SITE_KM]
    assert [m["Subject"] for m in mail_to(smtp, admin_en)] == [SITE_EN]
    assert [m["Subject"] for m in mail_to(smtp, op)] == [SITE_EN]
    assert mail_to(smtp, outsider) == [] and len(smtp.messages) == 3
    assert f"/sites/{site.id}" in mail_to(smtp, wm_km)[0].get_content()

    with db.unit_of_work() as s:  # stored as a key and params, not as a sentence
        row = s.scalars(select(Notification).where(Notification.user_id == wm_km.id)).one()
        assert (row.kind, row.subject) == ("site.over_limit", "Site {fqdn} uses {used} MB, over its plan's {limit} MB")
        assert row.params == {"fqdn": "www.a.gov.test", "used": 150, "limit": 100}
    # the same row, read by each reader in their language (the web page passes its locale)
    from tests.support.factories import actor_of

    assert notifications.notification_list(actor_of(wm_km)).items[0].subject == SITE_KM
    assert notifications.notification_list(actor_of(wm_km), locale="en").items[0].subject == SITE_EN


def test_over_quota_mailbox_notice_goes_to_the_ministrys_admins_in_their_language(smtp, people):
    org, _wm_km, admin_en, _op, _outsider = people  # only the ministry's admins hear of mailboxes
    set_locale(admin_en, "km")
    with db.unit_of_work() as s:
        mail = host(s, "mail")
        dom = MailDomain(org_id=org.id, name="a.gov.test", host_id=mail.id, status=MailDomainStatus.ACTIVE)
        dom.dkim_selector = "g"
        s.add(dom)
        s.flush()
        s.add(Mailbox(org_id=org.id, domain_id=dom.id, local_part="info", quota_mb=10, status=MailboxStatus.ACTIVE))
    tab = "username\ttype\tvalue\tlimit\tpercent\ninfo@a.gov.test\tSTORAGE\t20480\t10240\t200\n"
    finish("mail.usage", mail, {}, {"mail_usage_tab": tab})

    wait_for(smtp, 1)
    time.sleep(0.2)
    assert [m["Subject"] for m in smtp.messages] == [
        "ប្រអប់សំបុត្រ info@a.gov.test ប្រើ 20 MB លើសកូតា 10 MB របស់វា៖ សំបុត្រថ្មីត្រូវបានបដិសេធ"
    ]
    assert smtp.messages[0]["X-Rcpt"] == admin_en.email


def test_rows_written_before_messages_were_keys_are_shown_as_they_are(booted, people):
    _org, wm_km, *_ = people
    with db.unit_of_work() as s:
        s.add(Notification(user_id=wm_km.id, kind="site.over_limit", subject="Site x uses 5 MB {not a field}"))
    from tests.support.factories import actor_of

    assert notifications.notification_list(actor_of(wm_km)).items[0].subject == "Site x uses 5 MB {not a field}"
