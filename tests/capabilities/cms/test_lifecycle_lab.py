"""Suspend, unsuspend and delete (archive) of a WordPress instance on real lab hosts (wpw1 web +
BIND, wpdb1 MariaDB, Pebble): suspended, the front page and wp-admin answer the bilingual suspended
page over HTTPS and WP-cron's timer is gone; unsuspended, WordPress answers again with its timer;
deleted, one archive (root's, 0600) on the web host holds wp-content and a dump of the database
(the site's posts in it), wp-content, config and timer are gone from the host, the site serves
plain files, and the database and its user are gone from the DB server; no database password in
any job output or event."""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.databases.models import Database, DbStatus
from panel.capabilities.sites.models import Site, SiteStatus
from panel.models.jobs import Job, JobEvent
from panel.models.requests import Request, RequestStatus
from panel.services import requests
from provisioners import lab as L
from tests.capabilities.cms.conftest import DBH, WEB, job_text, run_pending
from tests.capabilities.cms.test_wordpress_lab import FQDN, make_site, sh
from tests.support.clients import http_get

pytestmark = [pytest.mark.lab]


def _get(w, path: str):
    return http_get(f"https://{w.ip}{path}", host_header=FQDN, cafile=str(w.pebble.roots))


def _run_ok(w, kinds: list[str]) -> list[Job]:
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == kinds, [job_text(j) for j in jobs]
    for job in jobs:
        assert job.status == "successful", job_text(job)
    return jobs


def _status(iid: int) -> tuple[InstanceStatus, SiteStatus]:
    with db.unit_of_work() as s:
        inst = s.get(Instance, iid)
        return inst.status, s.get(Site, inst.site_id).status


def test_suspend_unsuspend_delete_on_the_hosts(wp_world):
    w = wp_world
    site = make_site(w, FQDN)
    user = site.system_user
    issued = cms_svc.instance_create(
        w.wa, org_id=w.a.id, site_id=site.id, title="Ministry A news", admin_user="webadmin", admin_email="w@a.gov.test"
    )
    requests.request_approve(w.op, issued.request.id)
    _run_ok(w, ["databases.apply", "cms.instance_install"])
    with db.unit_of_work() as s:
        inst = s.scalars(select(Instance)).one()
        iid, db_name, db_user = inst.id, inst.db_name, inst.db_user
    front = _get(w, "/")
    assert front.status == 200 and "<title>Ministry A news" in front.text, front.text[:300]
    cron = f"/etc/cron.d/govhost-wp-{user}"
    cron_text = sh(f"cat {cron}")
    assert f"{user} php " in cron_text
    db_password = re.search(r"define\('DB_PASSWORD', '([^']+)'\);", sh(f"cat /etc/wordpress/config-{user}.php")).group(
        1
    )

    # Suspend (approved at once): every path, wp-admin too, answers the suspended page; no timer.
    req = cms_svc.instance_request(w.wa, action="suspend", instance_id=iid)
    _run_ok(w, ["cms.instance_suspend"])
    assert _status(iid) == (InstanceStatus.SUSPENDED, SiteStatus.SUSPENDED)
    for path in ("/", "/wp-admin/", "/wp-login.php", "/wp-json/wp/v2/posts"):
        page = _get(w, path)
        assert page.status == 503 and "temporarily suspended" in page.text and "Ministry A news" not in page.text, path
    assert sh(f"test -e {cron} && echo present || echo gone").strip() == "gone"

    # Unsuspend (the data center approves): WordPress answers again, its timer back as it was.
    req = cms_svc.instance_request(w.wa, action="unsuspend", instance_id=iid)
    requests.request_approve(w.op, req.id)
    _run_ok(w, ["cms.instance_unsuspend"])
    assert _status(iid) == (InstanceStatus.ACTIVE, SiteStatus.ACTIVE)
    front = _get(w, "/")
    assert front.status == 200 and "<title>Ministry A news" in front.text
    assert sh(f"cat {cron}") == cron_text

    # A post to find in the archive's dump, written by WordPress itself as the site's user.
    script = (
        f"<?php $_SERVER['HTTP_HOST'] = '{FQDN}'; $_SERVER['WORDPRESS_CONFIG'] = '{user}';"
        " chdir('/usr/share/wordpress'); require 'wp-load.php';"
        " wp_insert_post(['post_title' => 'Archived notice 42', 'post_status' => 'publish']); echo 'ok';"
    )
    ran = L.host_exec(WEB, "runuser", "-u", user, "--", "php", input=script, check=False)
    assert ran.stdout.endswith("ok"), ran.stdout + ran.stderr

    # Delete (approved): one archive with wp-content and the dump; WordPress gone from the host;
    # then the database job drops the database and its user on the DB server.
    req = cms_svc.instance_request(w.wa, action="delete", instance_id=iid)
    requests.request_approve(w.op, req.id)
    jobs = _run_ok(w, ["cms.instance_delete", "databases.apply"])
    with db.unit_of_work() as s:
        inst = s.get(Instance, iid)
        assert inst.status == InstanceStatus.DELETED and s.get(Site, inst.site_id).app == ""
        assert s.get(Database, inst.database_id).status == DbStatus.DELETED
        archive = inst.archive_path
        assert s.get(Request, req.id).status == RequestStatus.DONE
    assert archive == f"/var/lib/govhost/archive/wordpress-{FQDN}-job{jobs[0].id}.tar.gz", archive
    assert sh(f"stat -c '%U %a' {archive}").split() == ["root", "600"]
    blob = L.host_exec(WEB, "base64", "-w0", archive).stdout
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(blob)), mode="r:gz") as tar:
        names = tar.getnames()
        dump = tar.extractfile("db.sql").read().decode()
    assert "wp-content/themes/twentytwentythree" in names and "wp-content/uploads" in names, names[:20]
    assert "CREATE TABLE `wp_posts`" in dump and "Archived notice 42" in dump and "Ministry A news" in dump
    for gone in (f"/srv/www/{FQDN}/public/wp-content", f"/etc/wordpress/config-{user}.php", cron):
        assert sh(f"test -e {gone} && echo present || echo gone").strip() == "gone", gone
    assert "Ministry A news" not in _get(w, "/").text  # a plain site again
    on_db = L.host_exec(DBH, "mysql", "-N", "-B", "-e", "SHOW DATABASES; SELECT user FROM mysql.user").stdout
    assert db_name not in on_db.split() and db_user not in on_db.split(), on_db
    # The dump used the site's own credentials on the host: the password is in no job output.
    with db.unit_of_work() as s:
        public = json.dumps(
            [
                [(j.kind, j.params, j.explanation, j.data) for j in s.scalars(select(Job))],
                [(e.task, e.stdout, e.event) for e in s.scalars(select(JobEvent))],
            ],
            default=str,
        )
    assert len(public) > 1000 and db_password not in public
    # The site is the ministry's to suspend or delete by the sites capability again.
    again = requests.request_create(w.wa, kind="sites.site_suspend", org_id=w.a.id, payload={"site_id": site.id})
    assert again.status == RequestStatus.PROVISIONING
