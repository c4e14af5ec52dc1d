"""Job service and surfaces without hosts being reached: validation, scoping, cancel/retry, audit."""

from __future__ import annotations

import html as html_lib
import json
import re

import pyotp
import pytest
from sqlalchemy import select

from panel import db
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.jobs import Job, JobEvent, JobStatus
from panel.models.tenants import OrgKind, Role
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.hosts.conftest import post_form

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGtRMeUoXxYVtBDyP9QCy2JusoD6RgyGoAsIKrjeuMWM"
ADMIN = system_actor("cli", "test")


@pytest.fixture
def world(make):
    with db.unit_of_work() as s:
        host = Host(name="h1", address="10.77.0.250", host_key_type="ssh-ed25519", host_key=KEY, fingerprint="SHA256:x")
        s.add(host)
        s.flush()
    a, b = make.make_org("Ministry A", slug="ma"), make.make_org("Ministry B", slug="mb")
    wm_a = make.make_user(Role.ORG_ADMIN, a, username="wma")
    wm_b = make.make_user(Role.ORG_ADMIN, b, username="wmb")
    op = make.make_user(
        Role.OPERATOR,
        make.make_org("DC", kind=OrgKind.DATACENTER, slug="dc"),
        username="op",
        totp_secret=pyotp.random_base32(),
    )
    job_a = jobs_svc.job_submit(
        ADMIN,
        kind="host.ping",
        org_id=a.id,
        host_ids=[host.id],
        params={"x": 1},
        secrets={"password": "very-secret-value"},
    )
    with db.unit_of_work() as s:
        for i, (ev, st) in enumerate(
            [("playbook_on_task_start", None), ("runner_on_ok", "ok"), ("verbose", None)], start=1
        ):
            s.add(
                JobEvent(
                    job_id=job_a.id,
                    counter=i,
                    event=ev,
                    host="h1",
                    task="Reach the host",
                    status=st,
                    stdout=f"raw output {i}",
                )
            )
    return {"host": host, "a": a, "b": b, "wm_a": wm_a, "wm_b": wm_b, "op": op, "job_a": job_a}


def test_submit_validates(world):
    host = world["host"]
    with pytest.raises(Invalid) as e:
        jobs_svc.job_submit(ADMIN, kind="nope; id", org_id=None, host_ids=[host.id], params={})
    assert e.value.key == "job.kind_unknown"
    for bad in (["1"], [host.id, host.id], "1", [True]):
        with pytest.raises(Invalid) as e:
            jobs_svc.job_submit(ADMIN, kind="host.ping", org_id=None, host_ids=bad, params={})
        assert e.value.key == "job.hosts_invalid"
    with pytest.raises(NotFound):
        jobs_svc.job_submit(ADMIN, kind="host.ping", org_id=None, host_ids=[99999], params={})
    with pytest.raises(Invalid) as e:
        jobs_svc.job_submit(ADMIN, kind="host.ping", org_id=None, host_ids=[host.id], params={"x": object()})
    assert e.value.key == "job.params_invalid"


def test_tenants_start_jobs_only_through_requests(world, make):
    tenant = make.actor_of(world["wm_a"])
    with pytest.raises(Forbidden):
        jobs_svc.job_submit(tenant, kind="host.ping", org_id=world["a"].id, host_ids=[world["host"].id], params={})


def test_tenant_sees_own_jobs_only_and_no_raw_output(world, make):
    a, b = make.actor_of(world["wm_a"]), make.actor_of(world["wm_b"])
    job_id = world["job_a"].id
    assert [j.id for j in jobs_svc.job_list(b).items] == []
    with pytest.raises(NotFound):
        jobs_svc.job_get(b, job_id)
    with pytest.raises(NotFound):
        jobs_svc.job_events(b, job_id)
    with pytest.raises(NotFound):
        jobs_svc.job_cancel(b, job_id)
    p = jobs_svc.job_events(a, job_id)
    assert [e["event"] for e in p.events] == ["playbook_on_task_start", "runner_on_ok"]
    assert all("stdout" not in e for e in p.events) and "traceback" not in p.job and "params" not in p.job
    staff = jobs_svc.job_events(make.actor_of(world["op"]), job_id, after_counter=1)
    assert [e["stdout"] for e in staff.events] == ["raw output 2", "raw output 3"] and staff.last_counter == 3


