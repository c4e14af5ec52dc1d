"""Bulk provisioning end to end on lab hosts: files -> plan -> one approval -> sites on a web host,
mailboxes on the mail host, DNS records in BIND -> per-row report; the same files again plan only
no-ops; a batch that fails (its host unreachable) is resumed alone, the rest is not run again; the
generated password logs in over IMAPS and appears in no output but its one delivery."""

from __future__ import annotations

import dataclasses
import json

import dns.message
import dns.query
import pytest
from sqlalchemy import func, select, text

from panel import db
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.services import bulk, requests
from provisioners import lab as L
from tests.capabilities.mail.conftest import (  # noqa: F401  (fixtures)
    DNS_HOST,
    ZONES,
    ca_context,
    finish_jobs,
    mail_world,
    make_domain,
)
from tests.capabilities.sites.conftest import SITE_HOSTS, site_lab, web_host  # noqa: F401  (fixtures)
from tests.support.clients import http_get, imap

pytestmark = pytest.mark.lab

ZONE = ZONES["a"]


@pytest.fixture
def settings(settings, mail_lab, tmp_path_factory):
    """The lab's SSH key, BIND as the DNS primary, one mail data dir for the session (its CA)."""
    dnscfg = dataclasses.replace(
        settings.dns, primary_host=DNS_HOST[0], resolver=DNS_HOST[1], nameservers=("ns1.govhost.test",)
    )
    data = mail_lab.state.setdefault("data", str(tmp_path_factory.mktemp("maildata")))
    return dataclasses.replace(
        settings,
        dns=dnscfg,
        ansible=dataclasses.replace(settings.ansible, ssh_key=str(L.lab_key_path())),
        data_dir=data,
    )


def _files(suffix: str = "") -> list[tuple[str, str]]:
    return [
        ("sites.csv", f"fqdn,plan,tls\nwww{suffix}.{ZONE},basic,none\nintra{suffix}.{ZONE},basic,none\n"),
        ("mailboxes.csv", f"address,display_name\ndara{suffix}@{ZONE},ដារ៉ា\n"),
        (
            "aliases.csv",
            f"address,destinations\nteam{suffix}@{ZONE},dara{suffix}@{ZONE}\nhelp{suffix}@{ZONE},dara{suffix}@{ZONE}\n",
        ),
        ("dns_records.csv", f"zone,name,type,data\n{ZONE},files{suffix},A,192.0.2.10\n{ZONE},@,TXT,bulk{suffix}\n"),
    ]


def _basic_plan() -> None:
    from panel.capabilities.sites.models import Plan

    with db.unit_of_work() as s:
        if s.scalar(select(Plan.id).where(Plan.name == "basic")) is None:
            s.add(Plan(name="basic", disk_mb=100, memory_mb=64, max_children=2, upload_mb=8))


def _run(settings) -> None:
    finish_jobs(settings)


def _dns(name: str, rtype: str) -> list[str]:
    answer = dns.query.udp(dns.message.make_query(name, rtype), DNS_HOST[1], timeout=5, source=L.GATEWAY)
    return [rd.to_text() for rrset in answer.answer for rd in rrset]


def test_files_to_live_report_rerun_noops(mail_world, web_host, settings):
    make_domain(mail_world, "a")
    web_host("st1")
    _basic_plan()
    result = bulk.bulk_plan(mail_world.aa, org_id=mail_world.a.id, files=_files())
    plan = result.plan
    assert plan.counts == {"create": 7}, bulk.bulk_report(mail_world.aa, plan.id)
    password = result.passwords[f"dara@{ZONE}"]
    req = bulk.bulk_submit(mail_world.aa, plan.id)
    requests.request_approve(mail_world.op, req.id)
    _run(settings)
    report = bulk.bulk_report(mail_world.aa, plan.id)
    assert [(r["kind"], r["status"]) for r in report] == [
        ("sites", "done"),
        ("sites", "done"),
        ("mailboxes", "done"),
        ("aliases", "done"),
        ("aliases", "done"),
        ("dns_records", "done"),
        ("dns_records", "done"),
    ], report
    assert all(r["object_id"] for r in report) and all(r["job_id"] for r in report if r["kind"] != "dns_records")
    # the two aliases went to the mail host together: one request, one job
    assert len({(r["request_id"], r["job_id"]) for r in report if r["kind"] == "aliases"}) == 1
    # live: the sites answer on the web host, the records in BIND, the mailbox logs in over IMAPS
    page = http_get(f"http://{SITE_HOSTS['st1']}/", host_header=f"www.{ZONE}")
    assert page.status == 200 and f"www.{ZONE}" in page.text
    assert _dns(f"files.{ZONE}", "A") == ["192.0.2.10"]
    assert '"bulk"' in _dns(ZONE, "TXT")
    box = imap(mail_world.ip, 993, use_ssl=True, ssl_context=ca_context(mail_world))
    box.login(f"dara@{ZONE}", password)
    box.logout()
    # the same files again: nothing to do
    again = bulk.bulk_plan(mail_world.aa, org_id=mail_world.a.id, files=_files()).plan
    assert again.counts == {"noop": 7}
    # the generated password is in no output but its delivery
    with db.unit_of_work() as s:
        dump = "\n".join(
            str(row)
            for table in ("bulk_plans", "bulk_rows", "requests", "audit_entries", "jobs", "job_events")
            for row in s.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 (fixed table names)
        )
    assert password not in dump and password not in json.dumps(report)


def test_a_failed_batch_resumes_alone(mail_world, web_host, settings):
    make_domain(mail_world, "a")
    host = web_host("st1")
    _basic_plan()
    plan = bulk.bulk_plan(mail_world.aa, org_id=mail_world.a.id, files=_files("2")).plan
    req = bulk.bulk_submit(mail_world.aa, plan.id)
    with db.unit_of_work() as s:
        s.get(Host, host.id).port = 2  # nothing listens: the site batch fails, the others do not
    requests.request_approve(mail_world.op, req.id)
    _run(settings)
    report = {r["key"]: r for r in bulk.bulk_report(mail_world.aa, plan.id)}
    assert report[f"www2.{ZONE}"]["status"] == "failed" and report[f"www2.{ZONE}"]["error_message"]
    assert report[f"dara2@{ZONE}"]["status"] == "done"
    mailbox_request = report[f"dara2@{ZONE}"]["request_id"]
    with db.unit_of_work() as s:
        s.get(Host, host.id).port = 22
        before = s.scalar(select(func.count(Job.id)).where(Job.request_id == mailbox_request))
    bulk.bulk_resume(mail_world.aa, plan_id=plan.id)
    _run(settings)
    report = bulk.bulk_report(mail_world.aa, plan.id)
    assert {r["status"] for r in report} == {"done"}, report
    with db.unit_of_work() as s:  # what succeeded was not run again
        assert s.scalar(select(func.count(Job.id)).where(Job.request_id == mailbox_request)) == before
    page = http_get(f"http://{SITE_HOSTS['st1']}/", host_header=f"intra2.{ZONE}")
    assert page.status == 200
