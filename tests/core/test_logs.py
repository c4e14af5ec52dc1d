"""Structured logs with request ids (issue 21): one id links the web's request line, the audit
entries written in that request, the job it submitted (jobs.trace_id), the worker's log lines for
that job and the audit entries the job writes; `log.format: json` makes every line one JSON object."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import pytest
from sqlalchemy import select

from panel import db, logs
from panel.config import ConfigError, Settings, validate
from panel.jobs import resilience, runner, supervise
from panel.models.audit import AuditEntry
from panel.models.jobs import Job, JobStatus
from panel.models.tenants import Role
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from panel.services.tokens import token_create
from tests.conftest import settings_dict
from tests.jobs.test_outages import unreachable_host

RID = "3f2b9c1e-aa01-4c6e-9d1b-000000000042"  # what nginx's $request_id would send


def test_json_lines_carry_the_request_and_job_of_their_context():
    out = io.StringIO()
    h = logs.handler("json")
    h.stream = out
    log = logging.getLogger("govhost.test_logs")
    log.addHandler(h)
    log.setLevel(logging.INFO)
    try:
        log.info("outside")
        token = logs.request_id.set(RID)
        with resilience.job_context(7):
            log.info("inside %s", "a job")
        logs.request_id.reset(token)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("broke")
    finally:
        log.removeHandler(h)
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(first) == {"ts", "level", "logger", "pid", "msg"} and first["msg"] == "outside"
    # job_context starts the job with no request id (the claim sets the job's own).
    assert second["job_id"] == 7 and "request_id" not in second and second["msg"] == "inside a job"
    assert third["level"] == "ERROR" and "ValueError: boom" in third["exc"]
    assert first["ts"].endswith("+00:00")


def test_log_format_is_checked(tmp_path):
    raw = settings_dict(tmp_path, "sqlite:///x.db")
    raw["log"] = {"format": "xml"}
    with pytest.raises(ConfigError, match=r"log\.format"):
        validate(Settings.from_dict(raw))


def test_one_request_id_links_web_audit_job_and_worker(booted, make, caplog, tmp_path):
    from panel.app import create_app

    client = create_app(booted).test_client()
    admin = make.make_user(Role.ADMIN)
    _, token = token_create(make.actor_of(admin, "api"), name="t", scope="write", days=1)
    host = unreachable_host(make)
    caplog.set_level(logging.INFO, logger="govhost.web.request")
    resp = client.post(
        "/api/v1/requests",
        json={"kind": "host.ping", "payload": {"host_id": host.id}},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": RID},
    )
    assert resp.status_code in (200, 201), resp.get_json()
    assert resp.headers["X-Request-ID"] == RID
    line = next(r for r in caplog.records if r.name == "govhost.web.request")
    assert line.fields == {
        "method": "POST",
        "route": "/api/v1/requests/",  # the rule, not the path: one series per route
        "status": resp.status_code,
        "ms": line.fields["ms"],
        "request_id": RID,
    }
    with db.unit_of_work() as s:
        job = s.scalars(select(Job).where(Job.kind == "host.ping")).one()
        assert job.trace_id == RID  # the job remembers the request that submitted it
        actions = {e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.request_id == RID))}
    assert {"request.create", "job.submit"} <= actions, actions

    # The worker's side, in this thread: a job that fails, submitted by a command with its own id.
    cmd = dataclasses.replace(system_actor("cli", "tester"), request_id="cmd-0000-1111")
    failing = jobs_svc.job_submit(cmd, kind="core.noop", org_id=None, host_ids=[], params={"fail": True})
    out = io.StringIO()
    h = logs.handler("json")
    h.stream = out
    root = logging.getLogger()
    root.addHandler(h)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        runner.new_identity()
        supervise.register(booted)
        assert runner.run_job(failing.id, booted) == JobStatus.FAILED.value
    finally:
        root.removeHandler(h)
        root.setLevel(old)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    mine = [x for x in lines if x.get("job_id") == failing.id]
    claimed = next(x for x in mine if "claimed by" in x["msg"])
    assert claimed["request_id"] == "cmd-0000-1111"
    assert any("ended failed" in x["msg"] for x in mine)
    assert all(x.get("request_id") == "cmd-0000-1111" for x in mine if "claimed" in x["msg"] or "ended" in x["msg"])
    with db.unit_of_work() as s:
        entries = {
            e.action: e.request_id for e in s.scalars(select(AuditEntry).where(AuditEntry.object_id == str(failing.id)))
        }
    assert entries.get("job.submit") == "cmd-0000-1111"
    assert entries.get("job.failed") == "cmd-0000-1111"  # written by the worker, no actor: the job's id
    assert logs.request_id.get() == ""  # nothing left behind in the worker thread
