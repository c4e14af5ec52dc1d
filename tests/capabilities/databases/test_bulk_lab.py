"""Database rows from a bulk file on the lab's MariaDB (issue 18): plan -> submit -> one approval ->
the databases' jobs on the DB host -> the databases exist there and a tenant user connects from the
web host; the report says done; the same file plans no-ops; a row saying delete removes its database
from the server and leaves the other alone."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases.models import Database, DbStatus
from panel.models.bulk import BulkRow
from panel.models.requests import Request
from panel.services import bulk
from panel.services import requests as req_svc
from provisioners import lab as L
from tests.capabilities.databases.conftest import (
    DB_HOST,
    WEB_HOST,
    approve_and_run,
    finish_jobs,
    job_text,
    link_web_site,
    sql_from,
)

pytestmark = pytest.mark.lab

FILE = "engine,name,size_mb,action\r\nmariadb,bulkshop,50,\r\nmariadb,bulkwiki,,\r\n"


def _apply(world, files) -> int:
    """Plan, submit as the ministry, approve as the data center, run every job; the plan's id."""
    plan = bulk.bulk_plan(world.aa, org_id=world.a.id, files=files).plan
    req = bulk.bulk_submit(world.aa, plan.id)
    req_svc.request_approve(world.op, req.id)
    for job in finish_jobs(world.settings):
        assert job.status.value == "successful", job_text(job)
    return plan.id


def _server_databases() -> set[str]:
    return set(L.host_exec(DB_HOST[0], "mariadb", "-N", "-e", "SHOW DATABASES").stdout.split())


def test_database_rows_from_a_file_exist_on_the_host_and_a_user_connects(db_world):
    w = db_world
    plan = bulk.bulk_plan(w.aa, org_id=w.a.id, files=[("databases.csv", FILE)]).plan
    assert plan.counts == {"create": 2} and plan.quota == {"databases": 2, "db_storage_mb": 50 + 1024}
    assert "2 mariadb databases on dbt1" in bulk.bulk_show(w.aa, plan.id).placement
    prefix = f"mina{w.a.id}_"
    assert not {prefix + "bulkshop", prefix + "bulkwiki"} & _server_databases()  # nothing before approval
    req = bulk.bulk_submit(w.aa, plan.id)
    req_svc.request_approve(w.op, req.id)
    jobs = finish_jobs(w.settings)
    assert {j.kind for j in jobs} == {"databases.apply"} and all(j.status.value == "successful" for j in jobs), [
        job_text(j) for j in jobs
    ]
    with db.unit_of_work() as s:
        made = {d.name: d for d in s.scalars(select(Database).where(Database.org_id == w.a.id))}
        kinds = set(s.scalars(select(Request.kind).where(Request.id.in_([d.request_id for d in made.values()]))))
    assert set(made) == {prefix + "bulkshop", prefix + "bulkwiki"} and kinds == {"databases.database_create"}
    assert {d.status for d in made.values()} == {DbStatus.ACTIVE} and made[prefix + "bulkwiki"].size_mb == 1024
    assert set(made) <= _server_databases()
    report = {r["key"]: r for r in bulk.bulk_report(w.aa, plan.id)}
    assert {r["status"] for r in report.values()} == {"done"}, report
    assert (
        report["mariadb:bulkshop"]["object_id"] == made[prefix + "bulkshop"].id and report["mariadb:bulkshop"]["job_id"]
    )

    # a tenant user of the bulk-made database connects from the web host and works in it
    shop = made[prefix + "bulkshop"]
    link_web_site(w, shop)
    issued = db_svc.db_user_create(w.aa, database_id=shop.id, name="bulkapp", profile="owner")
    approve_and_run(w, issued.request)
    got = sql_from(
        WEB_HOST[0],
        engine="mariadb",
        host=w.db_ip,
        user=prefix + "bulkapp",
        password=issued.password,
        database=shop.name,
        sql=["CREATE TABLE t (x INT)", "INSERT INTO t VALUES (7)", "SELECT x FROM t", "SELECT DATABASE()"],
    )
    assert got["ok"], got
    assert got["out"][2] == [[7]] and got["out"][3] == [[shop.name]]

    # the same file again: no-ops only; a row saying delete removes bulkwiki from the server, not bulkshop
    again = bulk.bulk_plan(w.aa, org_id=w.a.id, files=[("databases.csv", FILE)]).plan
    assert again.counts == {"noop": 2}
    gone_id = _apply(w, [("databases.csv", "engine,name,action\nmariadb,bulkwiki,delete\n")])
    with db.unit_of_work() as s:
        (row,) = s.scalars(select(BulkRow).where(BulkRow.plan_id == gone_id))
        assert row.action == "delete" and row.object_id == made[prefix + "bulkwiki"].id
        assert s.get(Database, made[prefix + "bulkwiki"].id).status == DbStatus.DELETED
        assert s.get(Database, shop.id).status == DbStatus.ACTIVE
    on_host = _server_databases()
    assert prefix + "bulkwiki" not in on_host and shop.name in on_host
    assert [r["status"] for r in bulk.bulk_report(w.aa, gone_id)] == ["done"]
    assert sql_from(
        WEB_HOST[0],
        engine="mariadb",
        host=w.db_ip,
        user=prefix + "bulkapp",
        password=issued.password,
        database=shop.name,
        sql=["SELECT COUNT(*) FROM t"],
    )["ok"]
    # and planning the delete again: nothing to do
    assert bulk.bulk_plan(
        w.aa, org_id=w.a.id, files=[("databases.csv", "engine,name,action\nmariadb,bulkwiki,delete\n")]
    ).plan.counts == {"noop": 1}
