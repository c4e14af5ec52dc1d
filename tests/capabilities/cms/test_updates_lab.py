"""The catalogue and mass updates on real lab hosts, in one test (one set of sites and instances:
the lab tests run in the gate on 2 cores). Two WordPress instances of a ministry on sites made by
one bulk request. A plugin uploaded by one operator and approved by another is installed at 1.0.0
on both by the real job (zip copied, sha256 checked, unpacked as the site's user, activated) and its
output is on the front pages; a plugin that is not in the catalogue (pending, or no item at all) is
refused by the service and nothing reaches the host. A plan to 1.1.0 (one approval) runs one job on
their host that snapshots each site (files and a database dump), updates it and probes it (HTTP 200
and the health marker): both are updated and the versions recorded. Then a broken 2.0.0 (it renames
the site in the database, adds a table and dies in the footer, so the page is cut before the
marker) fails the probe and is rolled back: the files and the database come back from the snapshot
(its table gone too) and the site answers as before."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from panel import db
from panel.capabilities.cms import catalogue as cat
from panel.capabilities.cms import plugins, updates
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.sites.models import Site, SiteStatus
from panel.errors import Invalid
from panel.models.jobs import Job
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Organization, OrgKind, Role
from panel.services import requests
from provisioners import lab as L
from tests.capabilities.cms.conftest import DBH, job_text, run_pending
from tests.capabilities.cms.test_catalogue import plugin_zip
from tests.capabilities.cms.test_wordpress_lab import sh
from tests.support.clients import http_get

pytestmark = [pytest.mark.lab]

MARKER = "<!-- govhost-health: ok -->"
BROKEN = """<?php
/**
 * Plugin Name: Ministry Banner
 * Version: 2.0.0
 */