def test_cancel_pending_then_retry_once(world, make):
    a = make.actor_of(world["wm_a"])
    job = jobs_svc.job_cancel(a, world["job_a"].id)
    assert job.status == JobStatus.CANCELED and job.finished_at
    with pytest.raises(Conflict) as e:
        jobs_svc.job_cancel(a, job.id)
    assert e.value.key == "job.not_active"
    again = jobs_svc.job_retry(a, job.id)
    assert (again.retry_of_id, again.attempt, again.status) == (job.id, 2, JobStatus.PENDING)
    assert again.secrets == job.secrets and again.host_ids == job.host_ids
    with pytest.raises(Conflict) as e:
        jobs_svc.job_retry(a, job.id)
    assert e.value.key == "job.already_retried"
    with db.unit_of_work() as s:
        audit = " ".join(x.summary + x.action for x in s.scalars(select(AuditEntry)))
    assert "job.submit" in audit and "job.cancel" in audit and "job.retry" in audit
    assert "very-secret-value" not in audit


def test_web_and_api_hide_other_ministries_jobs(world, make, client, api_token):
    job_id = world["job_a"].id
    headers_b = api_token(world["wm_b"])
    assert client.get(f"/api/v1/jobs/{job_id}", headers=headers_b).status_code == 404
    assert client.get(f"/api/v1/jobs/{job_id}/events?after=0", headers=headers_b).status_code == 404
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", headers=headers_b).status_code == 404
    assert client.get("/api/v1/jobs?total=true", headers=headers_b).get_json()["total"] == 0
    r = client.get(f"/api/v1/jobs/{job_id}/events?after=1", headers=api_token(world["wm_a"]))
    assert r.status_code == 200 and [e["counter"] for e in r.get_json()["events"]] == [2]
    assert client.get(f"/api/v1/jobs/{job_id}/events?after=-1", headers=headers_b).status_code == 422
    r = post_form(client, "/login", {"username": "wmb", "password": "correct horse battery staple 1"})
    assert r.status_code == 302
    assert client.get(f"/jobs/{job_id}").status_code == 404
    assert client.get(f"/jobs/{job_id}/progress.json").status_code == 404
    assert "No jobs found" in client.get("/jobs/?status=%3B%20id").get_data(as_text=True)


def test_web_detail_and_progress_for_the_owner(world, client):
    job_id = world["job_a"].id
    r = post_form(client, "/login", {"username": "wma", "password": "correct horse battery staple 1"})
    assert r.status_code == 302
    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    # a ministry reads the plain step, not the playbook's task name
    assert "Connecting to the server" in html and "Reach the host" not in html
    assert "raw output" not in html and "js/jobs.js" in html
    # the live script gets the status words of the page's language as JSON in an attribute
    labels = json.loads(html_lib.unescape(re.search(r'data-status-labels="([^"]*)"', html).group(1)))
    assert labels["running"] == "running" and labels["unreachable"] == "unreachable"
    km = client.get(f"/jobs/{job_id}", headers={"Accept-Language": "km"}).get_data(as_text=True)
    km_labels = json.loads(html_lib.unescape(re.search(r'data-status-labels="([^"]*)"', km).group(1)))
    assert km_labels["running"] != "running"  # translated (the user has no own language set)
    data = client.get(f"/jobs/{job_id}/progress.json?after=1").get_json()
    assert data["job"]["status"] == "pending" and [e["counter"] for e in data["events"]] == [2]
    r = post_form(client, f"/jobs/{job_id}/cancel", {}, page=f"/jobs/{job_id}")
    assert r.status_code == 302
    with db.unit_of_work() as s:
        assert s.get(Job, job_id, populate_existing=True).status == JobStatus.CANCELED


def test_cli_show_list_and_unknown_job(world, cli):
    job_id = world["job_a"].id
    r = cli("jobs", "show", str(job_id))
    assert r.exit_code == 0 and "host.ping" in r.output and "pending" in r.output
    assert str(job_id) in cli("jobs", "list").output
    r = cli("jobs", "show", "424242")
    assert r.exit_code == 2 and "job.not_found" in r.output
    r = cli("jobs", "retry", str(job_id))
    assert r.exit_code == 2 and "job.not_retryable" in r.output
