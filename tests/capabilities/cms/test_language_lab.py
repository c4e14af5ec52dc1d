"""A WordPress site in Khmer on real lab hosts: a km language pack uploaded by one operator and
approved by another; a new site with WordPress asked for in km gets that pack unpacked into its own
wp-content/languages by the install job (nothing fetched from wordpress.org: the hosts cannot reach
it and WP_HTTP_BLOCK_EXTERNAL is on) and WordPress installed in Khmer: the front page says
lang="km" the first post's title is the pack's translation and pages are rendered with its strings."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import plugins
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.sites.models import Site
from panel.services import requests
from tests.capabilities.cms.conftest import job_text, run_pending
from tests.capabilities.cms.test_language_packs import HELLO_KM, language_zip, mo
from tests.capabilities.cms.test_updates_lab import second_operator
from tests.capabilities.cms.test_wordpress_lab import sh
from tests.support.clients import http_get

pytestmark = [pytest.mark.lab]

FQDN = "km.a.gov.test"
FEED_KM = "មតិយោបល់"


def test_a_khmer_site_gets_the_catalogues_pack(wp_world, make):
    w = wp_world
    strings = {"Hello world!": HELLO_KM, "%1$s %2$s Comments Feed": "%1$s %2$s " + FEED_KM}
    data = language_zip(files={"km.mo": mo(messages=strings), "admin-km.mo": mo(messages={"Dashboard": "ផ្ទាំង"})})
    item = cat.catalogue_upload(w.op, kind="language", data=data)
    cat.catalogue_approve(second_operator(make), item.id)
    issued = cms_svc.instance_create(
        w.wa,
        org_id=w.a.id,
        new_site={"fqdn": FQDN, "plan": "basic"},
        title="Ministry A Khmer",
        admin_user="webadmin",
        admin_email="web@a.gov.test",
        language="km",
    )
    requests.request_approve(w.op, issued.request.id)
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == ["sites.site_create", "databases.apply", "cms.instance_install"]
    for job in jobs:
        assert job.status == "successful", job_text(job)
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        user = s.get(Site, inst.site_id).system_user
        assert inst.status == InstanceStatus.ACTIVE and inst.language == "km"
        row = s.scalars(select(plugins.InstanceItem).where(plugins.InstanceItem.instance_id == inst.id)).one()
        assert (row.kind, row.slug, row.version, row.state) == ("language", "km", item.version, "installed")
    # the pack is in the site's own languages folder, owned by its user
    listing = sh(f"stat -c '%U %a %n' /srv/www/{FQDN}/public/wp-content/languages/*.mo")
    assert f"{user} 644 /srv/www/{FQDN}/public/wp-content/languages/km.mo" in listing, listing
    assert "admin-km.mo" in listing
    page = http_get(f"https://{w.ip}/", host_header=FQDN, cafile=str(w.pebble.roots))
    assert page.status == 200 and 'lang="km"' in page.text, page.text[:500]
    titles = re.findall(r"wp-block-post-title[^>]*>(?:<a[^>]*>)?([^<]*)", page.text)
    assert HELLO_KM in titles, titles
    # and every page is rendered in Khmer by PHP-FPM (the pack read from the site's own folder)
    assert f"Ministry A Khmer &raquo; {FEED_KM}" in page.text  # the first post, made by the install in Khmer