update_option('blogname', 'Broken by 2.0.0');
$GLOBALS['wpdb']->query("CREATE TABLE IF NOT EXISTS {$GLOBALS['wpdb']->prefix}broken_extra (id INT)");
add_action('wp_footer', function () { govhost_no_such_function(); });
"""


def second_operator(make):
    with db.unit_of_work() as s:
        dc = s.scalars(select(Organization).where(Organization.kind == OrgKind.DATACENTER)).first()
    return make.actor_of(make.make_user(Role.ADMIN, dc))


def make_sites(w, approver, fqdns: list[str]) -> list[Site]:
    """The ministry's sites, each with a Pebble certificate: one operator's bulk request, one job."""
    req = requests.request_create(
        w.op, kind="sites.site_create", org_id=w.a.id, payload={"plan": "basic", "sites": [{"fqdn": f} for f in fqdns]}
    )
    requests.request_approve(approver, req.id)
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == ["sites.site_create"], [job_text(j) for j in jobs]
    assert jobs[0].status == "successful", job_text(jobs[0])
    with db.unit_of_work() as s:
        sites = [s.scalars(select(Site).where(Site.fqdn == f)).one() for f in fqdns]
        for site in sites:
            assert site.status == SiteStatus.ACTIVE and site.certificate is not None, f"{site.fqdn}: no certificate"
        return sites


def make_instances(w, sites: list[Site], titles: list[str]) -> list[Instance]:
    """WordPress on the sites, through the real requests and jobs: approved together, so their
    databases are one job and their installs one playbook run (the batch)."""
    issued = [
        cms_svc.instance_create(
            w.wa, org_id=w.a.id, site_id=site.id, title=title, admin_user="webadmin", admin_email="web@a.gov.test"
        )
        for site, title in zip(sites, titles, strict=True)
    ]
    for one in issued:
        requests.request_approve(w.op, one.request.id)
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == ["databases.apply", "cms.instance_install"], [job_text(j) for j in jobs]
    for job in jobs:
        assert job.status == "successful", job_text(job)
    assert jobs[1].params["instance_ids"] and len(jobs[1].params["instance_ids"]) == len(sites)
    with db.unit_of_work() as s:
        made = [s.scalars(select(Instance).where(Instance.site_id == site.id)).one() for site in sites]
        for inst, one in zip(made, issued, strict=True):
            assert inst.status == InstanceStatus.ACTIVE, inst.last_error
            assert s.get(Request, one.request.id).status == RequestStatus.DONE
        return made


def front(w, fqdn: str):
    return http_get(f"https://{w.ip}/", host_header=fqdn, cafile=str(w.pebble.roots))


def _title(page) -> str:
    return re.search(r"<title>([^<]*)</title>", page.text).group(1)


def _plan(w, item_id, instance_ids):
    req = updates.update_plan(w.wa, org_id=w.a.id, item_id=item_id, instance_ids=instance_ids)
    requests.request_approve(w.op, req.id)
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == [updates.UPDATE], [job_text(j) for j in jobs]
    assert jobs[0].status == "successful", job_text(jobs[0])
    with db.unit_of_work() as s:
        rows = {
            r.fqdn: r for r in s.scalars(select(updates.UpdateTarget).where(updates.UpdateTarget.request_id == req.id))
        }
        return s.get(Request, req.id), rows


def _installed(inst_id):
    with db.unit_of_work() as s:
        row = s.scalars(select(plugins.InstanceItem).where(plugins.InstanceItem.instance_id == inst_id)).one()
        return row.version, row.item_id


def _not_in_catalogue_refused(w, inst, pending_id: int) -> None:
    """A pending item and an unknown id: refused by the service, no job, nothing on the host."""
    with db.unit_of_work() as s:
        jobs_before = s.scalar(select(func.count()).select_from(Job))
    for item_id in (pending_id, 424242):
        with pytest.raises(Invalid) as e:
            plugins.plugin_install(w.wa, org_id=w.a.id, instance_id=inst.id, item_id=item_id)
        assert e.value.key == "cms.not_in_catalogue"
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == jobs_before
    assert run_pending(w.settings) == []
    assert sh(f"ls -A /srv/www/{inst.fqdn}/public/wp-content/plugins").split() == []
    assert sh("ls -A /var/lib/govhost/wordpress/catalogue 2>/dev/null").split() == []


def _catalogue_install_checked(w, inst, item, req) -> None:
    """Installed by the real job, as the site's user, active, its zip on the host, on the front page."""
    with db.unit_of_work() as s:
        row = s.scalars(select(plugins.InstanceItem).where(plugins.InstanceItem.instance_id == inst.id)).one()
        assert (row.state, row.version, row.active, row.item_id) == (
            plugins.ItemState.INSTALLED,
            "1.0.0",
            True,
            item.id,
        )
        assert s.get(type(req), req.id).status.value == "done"
    plugins_dir = f"/srv/www/{inst.fqdn}/public/wp-content/plugins"
    site_user = sh(f"stat -c %U /srv/www/{inst.fqdn}/public/wp-content").strip()
    owners = set(sh(f"find {plugins_dir}/ministry-banner -printf '%u\\n'").split())
    assert owners == {site_user}, owners
    assert sh(f"sha256sum /var/lib/govhost/wordpress/catalogue/{item.sha256}.zip").split()[0] == item.sha256
    assert sh(f"ls -A {plugins_dir}").split() == ["ministry-banner"]  # no staging left, nothing else
    page = front(w, inst.fqdn)
    assert page.status == 200 and '<p id="ministry-banner">banner-v10</p>' in page.text, page.text[-1500:]
    assert "never-here" not in page.text


