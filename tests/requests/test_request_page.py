"""A request's page through its life: the approver's preview before the decision, the decision after
it (never "Before deciding" or "1 of 0 approvals"), its jobs linked with their progress in plain
language, in English and in Khmer; counts with the right plural."""

from __future__ import annotations

import re

from panel import db
from panel.models.jobs import EventStatus, Job, JobEvent, JobStatus
from panel.models.requests import RequestStatus
from tests.requests.test_surfaces import WidgetForm  # noqa: F401  (registers the test.widget form)
from tests.support.fixtures import post_form, reload, set_policy

S = RequestStatus
ARGSPEC = "Validating arguments against arg spec 'main' - Vhosts, pools and files of sites"
VHOSTS = "Vhosts and TLS files of every site (one nginx -t, one reload; rollback and nginx's message on failure)"


def _file(client, org_id: int) -> int:
    r = post_form(client, "/requests/new/test.widget", {"org_id": org_id, "count": "1"})
    assert r.status_code == 302, r.get_data(as_text=True)
    return int(re.search(r"/requests/(\d+)", r.headers["Location"]).group(1))


def _text(client, url: str) -> str:
    r = client.get(url)
    assert r.status_code == 200, url
    return r.get_data(as_text=True)


def _job_with_events(request_id: int, org_id: int) -> int:
    """A job of the request as the runner leaves it mid-run: Ansible's own task names in its events."""
    with db.unit_of_work() as s:
        job = Job(kind="sites.site_create", org_id=org_id, request_id=request_id, status=JobStatus.RUNNING)
        s.add(job)
        s.flush()
        for n, (event, task, status) in enumerate(
            [
                ("playbook_on_task_start", ARGSPEC, None),
                ("runner_on_ok", ARGSPEC, EventStatus.OK),
                ("playbook_on_task_start", VHOSTS, None),
            ],
            start=1,
        ):
            s.add(JobEvent(job_id=job.id, counter=n, event=event, host="web1", task=task, status=status))
        return job.id


def test_before_the_decision_then_the_decision(login_as, min_a, wm_a, op1):
    ministry = login_as(wm_a)
    rid = _file(ministry, min_a.id)
    page = _text(ministry, f"/requests/{rid}")
    assert "Before deciding" in page and "0 of 1 approval" in page and "0 of 1 approvals" not in page
    staff = login_as(op1)
    assert post_form(staff, f"/requests/{rid}/approve", {"comment": "go"}, page=f"/requests/{rid}").status_code == 302
    assert reload(rid).status == S.DONE
    page = _text(ministry, f"/requests/{rid}")
    assert "Before deciding" not in page and 'id="decision"' in page
    assert "approved by op1" in page and "go" in page


def test_automatic_approval_says_so_not_one_of_zero(login_as, min_a, wm_a):
    set_policy("test.widget", "auto")
    ministry = login_as(wm_a)
    rid = _file(ministry, min_a.id)
    page = _text(ministry, f"/requests/{rid}")
    assert "of 0" not in page and "Before deciding" not in page
    assert "Approved automatically" in page


def test_rejected_request_shows_the_refusal(login_as, min_a, wm_a, op1):
    ministry = login_as(wm_a)
    rid = _file(ministry, min_a.id)
    staff = login_as(op1)
    post_form(staff, f"/requests/{rid}/reject", {"comment": "not now"}, page=f"/requests/{rid}")
    page = _text(ministry, f"/requests/{rid}")
    assert "Before deciding" not in page and "rejected by op1" in page and "nothing was changed" in page


def test_request_page_links_its_jobs_with_plain_steps(login_as, min_a, wm_a, op1):
    ministry = login_as(wm_a)
    rid = _file(ministry, min_a.id)
    staff = login_as(op1)  # one login: a TOTP code is refused a second time
    post_form(staff, f"/requests/{rid}/approve", {"comment": ""}, page=f"/requests/{rid}")
    job_id = _job_with_events(rid, min_a.id)
    page = _text(ministry, f"/requests/{rid}")
    assert f'href="/jobs/{job_id}"' in page and f'data-job-progress="/jobs/{job_id}/progress.json"' in page
    assert "js/jobs.js" in page
    progress = ministry.get(f"/jobs/{job_id}/progress.json").get_json()
    assert [e["step"] for e in progress["events"]] == [
        "Checking the settings",
        "Checking the settings",
        "Configuring the web server",
    ]
    job_page = _text(ministry, f"/jobs/{job_id}")
    assert "Configuring the web server" in job_page and "Checking the settings" in job_page
    assert "Create sites: user, directories" in job_page and "sites.site_create" not in job_page  # what, not the kind
    assert "arg spec" not in job_page and "nginx -t" not in job_page  # the operators' words stay hidden
    assert "arg spec" in _text(staff, f"/jobs/{job_id}")  # staff see the task as a tooltip

    post_form(ministry, "/language", {"locale": "km", "next": f"/jobs/{job_id}"}, page="/")
    km = ministry.get(f"/jobs/{job_id}/progress.json").get_json()
    steps = {e["step"] for e in km["events"]}
    assert steps and not steps & {"Checking the settings", "Configuring the web server"}
    assert all(re.search("[\u1780-\u17ff]", step) for step in steps), steps
    km_page = _text(ministry, f"/jobs/{job_id}")
    assert "Configuring the web server" not in km_page and "Create sites" not in km_page


