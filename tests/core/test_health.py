"""/healthz, /readyz and /metrics (issue 21): liveness without the database, readiness with the
database, the schema at the migrations' head and the queue, Prometheus text for staff tokens only.
The PostgreSQL outage case (readyz 503, then 200 again) is in tests/jobs/test_pg_outages.py."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic import command
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from panel import db
from panel.models.jobs import Job, JobStatus
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import Role
from panel.services import health, schema
from panel.services import jobs as jobs_svc
from panel.services.actor import system_actor
from tests.support.surfaces import api_headers


@pytest.fixture
def behind(booted):
    """The schema not stamped at the migrations' head (the test schema is stamped at session start)."""
    with db.engine().begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    yield
    command.stamp(schema.alembic_config(), "head")


def test_healthz_and_readyz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok", "queue": "ok"}}


def test_readyz_fails_while_the_schema_is_behind_the_migrations(client, behind):
    body = client.get("/readyz").get_json()  # not stamped: an upgrade has not run
    assert body["status"] == "unavailable" and "run govhost db upgrade" in body["checks"]["migrations"]


def test_readyz_fails_when_a_check_fails(client, monkeypatch):
    def down():
        raise RuntimeError("schema at abc, migrations at def: run govhost db upgrade")

    monkeypatch.setattr(health, "CHECKS", (*health.CHECKS[:1], ("migrations", down), *health.CHECKS[2:]))
    r = client.get("/readyz")
    body = r.get_json()
    assert r.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok" and "govhost db upgrade" in body["checks"]["migrations"]


def test_metrics_for_staff_tokens_only(client, make):
    jobs_svc.job_submit(system_actor("cli", "t"), kind="core.noop", org_id=None, host_ids=[], params={})
    assert client.get("/metrics").status_code == 401
    ministry = make.make_user(Role.WEBMASTER, make.make_org("M"))
    assert client.get("/metrics", headers=api_headers(ministry, "read")).status_code == 403
    r = client.get("/metrics", headers=api_headers(make.make_user(Role.AUDITOR), "read"))
    assert r.status_code == 200 and r.content_type.startswith("text/plain; version=0.0.4")
    text = r.get_data(as_text=True)
    assert 'govhost_jobs{kind="core.noop",status="pending"} 1' in text
    assert "# TYPE govhost_queue_depth gauge" in text and "govhost_queue_up 1" in text
    assert "govhost_jobs_waiting_for_host 0" in text and 'govhost_workers{state="active"}' in text


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a /metrics body (parsed by prometheus-client: the text must be valid)."""
    out = {}
    for family in text_string_to_metric_families(text):
        for smp in family.samples:
            out[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    return out


def test_metrics_count_requests_by_route_and_status(client, make):
    headers = api_headers(make.make_user(Role.AUDITOR), "read")
    key = ("govhost_http_requests_total", (("method", "GET"), ("route", "/healthz"), ("status", "200")))
    missing = ("govhost_http_requests_total", (("method", "GET"), ("route", "(no route)"), ("status", "404")))
    before = _samples(client.get("/metrics", headers=headers).get_data(as_text=True))
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = _samples(client.get("/metrics", headers=headers).get_data(as_text=True))
    assert after[key] - before.get(key, 0) == 3
    assert after[missing] - before.get(missing, 0) == 1
    hist = ("govhost_http_request_duration_seconds_count", (("method", "GET"), ("route", "/healthz")))
    assert after[hist] - before.get(hist, 0) == 3


def test_metrics_job_run_times_and_approval_to_live(client, make):
    actor = system_actor("cli", "t")
    jobs = [jobs_svc.job_submit(actor, kind="core.noop", org_id=None, host_ids=[], params={}) for _ in range(3)]
    org = make.make_org("M")
    with db.unit_of_work() as s:
        now = db.now(s)
        for job, (ran, status) in zip(jobs, [(3, "successful"), (40, "successful"), (7, "failed")], strict=True):
            row = s.get(Job, job.id)
            row.status, row.started_at, row.finished_at = JobStatus(status), now - dt.timedelta(seconds=ran), now
        s.add(
            Request(
                kind="core.noop", org_id=org.id, status=RequestStatus.DONE, payload={},
                decided_at=now - dt.timedelta(seconds=90), finished_at=now,
            )
        )  # fmt: skip
    text = client.get("/metrics", headers=api_headers(make.make_user(Role.AUDITOR), "read")).get_data(as_text=True)
    got = _samples(text)
    ok = (("kind", "core.noop"), ("status", "successful"))
    assert got[("govhost_job_run_seconds_count", ok)] == 2
    assert got[("govhost_job_run_seconds_sum", ok)] == pytest.approx(43, abs=0.01)
    assert got[("govhost_job_run_seconds_bucket", tuple(sorted((*ok, ("le", "5.0")))))] == 1
    assert got[("govhost_job_run_seconds_bucket", tuple(sorted((*ok, ("le", "60.0")))))] == 2
    failed = (("kind", "core.noop"), ("status", "failed"))
    assert got[("govhost_job_run_seconds_count", failed)] == 1
    live = (("kind", "core.noop"),)
    assert got[("govhost_request_approval_to_live_seconds_count", live)] == 1
    assert got[("govhost_request_approval_to_live_seconds_sum", live)] == pytest.approx(90, abs=0.01)
    assert got[("govhost_request_approval_to_live_seconds_bucket", (("kind", "core.noop"), ("le", "60.0")))] == 0
    assert got[("govhost_request_approval_to_live_seconds_bucket", (("kind", "core.noop"), ("le", "300.0")))] == 1
