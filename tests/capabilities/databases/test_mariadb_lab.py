"""Tenant databases on a real MariaDB (lab hosts): request -> approval -> job -> the issued
credentials work from the web host and nowhere else; profiles hold; deletion cleans up."""

from __future__ import annotations

import pymysql
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases.models import Database, DbStatus, DbUser
from panel.models.jobs import Job, JobEvent
from provisioners import lab as L
from tests.capabilities.databases.conftest import DB_HOST, WEB_HOST, approve_and_run, link_web_site, sql_from

pytestmark = pytest.mark.lab


def make_db(world, name="blog", actor=None, org=None, link=True):
    req = db_svc.database_create(actor or world.aa, org_id=(org or world.a).id, engine="mariadb", name=name)
    assert req.status.value == "submitted"  # a new database waits for the data center
    approve_and_run(world, req)
    with db.unit_of_work() as s:
        row = s.scalars(select(Database).where(Database.request_id == req.id)).one()
    if link:
        link_web_site(world, row, org, actor)
    return row


def make_user(world, dbrow, name, profile="owner", actor=None):
    issued = db_svc.db_user_create(actor or world.aa, database_id=dbrow.id, name=name, profile=profile)
    approve_and_run(world, issued.request)
    return issued


def as_user(world, dbrow, user, password, *sql, where=WEB_HOST[0]):
    return sql_from(
        where, engine="mariadb", host=world.db_ip, user=user, password=password, database=dbrow.name, sql=list(sql)
    )


def assert_refused_at_the_gateway(err: pymysql.err.OperationalError, user: str) -> None:
    """A connection from the lab gateway as `user` was refused because no entry of the user is for
    that address: the user's entries are the web host's and the locked anchor (localhost) only.

    Which code MariaDB gives depends on the whole server, not on the user: 1130 (host not allowed)
    only while no account at all could match the address. Any account with a wildcard or netmask
    host (another application's 'appx_user'@'%', as test_drift_lab leaves on the shared DB host)
    lets the host check pass; the refusal then comes from authenticating against a stand-in
    account the server picks by a hash of the user name (sql_acl.cc, find_mpvio_user), so it is
    1045, or 1698 when the stand-in is a unix_socket account like root: what an unknown user gets."""
    mine = f"SELECT Host FROM mysql.user WHERE User = '{user}'"  # noqa: S608 (a name the test made)
    entries = L.host_exec(DB_HOST[0], "mysql", "-N", "-B", "-e", mine).stdout.split()
    assert sorted(entries) == sorted([WEB_HOST[1], "localhost"]), entries
    wild = "Host LIKE '%\\%%' OR Host LIKE '%\\_%' OR Host LIKE '%/%'"  # '%', '_' or address/netmask
    sql = f"SELECT User, Host FROM mysql.user WHERE {wild} OR Host = '{L.GATEWAY}'"  # noqa: S608 (fixed values)
    open_to = L.host_exec(DB_HOST[0], "mysql", "-N", "-B", "-e", sql).stdout
    if not open_to.strip():
        assert err.args[0] == 1130, err  # "Host ... is not allowed to connect"
    else:
        assert err.args[0] in (1130, 1045, 1698), (err, open_to)


