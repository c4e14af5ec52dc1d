"""Drift between the DB servers and govhost's catalog (lab hosts, real MariaDB and PostgreSQL): what
a root user changes by hand on the server (a grant, a power, a user with govhost's prefix, a pg_hba
line) is reported by the check job and undone by the repair job, while objects without a ministry's
prefix (another application's database, user and pg_hba line) are left exactly as they were."""

from __future__ import annotations

import json

import psycopg2
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases.models import Database
from panel.models.audit import AuditEntry
from provisioners import lab as L
from tests.capabilities.databases.conftest import DB_HOST, WEB_HOST, approve_and_run, finish_jobs, sql_from

pytestmark = pytest.mark.lab

HBA = "/etc/postgresql/15/main/pg_hba.conf"


def root_sql(statement: str) -> str:
    return L.host_exec(DB_HOST[0], "mysql", "-N", "-B", "-e", statement).stdout


def pg_sql(statement: str, database: str = "postgres") -> str:
    return L.host_exec(
        DB_HOST[0], "runuser", "-u", "postgres", "--", "psql", "-At", "-d", database, "-c", statement
    ).stdout


def make(world, engine: str, name: str, user: str):
    req = db_svc.database_create(world.aa, org_id=world.a.id, engine=engine, name=name)
    approve_and_run(world, req)
    with db.unit_of_work() as s:
        row = s.scalars(select(Database).where(Database.request_id == req.id)).one()
    from tests.capabilities.databases.conftest import link_web_site

    link_web_site(world, row)
    issued = db_svc.db_user_create(world.aa, database_id=row.id, name=user)
    approve_and_run(world, issued.request)
    return row, issued.password


def run(world, fn, **kw):
    jobs = fn(world.op, **kw)
    for job in finish_jobs(world.settings):
        assert job.status.value == "successful", f"{job.explanation} {job.traceback[-1500:]}"
    return jobs


def found(world) -> dict[str, list[tuple[str, str, str]]]:
    (d,) = [d for d in db_svc.db_drift_list(world.op) if d.host_id == world.db_host.id]
    return {e: [(i["kind"], i["name"], i["where"]) for i in f["items"]] for e, f in d.found.items()}