def test_a_waiting_job_says_why_in_the_page_language_as_a_notice(login_as, min_a, wm_a, op1):
    """The runner's wait texts (host busy, host in maintenance) are shown translated and as a notice;
    the API keeps the English words. The newcomer's Khmer journey met the busy-host one untranslated."""
    from panel.jobs import runner

    ministry = login_as(wm_a)
    rid = _file(ministry, min_a.id)
    waits = {
        runner.WAIT_TEXT.format(job=16, host="ncdemo"): "16",
        runner.MAINTENANCE_TEXT.format(host="web-2.dc"): "web-2.dc",
    }
    for text, word in waits.items():
        with db.unit_of_work() as s:
            job = Job(kind="sites.site_create", org_id=min_a.id, request_id=rid, status=JobStatus.PENDING)
            job.explanation = text
            s.add(job)
            s.flush()
            job_id = job.id
        assert text in _text(ministry, f"/jobs/{job_id}")
        assert 'class="flash warning"' in _text(ministry, f"/jobs/{job_id}")
        post_form(ministry, "/language", {"locale": "km", "next": f"/jobs/{job_id}"}, page="/")
        for page in (_text(ministry, f"/jobs/{job_id}"), _text(ministry, f"/requests/{rid}")):
            shown = re.findall(r'<p[^>]*class="flash warning"[^>]*>([^<]+)</p>', page)[-1]  # this job: the last
            assert word in shown and re.search("[\u1780-\u17ff]", shown), shown
            assert text not in page, page[page.index(text) - 300 : page.index(text) + 50]
        progress = ministry.get(f"/jobs/{job_id}/progress.json").get_json()["job"]
        assert progress["explanation_class"] == "flash warning" and word in progress["explanation"]
        assert re.search("[\u1780-\u17ff]", progress["explanation"]) and progress["explanation"] != text
        post_form(ministry, "/language", {"locale": "en", "next": "/"}, page="/")
    with db.unit_of_work() as s:  # a failure's own words stay as written, shown as an error
        s.get(Job, job_id).explanation = "nginx: [emerg] unknown directive"
    page = _text(ministry, f"/jobs/{job_id}")
    assert 'class="flash error"' in page and "nginx: [emerg] unknown directive" in page


def test_a_declared_outcome_is_shown_in_the_page_language_and_not_as_an_error(login_as, min_a, wm_a, op1):
    """A finished job's explanation that its kind declares (Capability.outcomes: DNS's records job
    writes what it sent) is shown translated and as plain text, the API keeps the English words, and
    the same words under another kind stay as written. The newcomer's Khmer journey met this one
    untranslated, shown as an error on a successful job."""
    ministry = login_as(wm_a)
    rid = _file(ministry, min_a.id)
    text = "1 added, 0 removed, serial 4"
    ids = {}
    for kind in ("dns.records_apply", "sites.site_create"):
        with db.unit_of_work() as s:
            job = Job(kind=kind, org_id=min_a.id, request_id=rid, status=JobStatus.SUCCESSFUL, explanation=text)
            s.add(job)
            s.flush()
            ids[kind] = job.id
    records = ids["dns.records_apply"]
    page = _text(ministry, f"/jobs/{records}")
    assert text in page and 'class="flash error"' not in page
    post_form(ministry, "/language", {"locale": "km", "next": f"/jobs/{records}"}, page="/")
    added_1 = "\u1794\u17b6\u1793\u1794\u1793\u17d2\u1790\u17c2\u1798 1"  # "added 1" in Khmer
    page = _text(ministry, f"/jobs/{records}")
    assert text not in page and added_1 in page
    assert page.count(text) == 0 and _text(ministry, "/jobs/").count(text) == 1  # the list: the other job's only
    progress = ministry.get(f"/jobs/{records}/progress.json").get_json()["job"]
    assert progress["explanation_class"] == "" and "serial" not in progress["explanation"], progress
    assert text in _text(ministry, f"/jobs/{ids['sites.site_create']}")  # not that kind's outcome: as written
    post_form(ministry, "/language", {"locale": "en", "next": "/"}, page="/")


def test_counts_use_the_right_plural(login_as, min_a, wm_a):
    ministry = login_as(wm_a)
    _file(ministry, min_a.id)
    page = _text(ministry, "/requests/?view=all")
    assert "1 item" in page and "1 items" not in page
    _file(ministry, min_a.id)
    assert "2 items" in _text(ministry, "/requests/?view=all")


def test_api_job_events_carry_the_plain_step(make, min_a, wm_a, client):
    from panel.services import tokens

    _row, plain = tokens.token_create(make.actor_of(wm_a), name="t", scope="read", days=1)
    job_id = _job_with_events(None, min_a.id)
    r = client.get(f"/api/v1/jobs/{job_id}/events", headers={"Authorization": f"Bearer {plain}"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["job"]["description"].startswith("Create sites")
    assert [e["step"] for e in body["events"]][-1] == "Configuring the web server"