def test_request_approve_job_connect_from_web_host_only(db_world):
    dbrow = make_db(db_world)
    assert dbrow.status == DbStatus.ACTIVE and dbrow.name == f"mina{db_world.a.id}_blog"
    issued = make_user(db_world, dbrow, "app")
    assert issued.password and len(issued.password) >= 20
    user = f"mina{db_world.a.id}_app"
    got = as_user(
        db_world,
        dbrow,
        user,
        issued.password,
        "CREATE TABLE posts (id INT PRIMARY KEY, title VARCHAR(50))",
        "INSERT INTO posts VALUES (1, 'សួស្តី')",
        "SELECT title FROM posts",
        "SELECT @@character_set_database",
    )
    assert got["ok"], got
    assert got["out"][2] == [["សួស្តី"]] and got["out"][3] == [["utf8mb4"]]
    # From the controller (the lab gateway, not a web host) the same credentials are refused.
    L.assert_pinned(db_world.db_ip)
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(
            host=db_world.db_ip,
            user=user,
            password=issued.password,
            database=dbrow.name,
            bind_address=L.GATEWAY,
            connect_timeout=5,
        )
    assert_refused_at_the_gateway(refused.value, user)
    # A database no site uses accepts no address, not even the web host; a linked site opens it to
    # its web host (the user's verifier waited in a locked entry: no new password needed).
    lone = make_db(db_world, "lone", link=False)
    loner = make_user(db_world, lone, "loner")
    shut = as_user(db_world, lone, f"mina{db_world.a.id}_loner", loner.password, "SELECT 1")
    assert not shut["ok"] and ("1130" in shut["error"] or "Access denied" in shut["error"]), shut
    link_web_site(db_world, lone)
    assert as_user(db_world, lone, f"mina{db_world.a.id}_loner", loner.password, "SELECT 1")["ok"]
    # Wrong password from the allowed host: refused too.
    assert not as_user(db_world, dbrow, user, issued.password + "x", "SELECT 1")["ok"]
    # The password is in no job output, event or audit entry (it never left the service).
    with db.unit_of_work() as s:
        blobs = [repr(j.__dict__) for j in s.scalars(select(Job))] + [
            repr(e.__dict__) for e in s.scalars(select(JobEvent))
        ]
        from panel.models.audit import AuditEntry

        blobs += [repr(a.__dict__) for a in s.scalars(select(AuditEntry))]
    assert blobs and not [b for b in blobs if issued.password in b]


def test_profiles_read_only_cannot_write_and_grants_follow_changes(db_world):
    dbrow = make_db(db_world, "shop")
    owner = make_user(db_world, dbrow, "owner")
    reader = make_user(db_world, dbrow, "reader", profile="readonly")
    pre = f"mina{db_world.a.id}_"
    assert as_user(
        db_world, dbrow, pre + "owner", owner.password, "CREATE TABLE t (x INT)", "INSERT INTO t VALUES (1)"
    )["ok"]
    got = as_user(db_world, dbrow, pre + "reader", reader.password, "SELECT x FROM t")
    assert got["ok"] and got["out"] == [[[1]]]
    denied = as_user(db_world, dbrow, pre + "reader", reader.password, "INSERT INTO t VALUES (2)")
    assert not denied["ok"] and "denied" in denied["error"]
    # read-write: data yes, schema no
    with db.unit_of_work() as s:
        rid = s.scalars(select(DbUser.id).where(DbUser.name == pre + "reader")).one()
    approve_and_run(db_world, db_svc.db_grant_set(db_world.aa, user_id=rid, database_id=dbrow.id, profile="readwrite"))
    assert as_user(db_world, dbrow, pre + "reader", reader.password, "INSERT INTO t VALUES (2)")["ok"]
    assert not as_user(db_world, dbrow, pre + "reader", reader.password, "DROP TABLE t")["ok"]
    # password reset: the old one stops working, the new one (shown once) works
    reset = db_svc.db_user_password_reset(db_world.aa, user_id=rid)
    approve_and_run(db_world, reset.request)
    assert not as_user(db_world, dbrow, pre + "reader", reader.password, "SELECT 1")["ok"]
    assert as_user(db_world, dbrow, pre + "reader", reset.password, "SELECT COUNT(*) FROM t")["ok"]
    # delete the user, then the database: both gone from the server
    approve_and_run(db_world, db_svc.db_user_delete(db_world.aa, user_id=rid))
    assert not as_user(db_world, dbrow, pre + "reader", reset.password, "SELECT 1")["ok"]
    approve_and_run(db_world, db_svc.database_delete(db_world.aa, database_id=dbrow.id))
    gone = as_user(db_world, dbrow, pre + "owner", owner.password, "SELECT 1")
    assert not gone["ok"]
    out = L.host_exec(DB_HOST[0], "mariadb", "-N", "-e", "SHOW DATABASES; SELECT Db FROM mysql.db").stdout
    assert dbrow.name not in out and dbrow.name.replace("_", "\\\\_") not in out
    with db.unit_of_work() as s:
        assert s.get(Database, dbrow.id).status == DbStatus.DELETED


