"""Tenant databases on a real PostgreSQL (lab hosts): request -> approval -> job -> psycopg2 inside
the web host connects with the issued credentials (pg_hba allows the web host only); profiles map
to privileges; revoking, a password reset and deletion reach the server."""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases.models import Database, DbStatus, DbUser
from provisioners import lab as L
from tests.capabilities.databases.conftest import DB_HOST, WEB_HOST, approve_and_run, link_web_site, sql_from

pytestmark = pytest.mark.lab


def make_db(world, name, link=True, org=None, actor=None):
    req = db_svc.database_create(world.aa, org_id=world.a.id, engine="postgresql", name=name, conn_limit=7)
    approve_and_run(world, req)
    with db.unit_of_work() as s:
        row = s.scalars(select(Database).where(Database.request_id == req.id)).one()
    if link:
        link_web_site(world, row, org, actor)
    return row


def make_user(world, dbrow, name, profile="owner"):
    issued = db_svc.db_user_create(world.aa, database_id=dbrow.id, name=name, profile=profile)
    approve_and_run(world, issued.request)
    return issued


def as_user(world, dbrow, user, password, *sql, where=WEB_HOST[0]):
    return sql_from(
        where, engine="postgresql", host=world.db_ip, user=user, password=password, database=dbrow.name, sql=list(sql)
    )


def test_postgresql_request_to_connection_profiles_and_cleanup(db_world):
    pre = f"mina{db_world.a.id}_"
    dbrow = make_db(db_world, "gis")
    assert dbrow.status == DbStatus.ACTIVE and dbrow.name == pre + "gis"
    owner = make_user(db_world, dbrow, "owner")
    got = as_user(
        db_world,
        dbrow,
        pre + "owner",
        owner.password,
        "CREATE TABLE places (id int PRIMARY KEY, name text)",
        "INSERT INTO places VALUES (1, 'ភ្នំពេញ')",
        "SELECT name FROM places",
        "SELECT pg_encoding_to_char(encoding), datconnlimit FROM pg_database WHERE datname = current_database()",
        "SELECT current_setting('ssl')",
    )
    assert got["ok"], got
    assert got["out"][2] == [["ភ្នំពេញ"]] and got["out"][3] == [["UTF8", 7]] and got["out"][4] == [["on"]]
    # Not from the controller (the lab gateway): pg_hba has no line for it.
    L.assert_pinned(db_world.db_ip)
    with pytest.raises(psycopg2.OperationalError) as refused:
        psycopg2.connect(
            host=db_world.db_ip, user=pre + "owner", password=owner.password, dbname=dbrow.name, connect_timeout=5
        )
    assert "no pg_hba.conf entry" in str(refused.value)
    assert not as_user(db_world, dbrow, pre + "owner", owner.password + "x", "SELECT 1")["ok"]
    # A database no site uses has no pg_hba line, not even for the web host, until a site is linked.
    lone = make_db(db_world, "lone", link=False)
    loner = make_user(db_world, lone, "loner")
    shut = as_user(db_world, lone, pre + "loner", loner.password, "SELECT 1")
    assert not shut["ok"] and "no pg_hba.conf entry" in shut["error"], shut
    link_web_site(db_world, lone)
    assert as_user(db_world, lone, pre + "loner", loner.password, "SELECT 1")["ok"]
    # Another ministry's-style user without a grant on this database cannot connect to it.
    other = make_db(db_world, "other")
    stranger = make_user(db_world, other, "stranger")
    denied = as_user(db_world, dbrow, pre + "stranger", stranger.password, "SELECT 1")
    assert not denied["ok"], denied
    # read-only reads, cannot write; read-write writes, cannot change the schema
    reader = make_user(db_world, dbrow, "reader", profile="readonly")
    assert as_user(db_world, dbrow, pre + "reader", reader.password, "SELECT count(*) FROM places")["out"] == [[[1]]]
    no = as_user(db_world, dbrow, pre + "reader", reader.password, "INSERT INTO places VALUES (2, 'x')")
    assert not no["ok"] and "permission denied" in no["error"]
    with db.unit_of_work() as s:
        rid = s.scalars(select(DbUser.id).where(DbUser.name == pre + "reader")).one()
    approve_and_run(db_world, db_svc.db_grant_set(db_world.aa, user_id=rid, database_id=dbrow.id, profile="readwrite"))
    assert as_user(db_world, dbrow, pre + "reader", reader.password, "INSERT INTO places VALUES (2, 'x')")["ok"]
    assert not as_user(db_world, dbrow, pre + "reader", reader.password, "DROP TABLE places")["ok"]
    # tables the owner creates later are readable by the reader too (default privileges)
    assert as_user(db_world, dbrow, pre + "owner", owner.password, "CREATE TABLE later (x int)")["ok"]
    assert as_user(db_world, dbrow, pre + "reader", reader.password, "SELECT * FROM later")["ok"]
    # revoke: no longer connects to that database
    approve_and_run(db_world, db_svc.db_grant_set(db_world.aa, user_id=rid, database_id=dbrow.id, profile="none"))
    assert not as_user(db_world, dbrow, pre + "reader", reader.password, "SELECT 1")["ok"]
    # password reset on the owner: old refused, new works
    with db.unit_of_work() as s:
        oid = s.scalars(select(DbUser.id).where(DbUser.name == pre + "owner")).one()
    reset = db_svc.db_user_password_reset(db_world.aa, user_id=oid)
    approve_and_run(db_world, reset.request)
    assert not as_user(db_world, dbrow, pre + "owner", owner.password, "SELECT 1")["ok"]
    assert as_user(db_world, dbrow, pre + "owner", reset.password, "SELECT count(*) FROM places")["ok"]
    # delete users and the database: gone from the server and from pg_hba
    approve_and_run(db_world, db_svc.db_user_delete(db_world.aa, user_id=rid))
    approve_and_run(db_world, db_svc.database_delete(db_world.aa, database_id=dbrow.id))
    out = L.host_exec(
        DB_HOST[0], "su", "postgres", "-c", "psql -Atc 'SELECT datname FROM pg_database; SELECT rolname FROM pg_roles'"
    ).stdout
    assert dbrow.name not in out.split() and pre + "reader" not in out.split()
    hba = L.host_exec(DB_HOST[0], "cat", "/etc/postgresql/15/main/pg_hba.conf").stdout
    assert dbrow.name not in hba and pre + "other" in hba