def test_drift_reported_and_repaired_outside_prefix_untouched(db_world):
    w, pre = db_world, f"mina{db_world.a.id}_"
    mdb, mpass = make(w, "mariadb", "drifty", "drifter")
    pdb, ppass = make(w, "postgresql", "pgdrift", "pgdrifter")
    pother = make(w, "postgresql", "pgother", "pgothers")[0]
    user, puser = pre + "drifter", pre + "pgdrifter"
    run(w, db_svc.db_drift_check)
    clean = found(w)
    mine = {mdb.name, pdb.name, pother.name, user, puser, pre + "pgothers"}
    assert not [i for e in clean.values() for i in e if i[1] in mine], clean  # what govhost made is what it has

    # By hand, as root: another application's database and user (no ministry prefix) and, on
    # govhost's objects, a grant to that database, a global power, a user with govhost's prefix.
    other_app = (
        "CREATE DATABASE appx_keep; CREATE USER 'appx_user'@'%' IDENTIFIED BY 'Appx-pass-1234';"
        " GRANT ALL ON appx_keep.* TO 'appx_user'@'%';"
        " CREATE TABLE appx_keep.t (x INT); INSERT INTO appx_keep.t VALUES (42)"
    )
    hand = (
        f"GRANT SELECT ON appx_keep.* TO '{user}'@'{WEB_HOST[1]}';"
        f" GRANT PROCESS ON *.* TO '{user}'@'{WEB_HOST[1]}';"
        f" CREATE USER '{pre}ghost'@'%' IDENTIFIED BY 'Ghost-pass-1234'"
    )
    root_sql(other_app + "; " + hand)
    got = sql_from(
        WEB_HOST[0],
        engine="mariadb",
        host=w.db_ip,
        user=user,
        password=mpass,
        database=mdb.name,
        sql=["SELECT x FROM appx_keep.t"],
    )
    assert got["ok"] and got["out"] == [[[42]]], got  # the hand-made grant works
    # PostgreSQL: a power, CONNECT on a database it has no grant on, a pg_hba line outside govhost's
    # block letting it in from the lab gateway, a role with govhost's prefix; and another
    # application's role with its own pg_hba line.
    pg_sql(
        f"ALTER ROLE {puser} CREATEDB; GRANT CONNECT ON DATABASE {pother.name} TO {puser};"
        f" CREATE ROLE {pre}pgghost LOGIN; CREATE ROLE appx_role LOGIN PASSWORD 'Appx-pass-1234'"
    )
    L.host_exec(
        DB_HOST[0],
        "sh",
        "-c",
        f"printf 'host {pother.name} {puser} {L.GATEWAY}/32 scram-sha-256\\nhost appx_db appx_role {L.GATEWAY}/32"
        f" scram-sha-256\\n' >> {HBA}",
    )
    pg_sql("SELECT pg_reload_conf()")
    L.assert_pinned(w.db_ip)
    conn = psycopg2.connect(host=w.db_ip, user=puser, password=ppass, dbname=pother.name, connect_timeout=5)
    conn.close()  # the hand-made access works

    run(w, db_svc.db_drift_check)
    now = found(w)
    m, p = now["mariadb"], now["postgresql"]
    assert ("grant_extra", user, f"{WEB_HOST[1]} appx_keep") in m, m
    assert ("privileges_extra", user, WEB_HOST[1]) in m, m
    assert ("user_extra", pre + "ghost", "%") in m, m
    assert ("privileges_extra", puser, "") in p, p
    assert ("grant_extra", puser, pother.name) in p, p
    assert ("user_extra", pre + "pgghost", "") in p, p
    assert any(k == "hba_outside" and n == puser for k, n, _ in p), p
    assert not [i for e in now.values() for i in e if "appx" in i[1]], now  # outside the prefix: not looked at
    with db.unit_of_work() as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "databases.drift_found")).first()
    # The page, the API and the CLI show it to DC staff (tests/capabilities/databases/test_surfaces.py
    # covers the surfaces without a lab).

    run(w, db_svc.db_drift_repair, host_id=w.db_host.id)
    after = found(w)
    assert not [i for e in after.values() for i in e if i[0] != "database_extra"], after
    # govhost's objects are back to the catalog: the hand-made grant and power are gone, the
    # tenant still works with its password, the prefixed strangers are dropped.
    denied = sql_from(
        WEB_HOST[0],
        engine="mariadb",
        host=w.db_ip,
        user=user,
        password=mpass,
        database=mdb.name,
        sql=["SELECT x FROM appx_keep.t"],
    )
    assert not denied["ok"] and "denied" in denied["error"], denied
    ok = sql_from(
        WEB_HOST[0],
        engine="mariadb",
        host=w.db_ip,
        user=user,
        password=mpass,
        database=mdb.name,
        sql=["CREATE TABLE mine (x INT)", "SHOW GRANTS"],
    )
    assert ok["ok"] and "PROCESS" not in str(ok["out"]), ok
    assert root_sql(f"SELECT COUNT(*) FROM mysql.user WHERE User = '{pre}ghost'").split() == ["0"]  # noqa: S608
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(host=w.db_ip, user=puser, password=ppass, dbname=pother.name, connect_timeout=5)
    assert "no pg_hba.conf entry" in str(refused.value)
    assert pg_sql(f"SELECT rolcreatedb FROM pg_roles WHERE rolname = '{puser}'").split() == ["f"]  # noqa: S608
    assert pg_sql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{pre}pgghost'").split() == ["0"]  # noqa: S608
    got = sql_from(
        WEB_HOST[0],
        engine="postgresql",
        host=w.db_ip,
        user=puser,
        password=ppass,
        database=pdb.name,
        sql=["CREATE TABLE mine (x int)", "SELECT 1"],
    )
    assert got["ok"], got
    # Outside the prefix: exactly as it was.
    assert root_sql("SELECT x FROM appx_keep.t").split() == ["42"]
    assert root_sql("SHOW GRANTS FOR 'appx_user'@'%'").count("appx_keep") == 1
    assert pg_sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'appx_role'").split() == ["t"]
    hba = L.host_exec(DB_HOST[0], "cat", HBA).stdout
    assert f"host appx_db appx_role {L.GATEWAY}/32 scram-sha-256" in hba and f"{pother.name} {puser}" not in hba
    with db.unit_of_work() as s:
        repaired = s.scalars(select(AuditEntry).where(AuditEntry.action == "databases.drift_repaired")).one()
        counts = json.loads(repaired.summary)
    # (databases earlier tests of the session left on the shared DB host stay: reported, never dropped)
    assert counts["mariadb_before"] >= 3 + counts["mariadb_after"], counts
    assert counts["postgresql_before"] >= 4 + counts["postgresql_after"], counts


def test_postgresql_drift_flags_a_user_named_like_a_database_and_repair_leaves_it(db_world):
    """A catalog older than the rule may hold a PostgreSQL user named like a database: on the server
    both are one role, the database's owner role. The check names it (`name_clash`) instead of
    reporting it as a user with odd powers; a repair runs through and leaves that role alone, and
    the database's tables stay its owner's."""
    from panel.capabilities.databases.models import DbGrant, DbStatus, DbUser, Engine, Profile

    w = db_world
    row, password = make(w, "postgresql", "twin", "twinapp")
    owner = f"mina{w.a.id}_twinapp"
    args = {"engine": "postgresql", "host": w.db_ip, "user": owner, "password": password, "database": row.name}
    assert sql_from(WEB_HOST[0], **args, sql=["CREATE TABLE t (v text)", "INSERT INTO t VALUES ('kept')"])["ok"]
    with db.unit_of_work() as s:  # behind the rules' back, as an old catalog may hold it
        clash = DbUser(
            org_id=w.a.id, host_id=row.host_id, engine=Engine.POSTGRESQL, name=row.name, status=DbStatus.ACTIVE
        )
        clash.grants = [DbGrant(database_id=row.id, profile=Profile.READ_ONLY)]
        s.add(clash)
    run(w, db_svc.db_drift_check)
    about = [i for i in found(w)["postgresql"] if i[1] == row.name and not i[0].startswith("hba_")]
    assert about == [("name_clash", row.name, "")], about
    run(w, db_svc.db_drift_repair, host_id=w.db_host.id)  # every job successful (run() asserts it)
    about = [i for i in found(w)["postgresql"] if i[1] == row.name and not i[0].startswith("hba_")]
    assert about == [("name_clash", row.name, "")], about
    assert pg_sql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{row.name}'").strip() == "f"  # noqa: S608
    got = sql_from(WEB_HOST[0], **args, sql=["SELECT v FROM t"])
    assert got["ok"] and got["out"] == [[["kept"]]], got