def test_remote_access_needs_tls_and_ends_at_expiry(db_world, tmp_path):
    """Remote access by request: approved, the controller's network reaches the database over TLS
    only; past its expiry the sweep takes it off the server and the same connection is refused.
    The client verifies the server (--ssl-verify-server-cert): the panel CA's certificate for the
    host's address."""
    import datetime as dt

    from panel.capabilities.databases.models import DbRemoteAccess
    from panel.capabilities.databases.sweeps import remote_access_expire
    from panel.services import pki
    from tests.capabilities.databases.conftest import finish_jobs

    dbrow = make_db(db_world, "remote")
    issued = make_user(db_world, dbrow, "far")
    user = f"mina{db_world.a.id}_far"
    L.assert_pinned(db_world.db_ip)
    ca = tmp_path / "panel-ca.pem"
    ca.write_text(pki.ca_pem())

    def from_gateway(tls: bool = True, cafile=ca):
        verified = {"ssl_ca": str(cafile), "ssl_verify_cert": True, "ssl_verify_identity": True}
        return pymysql.connect(
            host=db_world.db_ip,
            user=user,
            password=issued.password,
            database=dbrow.name,
            bind_address=L.GATEWAY,
            connect_timeout=5,
            **(verified if tls else {"ssl_disabled": True}),
        )

    with pytest.raises(pymysql.err.OperationalError):
        from_gateway()
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).date().isoformat()
    req = db_svc.db_remote_request(
        db_world.aa, database_id=dbrow.id, cidr=f"{L.GATEWAY}/32", reason="Reporting office", expires_at=until
    )
    assert req.status.value == "submitted"
    approve_and_run(db_world, req)
    conn = from_gateway()
    with conn.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchone()[1]  # the session is encrypted
        cur.execute("CREATE TABLE far (x INT)")
        cur.execute("INSERT INTO far VALUES (1)")
    conn.close()
    # The verification is real: a client trusting another CA refuses the server.
    (tmp_path / "other-ca.pem").write_text(pki.ca_pem(tmp_path / "other-ca"))
    with pytest.raises(pymysql.err.OperationalError) as other:
        from_gateway(cafile=tmp_path / "other-ca.pem")
    assert "CERTIFICATE_VERIFY_FAILED" in str(other.value)
    with pytest.raises(pymysql.err.OperationalError) as plain:
        from_gateway(tls=False)
    assert plain.value.args[0] == 1045  # REQUIRE SSL: the same password without TLS is refused
    # Time passes: the access expires, the sweep removes it, the same TLS connection is refused.
    with db.unit_of_work() as s:
        s.scalars(select(DbRemoteAccess).where(DbRemoteAccess.request_id == req.id)).one().expires_at = (
            db.utcnow() - dt.timedelta(seconds=1)
        )
    assert len(remote_access_expire(db_world.system)) == 1
    for job in finish_jobs(db_world.settings):
        assert job.status.value == "successful", job.explanation
    with pytest.raises(pymysql.err.OperationalError) as gone:
        from_gateway()
    assert_refused_at_the_gateway(gone.value, user)
    # The web host (its site's link) still reaches it.
    assert as_user(db_world, dbrow, user, issued.password, "SELECT COUNT(*) FROM far")["ok"]


