"""App passwords on real lab hosts (wpw1 web + BIND, wpdb1 MariaDB, Pebble): an installed
WordPress over HTTPS; an app password asked for, approved and set by the real job; the app creates
a post through /wp-json/wp/v2/posts with it (Basic auth, verified against Pebble's root); a wrong
password and, after the revoke job, the same password get 401; the app's user holds only the role
asked for; the password is in no job output, event, request, audit entry or panel table."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select, text

from panel import db
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import AppPassword, AppPasswordStatus
from panel.services import requests
from tests.capabilities.cms.conftest import job_text, run_pending
from tests.capabilities.cms.test_wordpress_lab import FQDN, make_site, sh
from tests.support.clients import http_request

pytestmark = [pytest.mark.lab]


def _post(w, login: str, password: str, title: str):
    auth = base64.b64encode(f"{login}:{password}".encode()).decode()
    return http_request(
        "POST",
        f"https://{w.ip}/wp-json/wp/v2/posts",
        FQDN,
        str(w.pebble.roots),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
        body=json.dumps({"title": title, "status": "publish"}).encode(),
        timeout=30,
    )


def _run_ok(w, kinds: list[str]) -> None:
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == kinds, [job_text(j) for j in jobs]
    for job in jobs:
        assert job.status == "successful", job_text(job)


def test_app_password_creates_a_post_and_is_refused_once_revoked(wp_world):
    w = wp_world
    site = make_site(w, FQDN)
    issued = cms_svc.instance_create(
        w.wa, org_id=w.a.id, site_id=site.id, title="Ministry A news", admin_user="webadmin", admin_email="w@a.gov.test"
    )
    requests.request_approve(w.op, issued.request.id)
    _run_ok(w, ["databases.apply", "cms.instance_install"])
    with db.unit_of_work() as s:
        iid = s.scalars(select(text("id")).select_from(text("cms_instances"))).one()

    app = cms_svc.app_password_issue(w.wa, instance_id=iid, name="Ministry mobile app", role="author")
    password = app.password
    requests.request_approve(w.op, app.request.id)
    _run_ok(w, ["cms.app_password"])
    with db.unit_of_work() as s:
        row = s.scalars(select(AppPassword)).one()
        assert row.status == AppPasswordStatus.ACTIVE and len(row.uuid) == 36, row.last_error
        rid, login = row.id, row.wp_user

    made = _post(w, login, password, "Posted by the mobile app")
    assert made.status == 201, made.text[:500]
    post = json.loads(made.text)
    assert post["status"] == "publish" and post["title"]["raw" if "raw" in post["title"] else "rendered"]
    listed = json.loads(
        http_request("GET", f"https://{w.ip}/wp-json/wp/v2/posts", FQDN, str(w.pebble.roots), timeout=30).text
    )
    assert "Posted by the mobile app" in [p["title"]["rendered"] for p in listed]
    assert _post(w, login, "Z" * 24, "wrong password").status == 401
    # The app's own user holds only the role asked for (never the administrator's rights).
    roles = sh(
        f"cd /usr/share/wordpress && runuser -u {site.system_user} -- php -r "
        f'\'$_SERVER["HTTP_HOST"]="{FQDN}"; $_SERVER["WORDPRESS_CONFIG"]="{site.system_user}"; '
        f'require "wp-load.php"; echo implode(",", get_user_by("login", "{login}")->roles);\''
    )
    assert roles.strip().splitlines()[-1:] == ["author"], roles

    cms_svc.app_password_revoke(w.wa, rid)  # approved at once
    _run_ok(w, ["cms.app_password"])
    with db.unit_of_work() as s:
        assert s.get(AppPassword, rid).status == AppPasswordStatus.REVOKED
    refused = _post(w, login, password, "after the revoke")
    assert refused.status == 401, refused.text[:300]

    with db.unit_of_work() as s:
        public = "\n".join(
            str(r)
            for t in ("requests", "jobs", "job_events", "audit_entries", "notifications", "cms_app_passwords")
            for r in s.execute(text(f"SELECT * FROM {t}"))  # noqa: S608 (fixed names)
        )
    assert "Ministry mobile app" in public and password not in public
