"""The core path end to end, once per surface: an operator asks for host.ping or host.bootstrap on a
real lab host, the policy `one` makes a SECOND operator approve through the same surface (the
requester's own approval is refused), a real Huey consumer runs the job through real ansible-runner,
and the request ends `done` with its events, notifications and audit trail (surface recorded)."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from panel import db
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import OrgKind, Role
from panel.services import notifications as notifications_svc
from panel.services import request_kinds
from tests.jobs.conftest import wait_job
from tests.support.factories import actor_of
from tests.support.fixtures import audit_rows, post_form, reload, set_policy, web_login

pytestmark = pytest.mark.lab

PING_TASKS = ["Reach the host over SSH", "Read the minimal facts", "Publish the facts for the panel"]
BOOTSTRAP_TASKS = ["Packages present", "Service account present", "Managed-host marker"]
SELF_APPROVAL = "Nobody decides on their own request."


@pytest.fixture
def operators(make):
    """Two operators of the data center, with TOTP (the web login asks for it)."""
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    people = []
    for name in ("op1", "op2"):
        secret = pyotp.random_base32()
        user = make.make_user(Role.OPERATOR, dc, username=name, totp_secret=secret)
        user.plain_secret = secret
        people.append(user)
    return people


# ---- one driver per surface: create, approve, and what the user sees afterwards ----------------


class Web:
    surface = "web"

    def __init__(self, app):
        self.app, self.clients = app, {}

    def _as(self, user):
        if user.username not in self.clients:
            self.clients[user.username] = self.app.test_client()
            web_login(self.clients[user.username], user)
        return self.clients[user.username]

    def create(self, user, kind: str, host_id: int) -> int:
        r = post_form(self._as(user), f"/requests/new/{kind}", {"org_id": "0", "host_id": str(host_id)})
        assert r.status_code == 302, r.get_data(as_text=True)[:800]
        return int(re.search(r"/requests/(\d+)", r.headers["Location"]).group(1))

    def approve(self, user, rid: int) -> tuple[bool, str]:
        r = post_form(self._as(user), f"/requests/{rid}/approve", {"comment": "looks right"}, page=f"/requests/{rid}")
        return r.status_code == 302, f"{r.status_code} {r.get_data(as_text=True)}"

    def job_page(self, user, job_id: int) -> str:
        r = self._as(user).get(f"/jobs/{job_id}")
        assert r.status_code == 200
        return r.get_data(as_text=True)

    def notifications(self, user) -> str:
        return self._as(user).get("/notifications/").get_data(as_text=True)


class Api:
    surface = "api"

    def __init__(self, client, api_token):
        self.client, self.api_token, self.headers = client, api_token, {}

    def _as(self, user) -> dict:
        if user.username not in self.headers:
            self.headers[user.username] = self.api_token(user)
        return self.headers[user.username]

    def create(self, user, kind: str, host_id: int) -> int:
        r = self.client.post(
            "/api/v1/requests/", json={"kind": kind, "payload": {"host_id": host_id}}, headers=self._as(user)
        )
        assert r.status_code == 201, r.get_json()
        return r.get_json()["id"]

    def approve(self, user, rid: int) -> tuple[bool, str]:
        r = self.client.post(f"/api/v1/requests/{rid}/approve", json={"comment": "looks right"}, headers=self._as(user))
        body = r.get_json()
        return r.status_code == 200, f"{r.status_code} {body.get('key', '')} {body}"

    def job_page(self, user, job_id: int) -> str:
        r = self.client.get(f"/api/v1/jobs/{job_id}/events", headers=self._as(user))
        assert r.status_code == 200
        body = r.get_json()
        return f"{body['job']['status']} " + "\n".join(e["task"] for e in body["events"] if e["status"])

    def notifications(self, user) -> str:
        r = self.client.get("/api/v1/notifications/", headers=self._as(user))
        return "\n".join(f"{n['kind']} {n['subject']}" for n in r.get_json()["items"])


class Cli:
    surface = "cli"

    def __init__(self, cli):
        self.cli = cli

    def create(self, user, kind: str, host_id: int) -> int:
        r = self.cli("requests", "create", kind, "--set", f"host_id={host_id}", "--as", user.username)
        assert r.exit_code == 0, r.output
        return int(re.search(r"request #(\d+)", r.output).group(1))

    def approve(self, user, rid: int) -> tuple[bool, str]:
        r = self.cli("requests", "approve", str(rid), "--comment", "looks right", "--as", user.username)
        return r.exit_code == 0, f"exit {r.exit_code}: {r.output}"

    def job_page(self, user, job_id: int) -> str:
        r = self.cli("jobs", "show", str(job_id))
        assert r.exit_code == 0, r.output
        return r.output

    def notifications(self, user) -> str:
        """The CLI has no notifications command: the service the other surfaces call, rendered for the
        user (rows hold a message key and its params, not the text a reader sees)."""
        page = notifications_svc.notification_list(actor_of(user), per_page=200, locale="en")
        return "\n".join(f"{n.kind} {n.subject}" for n in page.items)


@pytest.fixture
def surface(request, app, client, api_token, cli):
    name = request.param
    return {"web": lambda: Web(app), "api": lambda: Api(client, api_token), "cli": lambda: Cli(cli)}[name]()


def job_of(rid: int) -> list[Job]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(Job).where(Job.request_id == rid)))


def stored_tasks(job_id: int) -> list[str]:
    with db.unit_of_work() as s:
        rows = s.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.counter))
        return [e.task for e in rows if e.status]


CASES = [
    pytest.param("web", "host.ping", "jb1", PING_TASKS, id="web-ping"),
    pytest.param("api", "host.bootstrap", "jb2", BOOTSTRAP_TASKS, id="api-bootstrap"),
    pytest.param("cli", "host.ping", "jb1", PING_TASKS, id="cli-ping"),
]


@pytest.mark.parametrize(("surface", "kind", "host_name", "tasks"), CASES, indirect=["surface"])
def test_request_approve_job_host(surface, kind, host_name, tasks, lab_host, consumer, operators):
    op1, op2 = operators
    set_policy(kind, "one")
    host = lab_host(host_name)

    rid = surface.create(op1, kind, host.id)
    req = reload(rid)
    assert (req.status, req.approvals_needed, req.target_host_id) == (RequestStatus.SUBMITTED, 1, host.id)
    assert job_of(rid) == []  # policy `one`: nothing runs before a second person approves

    ok, detail = surface.approve(op1, rid)
    assert not ok and ("request.self_approval" in detail or SELF_APPROVAL in detail), detail
    assert reload(rid).status == RequestStatus.SUBMITTED and job_of(rid) == []

    ok, detail = surface.approve(op2, rid)
    assert ok, detail
    [job] = job_of(rid)
    job = wait_job(job.id, timeout=300 if kind == "host.bootstrap" else 90)
    assert job.status == JobStatus.SUCCESSFUL, f"{job.explanation}\n{job.traceback}"
    assert job.stats[host_name]["failed"] == 0 and not job.stats[host_name].get("unreachable")
    with db.unit_of_work() as s:
        req = s.get(Request, rid, populate_existing=True)
        assert req.status == RequestStatus.DONE and req.approvers == {op2.id}

    if kind == "host.ping":
        assert stored_tasks(job.id) == PING_TASKS
    else:
        assert set(tasks) <= set(stored_tasks(job.id))
    shown = surface.job_page(op1, job.id)
    assert "successful" in shown and all(t in shown for t in tasks), shown

    told = surface.notifications(op1)
    label = request_kinds.get(kind).label  # notices name the kind by its label, in the reader's language
    assert f"Request #{rid} ({label}) was approved" in told and f"Request #{rid} ({label}) is done" in told, told
    assert f"Request #{rid}" in surface.notifications(op2)  # approvers hear of the submitted request

    trail = [(e.action, e.actor_name, e.surface, e.object_id) for e in audit_rows("request.")]
    assert trail == [
        ("request.create", "op1", surface.surface, str(rid)),
        ("request.approve", "op2", surface.surface, str(rid)),
    ], trail