def test_write_freeze_at_budget_keeps_delete_and_lifts_below_90(db_world):
    """Usage measured by the real job (one query on the host): at 100% of a 10 MB budget writes
    stop (INSERT refused) while SELECT, DELETE and DROP work; below 90% writes work again."""
    from panel.capabilities.databases.sweeps import usage_collect
    from panel.models.audit import AuditEntry
    from tests.capabilities.databases.conftest import finish_jobs, link_web_site

    req = db_svc.database_create(db_world.aa, org_id=db_world.a.id, engine="mariadb", name="full", size_mb=10)
    approve_and_run(db_world, req)
    with db.unit_of_work() as s:
        dbrow = s.scalars(select(Database).where(Database.request_id == req.id)).one()
    link_web_site(db_world, dbrow)
    owner = make_user(db_world, dbrow, "filler")
    user = f"mina{db_world.a.id}_filler"

    def sql(*stmts):
        return as_user(db_world, dbrow, user, owner.password, *stmts)

    def measure() -> Database:
        usage_collect(db_world.system)
        for job in finish_jobs(db_world.settings):
            assert job.status.value == "successful", job.explanation
        with db.unit_of_work() as s:
            return s.get(Database, dbrow.id)

    filled = sql(
        "CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB)",
        *[f"INSERT INTO blobs VALUES ({i}, REPEAT('x', 1048576))" for i in range(12)],  # noqa: S608 (fixed numbers)
        "ANALYZE TABLE blobs",
    )
    assert filled["ok"], filled
    row = measure()
    assert row.used_mb >= 10 and row.frozen_at is not None, (row.used_mb, row.frozen_at)
    denied = sql("INSERT INTO blobs VALUES (100, 'x')")
    assert not denied["ok"] and "denied" in denied["error"], denied
    assert not sql("CREATE TABLE more (x INT)")["ok"]
    assert sql("SELECT COUNT(*) FROM blobs")["out"] == [[[12]]]
    assert sql("DELETE FROM blobs WHERE id = 0")["ok"]  # the owner can clean up
    assert sql("DROP TABLE blobs")["ok"]
    row = measure()
    assert row.frozen_at is None and row.used_mb < 9, row.used_mb
    assert sql("CREATE TABLE again (x INT)", "INSERT INTO again VALUES (1)")["ok"]
    with db.unit_of_work() as s:
        actions = {a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_id == str(dbrow.id)))}
    assert {"databases.write_frozen", "databases.write_unfrozen", "databases.usage_notice"} <= actions


def test_remote_access_revoked_before_expiry(db_world):
    """A ministry ends its remote access days before it expires: the revoke request (automatic)
    runs its apply job, the same TLS connection from the controller is refused at once, the web
    host still connects, and the audit log names the revoke."""
    import datetime as dt

    from panel.capabilities.databases.models import DbRemoteAccess
    from panel.models.audit import AuditEntry

    dbrow = make_db(db_world, "early")
    issued = make_user(db_world, dbrow, "early")
    user = f"mina{db_world.a.id}_early"
    L.assert_pinned(db_world.db_ip)

    def from_gateway():
        return pymysql.connect(
            host=db_world.db_ip,
            user=user,
            password=issued.password,
            database=dbrow.name,
            bind_address=L.GATEWAY,
            connect_timeout=5,
            ssl={"check_hostname": False},
        )

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()
    req = db_svc.db_remote_request(
        db_world.aa, database_id=dbrow.id, cidr=f"{L.GATEWAY}/32", reason="Audit visit", expires_at=until
    )
    approve_and_run(db_world, req)
    from_gateway().close()  # works while granted
    with db.unit_of_work() as s:
        access = s.scalars(select(DbRemoteAccess).where(DbRemoteAccess.request_id == req.id)).one()
    ended = db_svc.db_remote_revoke(db_world.aa, database_id=dbrow.id, access_id=access.id)
    assert ended.status.value == "provisioning"  # automatic: access only shrinks
    approve_and_run(db_world, ended)
    with pytest.raises(pymysql.err.OperationalError) as gone:
        from_gateway()
    assert_refused_at_the_gateway(gone.value, user)  # no entry for that address any more
    assert as_user(db_world, dbrow, user, issued.password, "SELECT 1")["ok"]  # the web host still connects
    with db.unit_of_work() as s:
        row = s.get(DbRemoteAccess, access.id)
        assert row.status.value == "revoked" and row.expires_at > db.utcnow()
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "databases.remote_access_revoked")).one()
        assert entry.object_id == str(access.id) and entry.actor_name
