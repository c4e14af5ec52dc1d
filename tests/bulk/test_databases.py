"""Database rows in bulk files (the databases capability's row kind): CSV and nested under a site,
the form's own checks (engine with no DB host set up), one database_create request per row approved
by the bundle, quota and placement in the plan, re-planned as no-ops."""

from __future__ import annotations

from sqlalchemy import select

from panel import db
from panel.capabilities.databases.models import Database
from panel.models.bulk import BulkRow
from panel.models.hosts import HostState
from panel.models.requests import Request
from panel.services import bulk, requests

CSV = "engine,name,size_mb,conn_limit\r\nmariadb,shop,200,\r\npostgresql,stats,,\r\nmariadb,Bad-Name,5,0\r\n"


def db_host(make):
    return make.make_host(
        "db1",
        roles={"db"},
        capacities={"databases": 100},
        address="10.87.0.252",
        facts={"db_engines": ["mariadb"]},
        state=HostState.ACTIVE,
    ).id


def plan_of(world, *files):
    return bulk.bulk_plan(world.wa, org_id=world.a.id, files=list(files))


def rows(plan_id):
    with db.unit_of_work() as s:
        return {r.line: r for r in s.scalars(select(BulkRow).where(BulkRow.plan_id == plan_id))}


def test_database_rows_plan_apply_and_replan_as_noops(world, make):
    host_id = db_host(make)
    result = plan_of(world, ("databases.csv", CSV))
    got = rows(result.plan.id)
    assert got[2].action == "create" and got[2].key == "mariadb:shop" and got[2].data["conn_limit"] == 20
    # PostgreSQL: no DB host set up for it (the form's own answer)
    assert got[3].action == "conflict" and got[3].errors[0]["key"] == "databases.no_host_ready"
    assert got[4].action == "invalid"
    assert {e["column"] for e in got[4].errors} == {"name", "size_mb", "conn_limit"}  # every error at once
    assert result.plan.quota == {"databases": 1, "db_storage_mb": 200}
    assert "1 mariadb databases on db1" in bulk.bulk_show(world.wa, result.plan.id).placement

    ok = plan_of(world, ("databases.csv", "engine,name,size_mb\nmariadb,shop,200\nmariadb,wiki,\n")).plan
    req = bulk.bulk_submit(world.wa, ok.id)
    requests.request_approve(world.op, req.id)
    with db.unit_of_work() as s:
        made = {d.name: d for d in s.scalars(select(Database).where(Database.org_id == world.a.id))}
        prefix = next(iter(made)).split("_")[0] + "_"
        assert set(made) == {prefix + "shop", prefix + "wiki"}
        assert {d.host_id for d in made.values()} == {host_id} and made[prefix + "wiki"].size_mb == 1024
        asked = [d.request_id for d in made.values()]
        kinds = [r.kind for r in s.scalars(select(Request).where(Request.id.in_(asked)))]
        assert kinds == ["databases.database_create"] * 2
    report = {r["key"]: r for r in bulk.bulk_report(world.wa, ok.id)}
    assert report["mariadb:shop"]["status"] == "running" and report["mariadb:shop"]["object_id"]

    again = plan_of(world, ("databases.csv", "engine,name,size_mb\nmariadb,shop,200\nmariadb,wiki,\n")).plan
    assert again.counts == {"noop": 2}
    other = plan_of(world, ("databases.csv", "engine,name,size_mb\nmariadb,shop,300\n")).plan
    assert other.counts == {"conflict": 1}


def test_database_rows_nest_under_a_site(world, make):
    db_host(make)
    doc = """ministry: mina
sites:
  - fqdn: www.a.gov.test
    plan: basic
    databases:
      - {engine: mariadb, name: wp}
"""
    p = plan_of(world, ("ministry.yaml", doc)).plan
    assert sorted((r.kind, r.key, r.action, r.line) for r in rows(p.id).values()) == [
        ("databases", "mariadb:wp", "create", 6),
        ("sites", "www.a.gov.test", "create", 3),
    ]
    assert "databases" in bulk.bulk_json_schema()["$defs"]["sites"]["properties"]