def test_postgresql_remote_access_hostssl_until_expiry(db_world, tmp_path):
    """Remote access on PostgreSQL: a hostssl pg_hba line for the controller's network, so TLS
    connects and plain is refused; after expiry and the sweep the line is gone. The client verifies
    the server (sslmode=verify-full): its certificate is the panel CA's, for the host's name and
    address."""
    import datetime as dt

    from panel.capabilities.databases.models import DbRemoteAccess
    from panel.capabilities.databases.sweeps import remote_access_expire
    from panel.services import pki
    from tests.capabilities.databases.conftest import finish_jobs

    pre = f"mina{db_world.a.id}_"
    dbrow = make_db(db_world, "remote")
    far = make_user(db_world, dbrow, "far")
    L.assert_pinned(db_world.db_ip)
    ca = tmp_path / "panel-ca.pem"
    ca.write_text(pki.ca_pem())

    def from_gateway(sslmode: str = "verify-full", name: str | None = None, rootcert=ca):
        return psycopg2.connect(
            host=name or db_world.db_ip,  # the name verify-full checks; the address is connected to
            hostaddr=db_world.db_ip,
            user=pre + "far",
            password=far.password,
            dbname=dbrow.name,
            connect_timeout=5,
            sslmode=sslmode,
            sslrootcert=str(rootcert),
        )

    with pytest.raises(psycopg2.OperationalError):
        from_gateway()
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).date().isoformat()
    req = db_svc.db_remote_request(
        db_world.aa, database_id=dbrow.id, cidr=f"{L.GATEWAY}/32", reason="Reporting office", expires_at=until
    )
    approve_and_run(db_world, req)
    for name in (None, DB_HOST[0]):  # verified against the host's address, and its name
        conn = from_gateway(name=name)
        assert conn.info.ssl_in_use  # the session is encrypted
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == (dbrow.name,)
        conn.close()
    # The verification is real: another CA, or a name the certificate does not hold, is refused.
    (tmp_path / "other-ca.pem").write_text(pki.ca_pem(tmp_path / "other-ca"))
    with pytest.raises(psycopg2.OperationalError) as other:
        from_gateway(rootcert=tmp_path / "other-ca.pem")
    # (the CAs share their name: OpenSSL says "certificate verify failed" or "signature failure")
    assert "SSL error" in str(other.value) and "pg_hba" not in str(other.value)
    with pytest.raises(psycopg2.OperationalError) as wrong:
        from_gateway(name="db.other.example")
    assert "does not match host name" in str(wrong.value)
    with pytest.raises(psycopg2.OperationalError) as plain:
        from_gateway("disable")
    assert "no pg_hba.conf entry" in str(plain.value)
    hba = L.host_exec(DB_HOST[0], "sh", "-c", "cat /etc/postgresql/*/main/pg_hba.conf").stdout
    assert f"hostssl {dbrow.name} {pre}far {L.GATEWAY}/32" in " ".join(hba.split())
    with db.unit_of_work() as s:
        s.scalars(select(DbRemoteAccess).where(DbRemoteAccess.request_id == req.id)).one().expires_at = (
            db.utcnow() - dt.timedelta(seconds=1)
        )
    assert len(remote_access_expire(db_world.system)) == 1
    for job in finish_jobs(db_world.settings):
        assert job.status.value == "successful", job.explanation
    with pytest.raises(psycopg2.OperationalError) as gone:
        from_gateway()
    assert "no pg_hba.conf entry" in str(gone.value)


