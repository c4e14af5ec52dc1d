"""Freezing a tenant database on a real MariaDB and PostgreSQL (lab hosts): the security operation center suspends
it through its containment action (the databases.database_suspend request kind, no import between
the capabilities), the tenant's credentials stop working from the web host while the data stays,
and unsuspending (a request the data center approves) gives the same credentials their access back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.databases.models import Database, DbStatus
from panel.capabilities.soc import containment
from panel.models.notifications import Notification
from panel.models.tenants import OrgKind, Role
from panel.services import requests as req_svc
from tests.capabilities.databases import test_postgresql_lab as pg
from tests.capabilities.databases.conftest import approve_and_run, finish_jobs
from tests.capabilities.databases.test_mariadb_lab import as_user, make_db, make_user

pytestmark = pytest.mark.lab


def _status(database_id: int) -> DbStatus:
    with db.unit_of_work() as s:
        return s.get(Database, database_id, populate_existing=True).status


# Its own database name: the DB host outlives a test while names restart with each fresh panel
# database, and test_mariadb_lab.py makes a "shop" with a table t of its own.
def test_soc_freezes_a_database_and_the_ministry_unfreezes_it(db_world, make):
    dbrow = make_db(db_world, "frozen")
    issued = make_user(db_world, dbrow, "frozenapp")
    user = f"mina{db_world.a.id}_frozenapp"
    assert as_user(db_world, dbrow, user, issued.password, "CREATE TABLE t (v VARCHAR(20))",
                   "INSERT INTO t VALUES ('kept')")["ok"]  # fmt: skip

    dc = make.make_org("SOC", kind=OrgKind.DATACENTER, slug="socdb")
    soc = make.actor_of(make.make_user(Role.SOC, dc, username="soc1"), "api")
    assert "databases.database_suspend" in containment.suspend_kinds()
    req = containment.contain_suspend_object(
        soc, kind="databases.database_suspend", org_id=db_world.a.id, object_id=dbrow.id, reason="SQL injection dump"
    )
    jobs = finish_jobs(db_world.settings, req.id)
    assert [(j.kind, j.status.value) for j in jobs] == [("databases.apply", "successful")], [
        j.explanation for j in jobs
    ]
    assert _status(dbrow.id) == DbStatus.SUSPENDED
    frozen = as_user(db_world, dbrow, user, issued.password, "SELECT v FROM t")
    assert not frozen["ok"] and ("1044" in frozen["error"] or "1130" in frozen["error"] or "1045" in frozen["error"])
    with db.unit_of_work() as s:  # the ministry's admin was told why
        notes = list(s.scalars(select(Notification).where(Notification.kind == "soc.containment")))
        assert [n.params["reason"] for n in notes] == ["SQL injection dump"]

    # the ministry asks to unfreeze; the data center approves; the same password works, the data is there
    back = req_svc.request_create(db_world.aa, kind="databases.database_unsuspend", org_id=db_world.a.id,
                                  payload={"database_id": dbrow.id})  # fmt: skip
    approve_and_run(db_world, back)
    assert _status(dbrow.id) == DbStatus.ACTIVE
    again = as_user(db_world, dbrow, user, issued.password, "SELECT v FROM t")
    assert again["ok"] and again["out"][0] == [["kept"]], again


def test_a_frozen_postgresql_database_refuses_its_user_until_unfrozen(db_world, make):
    dbrow = pg.make_db(db_world, "ledger")
    issued = pg.make_user(db_world, dbrow, "ledgerapp")
    user = f"mina{db_world.a.id}_ledgerapp"
    assert pg.as_user(db_world, dbrow, user, issued.password, "CREATE TABLE t (v text)",
                      "INSERT INTO t VALUES ('kept')")["ok"]  # fmt: skip
    dc = make.make_org("SOC", kind=OrgKind.DATACENTER, slug="socpg")
    soc = make.actor_of(make.make_user(Role.SOC, dc, username="soc2"), "api")
    req = containment.contain_suspend_object(
        soc, kind="databases.database_suspend", org_id=db_world.a.id, object_id=dbrow.id, reason="exfiltration"
    )
    jobs = finish_jobs(db_world.settings, req.id)
    assert [(j.kind, j.status.value) for j in jobs] == [("databases.apply", "successful")], [
        j.explanation for j in jobs
    ]
    frozen = pg.as_user(db_world, dbrow, user, issued.password, "SELECT v FROM t")
    assert not frozen["ok"], frozen
    back = req_svc.request_create(db_world.aa, kind="databases.database_unsuspend", org_id=db_world.a.id,
                                  payload={"database_id": dbrow.id})  # fmt: skip
    approve_and_run(db_world, back)
    again = pg.as_user(db_world, dbrow, user, issued.password, "SELECT v FROM t")
    assert again["ok"] and again["out"][0] == [["kept"]], again
