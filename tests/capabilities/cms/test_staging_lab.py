"""Staging on real lab hosts (wpw1 web + BIND, wpdb1 MariaDB, Pebble): a live WordPress with a post;
its staging copy asked for, approved and made by the real jobs (a new site with its own Pebble
certificate, its own database, the live files and database copied in) shows the same post under its
own name, only after a login with its own administrator's one-time password (the live
administrator's password does not log in there), and tells search engines no; a change made on
staging is pushed to live by an approved request (the live snapshot on the host first), the live
users kept (the live administrator still logs in, the staging one does not, and a post of the
staging administrator becomes the live administrator's); a push that breaks the live site is
rolled back and the live site answers as before."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.cms import service as cms_svc
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.sites.models import Site
from panel.models.requests import Request, RequestStatus
from panel.services import requests
from provisioners import lab as L
from tests.capabilities.cms.conftest import WEB, job_text, run_pending
from tests.capabilities.cms.test_wordpress_lab import FQDN, make_site, sh
from tests.support.clients import http_get, http_request

pytestmark = [pytest.mark.lab]

STAGING = "staging.a.gov.test"
BROKEN = """<?php
/**
 * Plugin Name: Broken footer
 * Version: 1.0.0
 */
add_action('wp_footer', function () { govhost_no_such_function(); });
"""


def _run_ok(w, kinds: list[str]) -> None:
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == kinds, [job_text(j) for j in jobs]
    for job in jobs:
        assert job.status == "successful", job_text(job)


def wp_php(user: str, fqdn: str, code: str) -> str:
    """PHP in the site's own WordPress, as its user (what an editor would do from the dashboard)."""
    boot = (
        f"$_SERVER['WORDPRESS_CONFIG'] = '{user}'; $_SERVER['HTTP_HOST'] = '{fqdn}'; $_SERVER['HTTPS'] = 'on';"
        " $_SERVER['REQUEST_URI'] = '/'; $_SERVER['REQUEST_METHOD'] = 'GET';"
        " require '/usr/share/wordpress/wp-load.php';"
    )
    ran = L.host_exec(WEB, "runuser", "-u", user, "--", "php", "-r", boot + code, check=False)
    assert ran.returncode == 0, f"{ran.stdout} {ran.stderr[-800:]}"
    return ran.stdout


def post(user: str, fqdn: str, title: str) -> None:
    wp_php(user, fqdn, f"echo wp_insert_post(['post_title' => '{title}', 'post_status' => 'publish']);")


def get(w, fqdn: str, path: str = "/", cookie: str = ""):
    headers = {"Cookie": cookie} if cookie else {}
    return http_request("GET", f"https://{w.ip}{path}", fqdn, str(w.pebble.roots), headers=headers, timeout=30)


TEST_COOKIE = "wordpress_test_cookie=WP%20Cookie%20check"


def login_answer(w, fqdn: str, password: str, user: str = "webadmin"):
    body = f"log={user}&pwd={password}&testcookie=1&redirect_to=%2F".encode()
    return http_request(
        "POST",
        f"https://{w.ip}/wp-login.php",
        fqdn,
        str(w.pebble.roots),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": TEST_COOKIE},
        body=body,
        timeout=30,
    )


def refused(w, fqdn: str, password: str, user: str = "webadmin") -> bool:
    answer = login_answer(w, fqdn, password, user)
    return answer.status == 200 and "wordpress_logged_in_" not in answer.headers.get("Set-Cookie", "")


def login(w, fqdn: str, password: str, user: str = "webadmin") -> str:
    """WordPress's own login form: the logged-in cookie it sets."""
    body = f"log={user}&pwd={password}&testcookie=1&redirect_to=%2F".encode()
    answer = http_request(
        "POST",
        f"https://{w.ip}/wp-login.php",
        fqdn,
        str(w.pebble.roots),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": TEST_COOKIE},
        body=body,
        timeout=30,
    )
    cookie = answer.headers.get("Set-Cookie", "")
    assert answer.status == 302 and "wordpress_logged_in_" in cookie, (answer.status, answer.text[-800:])
    return cookie.split(";", 1)[0]


def user_of(site_id: int) -> str:
    with db.unit_of_work() as s:
        return s.get(Site, site_id).system_user