def test_postgresql_write_freeze_at_budget_keeps_select_delete_drop_and_lifts(db_world):
    """Usage measured by the real job (one query on the host, each database's size over an empty
    one's): at 100% of a 10 MB budget INSERT, UPDATE, CREATE and a GRANT back are refused to the
    owner and INSERT to a read-write user, while SELECT, DELETE, TRUNCATE and DROP work; below 90%
    writes and DDL work again, for tables made after the lift too. Audit entries for each step."""
    from panel.capabilities.databases.sweeps import usage_collect
    from panel.models.audit import AuditEntry
    from tests.capabilities.databases.conftest import finish_jobs

    pre = f"mina{db_world.a.id}_"
    req = db_svc.database_create(db_world.aa, org_id=db_world.a.id, engine="postgresql", name="pgfull", size_mb=10)
    approve_and_run(db_world, req)
    with db.unit_of_work() as s:
        dbrow = s.scalars(select(Database).where(Database.request_id == req.id)).one()
    link_web_site(db_world, dbrow)
    owner, writer = make_user(db_world, dbrow, "pgfiller"), make_user(db_world, dbrow, "pgwriter", "readwrite")

    def sql(*stmts, who=("pgfiller", owner)):
        return as_user(db_world, dbrow, pre + who[0], who[1].password, *stmts)

    def measure() -> Database:
        usage_collect(db_world.system)
        for job in finish_jobs(db_world.settings):
            assert job.status.value == "successful", job.explanation
        with db.unit_of_work() as s:
            return s.get(Database, dbrow.id)

    assert measure().used_mb < 2  # an empty database counts (about) nothing: template0 is the zero
    filled = sql(
        "CREATE TABLE blobs (id int PRIMARY KEY, b text)",
        "ALTER TABLE blobs ALTER COLUMN b SET STORAGE EXTERNAL",  # stored as is: 1 MB is 1 MB
        "INSERT INTO blobs SELECT g, repeat('x', 1048576) FROM generate_series(1, 12) g",
        "CREATE TABLE small (x int)",
        "INSERT INTO small VALUES (1), (2)",
    )
    assert filled["ok"], filled
    row = measure()
    assert row.used_mb >= 10 and row.frozen_at is not None, (row.used_mb, row.frozen_at)
    for stmt in (
        "INSERT INTO blobs VALUES (100, 'x')",
        "UPDATE small SET x = 3",
        "CREATE TABLE more (x int)",
        "ALTER TABLE small ADD COLUMN y int",
        "GRANT INSERT ON blobs TO PUBLIC",
        f"GRANT INSERT ON small TO {dbrow.name}",
        "SELECT lo_from_bytea(0, 'x')",
    ):
        denied = sql(stmt)
        assert not denied["ok"] and ("denied" in denied["error"] or "write-frozen" in denied["error"]), (stmt, denied)
    w = ("pgwriter", writer)
    denied = sql("INSERT INTO small VALUES (9)", who=w)
    assert not denied["ok"] and "permission denied" in denied["error"], denied
    assert sql("SELECT count(*) FROM small", who=w)["out"] == [[[2]]]
    assert sql("DELETE FROM small WHERE x = 1", who=w)["ok"]  # read-write keeps DELETE
    assert sql("SELECT count(*) FROM blobs")["out"] == [[[12]]]
    assert sql("DELETE FROM blobs WHERE id = 1")["ok"]  # the owner can clean up
    assert sql("TRUNCATE small")["ok"]
    assert sql("DROP TABLE blobs")["ok"]
    row = measure()
    assert row.frozen_at is None and row.used_mb < 9, row.used_mb
    back = sql("INSERT INTO small VALUES (5)", "UPDATE small SET x = 6", "CREATE TABLE again (x int)")
    assert back["ok"], back
    assert sql("INSERT INTO again VALUES (1)", "INSERT INTO small VALUES (7)", who=w)["ok"]
    with db.unit_of_work() as s:
        actions = {a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_id == str(dbrow.id)))}
    assert {"databases.write_frozen", "databases.write_unfrozen", "databases.usage_notice"} <= actions
    # govhost's schema and trigger are gone again
    psql = ("runuser", "-u", "postgres", "--", "psql", "-At")
    left = L.host_exec(DB_HOST[0], *psql, "-d", dbrow.name, "-c", "SELECT count(*) FROM pg_event_trigger").stdout
    assert left.split() == ["0"], left


