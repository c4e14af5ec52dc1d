"""In Chromium: a request's page follows its job live (the step changes as events arrive, in the
page's language) and, when the job ends, reloads to show where the request stands."""

from __future__ import annotations

import pytest

from panel import db
from panel.models.jobs import EventStatus, Job, JobEvent, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from tests.browser.conftest import log_in
from tests.support.factories import PASSWORD

pytestmark = pytest.mark.browser

VHOSTS = "Vhosts and TLS files of every site (one nginx -t, one reload; rollback and nginx's message on failure)"
CERT = "Certificates by ACME HTTP-01 through each site's own vhost (made on the host; keys stay there)"


def _event(job_id: int, counter: int, task: str, status=None) -> None:
    event = "runner_on_ok" if status else "playbook_on_task_start"
    with db.unit_of_work() as s:
        s.add(JobEvent(job_id=job_id, counter=counter, event=event, host="web1", task=task, status=status))


def _request_with_job(org, user) -> tuple[int, int]:
    """An approved site request whose job a worker is running (the runner's rows, written directly)."""
    with db.unit_of_work() as s:
        req = Request(
            org_id=org.id,
            kind="sites.site_create",
            status=RequestStatus.PROVISIONING,
            payload={"fqdn": "www.mpt.gov.test", "aliases": [], "plan": "basic", "php_version": "8.2"},
            requester_id=user.id,
            requester_name="webm",
            summary="www.mpt.gov.test",
            approvals_needed=1,
        )
        s.add(req)
        s.flush()
        job = Job(kind="sites.site_create", org_id=org.id, request_id=req.id, status=JobStatus.RUNNING)
        s.add(job)
        s.flush()
        return req.id, job.id


def test_request_page_follows_its_job_then_shows_the_outcome(page, make):
    org = make.make_org("Ministry of Posts", slug="mpt")
    user = make.make_user(Role.WEBMASTER, org, username="webm")
    rid, job_id = _request_with_job(org, user)
    _event(job_id, 1, VHOSTS)

    log_in(page, "webm", PASSWORD)
    page.goto(f"/requests/{rid}")
    box = page.locator(f'[data-job-progress="/jobs/{job_id}/progress.json"]')
    step = box.locator('[data-field="step"]')
    step.filter(has_text="Configuring the web server").wait_for()
    assert page.locator(f'a[href="/jobs/{job_id}"]').count() == 1

    _event(job_id, 2, CERT)  # the worker moves on: the page shows it without a reload
    step.filter(has_text="Getting the HTTPS certificate").wait_for()
    assert "Vhosts and TLS" not in page.content()

    with db.unit_of_work() as s:  # the job ends and the request is done: the page reloads itself
        s.get(Job, job_id).status = JobStatus.SUCCESSFUL
        s.get(Request, rid).status = RequestStatus.DONE
    _event(job_id, 3, CERT, EventStatus.CHANGED)
    page.locator("h1 .badge.done").wait_for()
    assert box.locator('[data-field="step"]').count() == 0  # a finished job is not followed


def test_progress_in_khmer(page, make):
    org = make.make_org("Ministry of Posts", slug="mpt")
    user = make.make_user(Role.WEBMASTER, org, username="webm")
    rid, job_id = _request_with_job(org, user)
    log_in(page, "webm", PASSWORD)
    page.goto(f"/requests/{rid}")
    with page.expect_navigation():
        page.select_option("#lang", "km")  # the language menu, as a user switches it
    _event(job_id, 1, VHOSTS)
    step = page.locator(f'[data-job-progress="/jobs/{job_id}/progress.json"] [data-field="step"]')
    step.filter(has_text="កំពុងកំណត់រចនាសម្ព័ន្ធម៉ាស៊ីនមេគេហទំព័រ").wait_for()
    assert "Configuring the web server" not in page.content()