def test_staging_copy_shows_the_posts_behind_a_login_and_push_carries_a_change_or_rolls_back(wp_world):
    w = wp_world
    site = make_site(w, FQDN)
    issued = cms_svc.instance_create(
        w.wa, org_id=w.a.id, site_id=site.id, title="Ministry A news", admin_user="webadmin", admin_email="w@a.gov.test"
    )
    requests.request_approve(w.op, issued.request.id)
    _run_ok(w, ["databases.apply", "cms.instance_install"])
    live_user = user_of(site.id)
    post(live_user, FQDN, "Budget 2027 published")
    with db.unit_of_work() as s:
        live_id = s.scalars(select(Instance.id).where(Instance.site_id == site.id)).one()

    # the staging copy: a new site, its own database, the live files and database copied in
    staged = cms_svc.staging_create(w.wa, instance_id=live_id, fqdn=STAGING)
    req = staged.request
    requests.request_approve(w.op, req.id)
    _run_ok(w, ["sites.site_create", "databases.apply", "cms.instance_install"])
    with db.unit_of_work() as s:
        staging = s.scalars(select(Instance).where(Instance.request_id == req.id)).one()
        assert staging.status == InstanceStatus.ACTIVE and staging.staging_of_id == live_id, staging.last_error
        assert s.get(Request, req.id).status == RequestStatus.DONE
        staging_id, staging_site = staging.id, staging.site_id
    staging_user = user_of(staging_site)
    anonymous = get(w, STAGING)
    assert anonymous.status == 302 and "wp-login.php" in anonymous.headers.get("Location", ""), anonymous.status
    assert "noindex" in anonymous.headers.get("X-Robots-Tag", "")
    assert get(w, STAGING, "/wp-json/wp/v2/posts").status == 401
    # its own login: the live administrator's password does not open the copy, its own does
    assert refused(w, STAGING, issued.password)
    cookie = login(w, STAGING, staged.password, "webadmin-staging")
    page = get(w, STAGING, cookie=cookie)
    assert page.status == 200 and "Budget 2027 published" in page.text, page.text[-1500:]
    assert f"https://{STAGING}/" in page.text and FQDN not in page.text  # its URLs are its own
    assert "noindex" in page.text  # WordPress's robots tag: blog_public is 0 on the copy
    live = get(w, FQDN)
    assert live.status == 200 and "Budget 2027 published" in live.text and "noindex" not in live.text

    # a change made on staging goes live by an approved request, the live snapshot first
    post(staging_user, STAGING, "Made on staging")
    wp_php(
        staging_user,
        STAGING,
        "echo wp_insert_post(['post_title' => 'By the staging admin', 'post_status' => 'publish',"
        " 'post_author' => get_user_by('login', 'webadmin-staging')->ID]);",
    )
    push = cms_svc.staging_push(w.wa, instance_id=staging_id)
    assert push.status == RequestStatus.SUBMITTED and "Made on staging" not in get(w, FQDN).text
    requests.request_approve(w.op, push.id)
    _run_ok(w, ["cms.staging_push"])
    live = get(w, FQDN)
    assert live.status == 200 and "Made on staging" in live.text and "Budget 2027 published" in live.text
    assert STAGING not in live.text and "noindex" not in live.text and "X-Robots-Tag" not in live.headers
    # the live site kept its own users: its administrator logs in, the copy's does not exist there
    assert login(w, FQDN, issued.password)
    assert refused(w, FQDN, staged.password, "webadmin-staging")
    author = wp_php(
        live_user,
        FQDN,
        "echo get_userdata(get_page_by_title('By the staging admin', OBJECT, 'post')->post_author)->user_login;",
    )
    assert author.strip().endswith("webadmin"), author
    snap = f"/var/lib/govhost/wordpress/snapshots/{live_user}-push"
    assert sh(f"stat -c '%U %a' {snap}").split() == ["root", "700"]
    assert "Made on staging" not in sh(f"cat {snap}/db.sql") and "Budget 2027" in sh(f"cat {snap}/db.sql")
    with db.unit_of_work() as s:
        assert s.get(Request, push.id).status == RequestStatus.DONE

    # a push that breaks the live site is rolled back: the live site answers as before
    plugin = f"/srv/www/{STAGING}/public/wp-content/plugins/broken-footer"
    L.host_exec(WEB, "install", "-d", "-o", staging_user, "-g", staging_user, plugin)
    L.host_exec(WEB, "runuser", "-u", staging_user, "--", "tee", f"{plugin}/broken-footer.php", input=BROKEN)
    wp_php(staging_user, STAGING, "update_option('active_plugins', ['broken-footer/broken-footer.php']);")
    post(staging_user, STAGING, "Never live")
    broken = cms_svc.staging_push(w.wa, instance_id=staging_id)
    requests.request_approve(w.op, broken.id)
    jobs = run_pending(w.settings)
    assert [j.kind for j in jobs] == ["cms.staging_push"] and jobs[0].status == "failed", [job_text(j) for j in jobs]
    live = get(w, FQDN)
    assert live.status == 200 and "Made on staging" in live.text and "Never live" not in live.text
    assert sh(f"ls /srv/www/{FQDN}/public/wp-content/plugins").split() == []
    with db.unit_of_work() as s:
        assert s.get(Request, broken.id).status == RequestStatus.FAILED
        said = s.get(Instance, live_id).last_error
        assert re.search(r"rolled back to the snapshot", said) and "does not answer" not in said, said
    assert http_get(f"https://{w.ip}/", FQDN, str(w.pebble.roots)).status == 200