def test_a_user_row_named_like_a_database_never_empties_it(db_world):
    """The host's side of the name rule (databases.kinds.refuse_role_clash): a catalog from before
    the rule may hold a user named like a database, i.e. its owner role. Deleting that user would
    run DROP OWNED BY the owner role in every tenant database; the job refuses instead, and the
    database's table is still there for its owner."""
    from panel.capabilities.databases.models import DbGrant, Engine, Profile
    from tests.capabilities.databases.conftest import finish_jobs

    pre = f"mina{db_world.a.id}_"
    dbrow = make_db(db_world, "vault")
    owner = make_user(db_world, dbrow, "vaultapp")
    assert as_user(db_world, dbrow, pre + "vaultapp", owner.password, "CREATE TABLE t (v text)",
                   "INSERT INTO t VALUES ('kept')")["ok"]  # fmt: skip
    with db.unit_of_work() as s:  # behind the rules' back, as an old catalog may hold it
        clash = DbUser(
            org_id=db_world.a.id,
            host_id=dbrow.host_id,
            engine=Engine.POSTGRESQL,
            name=dbrow.name,
            status=DbStatus.ACTIVE,
        )
        clash.grants = [DbGrant(database_id=dbrow.id, profile=Profile.READ_ONLY)]
        s.add(clash)
        s.flush()
        clash_id = clash.id
    req = db_svc.db_user_delete(db_world.aa, user_id=clash_id)
    jobs = finish_jobs(db_world.settings, req.id)
    got = as_user(db_world, dbrow, pre + "vaultapp", owner.password, "SELECT v FROM t")
    assert got["ok"] and got["out"] == [[["kept"]]], got
    assert [j.status.value for j in jobs] == ["failed"], [(j.status.value, j.explanation) for j in jobs]
    assert "owner role of the database" in jobs[0].explanation, jobs[0].explanation
