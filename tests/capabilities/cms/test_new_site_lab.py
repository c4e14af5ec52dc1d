"""WordPress on a new site in one request, on real lab hosts: request -> one approval -> the site
job (vhost, pool, Pebble certificate) -> the database job on the DB host -> the install job ->
https://<site>/ shows WordPress's front page; no password in any job's events."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.sites.models import Site, SiteStatus
from panel.models.jobs import JobEvent
from panel.models.requests import Request, RequestStatus
from panel.services import requests
from tests.capabilities.cms.conftest import job_text, run_pending
from tests.support.clients import http_get

pytestmark = [pytest.mark.lab]

FQDN = "new.a.gov.test"


def test_new_site_with_wordpress_in_one_request(wp_world):
    w = wp_world
    issued = cms_svc.instance_create(
        w.wa,
        org_id=w.a.id,
        new_site={"fqdn": FQDN, "plan": "basic"},
        title="Ministry A new",
        admin_user="webadmin",
        admin_email="web@a.gov.test",
    )
    requests.request_approve(w.op, issued.request.id)
    jobs = run_pending(w.settings)
    kinds = [j.kind for j in jobs]
    assert kinds == ["sites.site_create", "databases.apply", "cms.instance_install"], [job_text(j) for j in jobs]
    for job in jobs:
        assert job.status == "successful", job_text(job)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        site = s.get(Site, inst.site_id)
        assert site.status == SiteStatus.ACTIVE and site.app == "wordpress" and site.certificate is not None
        assert inst.status == InstanceStatus.ACTIVE and inst.wp_version
        req = s.get(Request, issued.request.id)
        assert req.status == RequestStatus.DONE and req.secrets is None
        events = "\n".join(e.stdout or "" for e in s.scalars(select(JobEvent)))
        assert issued.password not in events
    page = http_get(f"https://{w.ip}/", host_header=FQDN, cafile=str(w.pebble.roots))
    assert page.status == 200 and "<title>Ministry A new" in page.text, page.text[:500]