def test_catalogue_install_then_a_plan_updates_two_sites_and_a_broken_version_is_rolled_back(wp_world, make):
    w = wp_world
    approver = second_operator(make)
    sites = make_sites(w, approver, ["www.a.gov.test", "news.a.gov.test"])
    one, two = make_instances(w, sites[:2], ["Ministry A news", "Ministry A press"])
    items = {}
    for version, data in (
        ("1.0.0", plugin_zip(version="1.0.0", marker="banner-v10")),
        ("1.1.0", plugin_zip(version="1.1.0", marker="banner-v11")),
        ("2.0.0", plugin_zip(version="2.0.0", php=BROKEN)),
    ):
        up = cat.catalogue_upload(w.op, kind="plugin", data=data)
        items[version] = SimpleNamespace(id=up.id, sha256=up.sha256)  # plain values: later jobs end sessions
        cat.catalogue_approve(approver, up.id)
    pending = cat.catalogue_upload(
        w.op, kind="plugin", data=plugin_zip(slug="not-approved", version="1.0", marker="never-here")
    ).id

    # The catalogue: only an approved item reaches a site, by the real install job.
    _not_in_catalogue_refused(w, one, pending)
    asked = [
        plugins.plugin_install(w.wa, org_id=w.a.id, instance_id=inst.id, item_id=items["1.0.0"].id)
        for inst in (one, two)
    ]
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == [plugins.INSTALL] * 2, [job_text(j) for j in jobs]
    for job in jobs:
        assert job.status == "successful", job_text(job)
    for inst, req in zip((one, two), asked, strict=True):
        _catalogue_install_checked(w, inst, items["1.0.0"], req)

    # The plan: both sites from 1.0.0 to 1.1.0, one approval, one job on their host.
    req, rows = _plan(w, items["1.1.0"].id, None)
    assert req.status == RequestStatus.DONE
    assert {(f, r.from_version, r.to_version, r.status, r.version_after) for f, r in rows.items()} == {
        (one.fqdn, "1.0.0", "1.1.0", updates.TargetStatus.UPDATED, "1.1.0"),
        (two.fqdn, "1.0.0", "1.1.0", updates.TargetStatus.UPDATED, "1.1.0"),
    }
    for inst in (one, two):
        assert _installed(inst.id) == ("1.1.0", items["1.1.0"].id)
        page = front(w, inst.fqdn)
        assert page.status == 200 and "banner-v11" in page.text and MARKER in page.text, page.text[-800:]
    # Each site's snapshot on the host: its files and its database, root's only.
    user = sh(f"stat -c %U /srv/www/{one.fqdn}/public/wp-content").strip()
    snap = f"/var/lib/govhost/wordpress/snapshots/{user}"
    assert sh(f"stat -c '%U %a' {snap}").split() == ["root", "700"]
    assert "./plugins/ministry-banner/ministry-banner.php" in sh(f"tar -tf {snap}/files.tar")
    assert "CREATE TABLE `wp_options`" in sh(f"cat {snap}/db.sql") and "Ministry A news" in sh(f"cat {snap}/db.sql")

    # A broken version on one site: the probe fails, the snapshot comes back, the site answers as before.
    before = front(w, one.fqdn)
    req, rows = _plan(w, items["2.0.0"].id, [one.id])
    row = rows[one.fqdn]
    assert (row.status, row.from_version, row.to_version, row.answered) == (
        updates.TargetStatus.ROLLED_BACK,
        "1.1.0",
        "2.0.0",
        True,
    ), row.detail
    assert "marker missing" in row.detail or "HTTP 500" in row.detail, row.detail
    assert req.status == RequestStatus.DONE  # a rollback is the site's result, not a failed plan
    after = front(w, one.fqdn)
    assert after.status == before.status == 200 and MARKER in after.text and "banner-v11" in after.text
    assert _title(after) == _title(before) and "Broken by" not in after.text  # the database came back too
    tables = L.host_exec(DBH, "mysql", "-N", "-B", "-e", f"SHOW TABLES FROM `{one.db_name}`").stdout.split()
    assert "wp_options" in tables and "wp_broken_extra" not in tables, tables  # as the snapshot: no new table
    assert "Version: 1.1.0" in sh(
        f"cat /srv/www/{one.fqdn}/public/wp-content/plugins/ministry-banner/ministry-banner.php"
    )
    assert _installed(one.id) == ("1.1.0", items["1.1.0"].id)
    # the other site was not in this plan and never touched
    assert _installed(two.id) == ("1.1.0", items["1.1.0"].id) and "banner-v11" in front(w, two.fqdn).text
