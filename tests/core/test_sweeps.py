"""Every periodic sweep skips a host that cannot be used and reports it, and still serves the rest.

Reproduces issue 14's defect: with two web hosts, one marked down, the renewal sweep made 0 jobs
(job_submit refused the down host and the sweep's one transaction rolled back) instead of 1.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.mail.models import Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Certificate, CertSource, Plan, Site, SiteStatus, TlsMode
from panel.models.hosts import Host, HostState
from panel.models.jobs import Job
from panel.models.schedule import ScheduledRun
from panel.services import schedule
from panel.services.actor import system_actor

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"
OP = system_actor("cli", "test")


def add_site(s, org_id: int, plan: Plan, host: Host, fqdn: str) -> Site:
    site = Site(org_id=org_id, fqdn=fqdn, plan_id=plan.id, host_id=host.id, status=SiteStatus.ACTIVE)
    site.tls_mode = TlsMode.ACME
    now = db.utcnow()
    site.certificates.append(
        Certificate(source=CertSource.ACME, fingerprint=fqdn, not_before=now, not_after=now + dt.timedelta(days=3))
    )
    s.add(site)
    return site


def add_mailbox(s, org_id: int, host: Host, domain: str) -> None:
    dom = MailDomain(org_id=org_id, name=domain, host_id=host.id, status=MailDomainStatus.ACTIVE, dkim_selector="g")
    s.add(dom)
    s.flush()
    s.add(Mailbox(org_id=org_id, domain_id=dom.id, local_part="info", quota_mb=10, status=MailboxStatus.ACTIVE))


@pytest.fixture
def two_of_each(make):
    """web1/mail1 usable; web2 down, mail2 with a changed host key: each holds live objects."""
    org = make.make_org("Ministry A")
    plan = make.make_plan("basic", disk_mb=100)
    web1 = make.make_host("web1", roles=["web"])
    web2 = make.make_host("web2", roles=["web"], state=HostState.DOWN)
    mail1 = make.make_host("mail1", roles=["mail"])
    mail2 = make.make_host("mail2", roles=["mail"], key_mismatch_at=db.utcnow())
    with db.unit_of_work() as s:
        add_site(s, org.id, plan, web1, "one.a.gov.test")
        add_site(s, org.id, plan, web2, "two.a.gov.test")
        # web1's ACME site is busy with its renewal once that sweep ran: this one is measured
        s.add(Site(org_id=org.id, fqdn="plain.a.gov.test", plan_id=plan.id, host_id=web1.id, status=SiteStatus.ACTIVE))
        add_mailbox(s, org.id, mail1, "one.a.gov.test")
        add_mailbox(s, org.id, mail2, "two.a.gov.test")
        return {h.name: h.id for h in (web1, web2, mail1, mail2)}


def jobs_by_kind() -> dict[str, list[list[int]]]:
    with db.unit_of_work() as s:
        out: dict[str, list[list[int]]] = {}
        for job in s.scalars(select(Job).order_by(Job.id)):
            out.setdefault(job.kind, []).append(job.host_ids)
        return out


def test_each_sweep_serves_the_usable_host_and_reports_the_other(booted, two_of_each):
    hosts = two_of_each
    ran = schedule.schedule_tick(booted)
    host_sweeps = [name for name in ran if name.split(".")[0] in ("sites", "mail")]
    assert host_sweeps == ["sites.renew", "sites.usage", "mail.usage"]
    assert "colocation.passes" in ran  # a sweep without hosts runs beside them
    assert jobs_by_kind() == {
        "sites.site_cert": [[hosts["web1"]]],  # issue 14: 0 renewal jobs before
        "sites.site_usage": [[hosts["web1"]]],
        "mail.usage": [[hosts["mail1"]]],
    }
    with db.unit_of_work() as s:
        result = {r.name: r.last_result for r in s.scalars(select(ScheduledRun))}
    assert result["sites.renew"] == "1 job(s); skipped host(s) down or with a changed key: web2"
    assert result["sites.usage"] == "1 job(s); skipped host(s) down or with a changed key: web2"
    assert result["mail.usage"] == "1 job(s); skipped host(s) down or with a changed key: mail2"


def test_the_cli_names_the_skipped_host(booted, two_of_each, cli):
    out = cli("sites", "renew").output
    assert "1 renewal job(s)" in out and "skipped host web2: down or its host key changed" in out
    out = cli("mail", "usage").output
    assert "1 usage job(s)" in out and "skipped host mail2" in out


def test_a_follow_up_job_is_not_chained_onto_a_down_host(booted, two_of_each):
    from panel.capabilities.sites.jobs import chain_job

    with db.unit_of_work() as s:
        on_down = s.scalars(select(Site).where(Site.host_id == two_of_each["web2"])).all()
        on_up = s.scalars(select(Site).where(Site.host_id == two_of_each["web1"])).all()
        assert chain_job(s, "sites.site_cert", on_down) is None
        job = chain_job(s, "sites.site_cert", on_up)
        assert job.host_ids == [two_of_each["web1"]] and on_up[0].busy_job_id == job.id
