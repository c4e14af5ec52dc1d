"""The web console without a password, on the lab's real DB host: a console session's job makes a
short-lived login and a single-use ticket; phpMyAdmin's sign-on page (MariaDB) or the Adminer
wrapper (PostgreSQL), nginx + php-fpm over TLS with a certificate from the panel's CA, trades the
ticket for the login and shows the user's database; the ticket works once; the sweep drops the
login and the ticket; another ministry cannot open it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import ssl

import pymysql
import pytest
from sqlalchemy import select

from panel import db
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases import sweeps
from panel.capabilities.databases.models import ConsoleStatus, DbConsole, DbUser
from panel.errors import NotFound
from panel.models.audit import AuditEntry
from panel.models.hosts import Host
from panel.models.jobs import Job, JobEvent
from panel.services import pki
from provisioners import lab as L
from tests.capabilities.databases.conftest import DB_HOST, finish_jobs, job_text, sql_from
from tests.capabilities.databases.test_mariadb_lab import as_user, make_db, make_user
from tests.support.clients import BrowserLike, http_get

pytestmark = pytest.mark.lab

TICKETS = "/var/lib/govhost-console/tickets"


def mysql(sql: str) -> str:
    return L.host_exec(DB_HOST[0], "mysql", "-N", "-B", "-e", sql).stdout


def test_console_signs_on_once_shows_the_database_and_the_sweep_drops_the_login(db_world, tmp_path):
    with db.unit_of_work() as s:
        facts = s.get(Host, db_world.db_host.id).facts or {}
    assert "mariadb" in (facts.get("db_console") or []), facts  # the real server job set it up
    assert "postgresql" in facts["db_console"] and not facts.get("db_console_missing"), facts  # Adminer too
    dbrow = make_db(db_world, "cons")
    issued = make_user(db_world, dbrow, "consu")
    name = f"mina{db_world.a.id}_consu"
    made = as_user(db_world, dbrow, name, issued.password, "CREATE TABLE console_probe (id INT PRIMARY KEY)")
    assert made["ok"], made
    with db.unit_of_work() as s:
        user_id = s.scalars(select(DbUser.id).where(DbUser.name == name)).one()

    # Another ministry cannot open it (as if the user did not exist).
    with pytest.raises(NotFound):
        db_svc.db_console_open(db_world.ab, user_id=user_id)

    opened = db_svc.db_console_open(db_world.aa, user_id=user_id)
    linked = db_svc.db_console_open(db_world.aa, user_id=user_id)  # signed on by a link (GET), below
    assert opened.url == f"https://{db_world.db_ip}:8443/signon/mariadb.php"
    # The console's certificate chains to the panel's CA and names the address (verified TLS);
    # another CA's trust does not accept it.
    ca = tmp_path / "panel-ca.pem"
    ca.write_text(pki.ca_pem())
    assert http_get(f"https://{db_world.db_ip}:8443/signon/mariadb.php", cafile=str(ca)).status == 403
    other = tmp_path / "other-ca"
    (tmp_path / "other-ca.pem").write_text(pki.ca_pem(other))
    with pytest.raises(ssl.SSLCertVerificationError):
        http_get(f"https://{db_world.db_ip}:8443/signon/mariadb.php", cafile=str(tmp_path / "other-ca.pem"))

    jobs = finish_jobs(db_world.settings)
    assert [j.status.value for j in jobs] == ["successful"] * 2, [job_text(j) for j in jobs]
    with db.unit_of_work() as s:
        row = s.get(DbConsole, opened.id)
        assert (
            row.status == ConsoleStatus.OPEN and row.ticket_sha256 == hashlib.sha256(opened.ticket.encode()).hexdigest()
        )
        login = row.login
    # The login is at localhost only (with skip-name-resolve: the server's own socket), and its
    # ticket file waits for the sign-on page, the web server's and 0600.
    assert mysql(f"SELECT Host FROM mysql.user WHERE User = '{login}'").split() == ["localhost"]  # noqa: S608
    listing = L.host_exec(DB_HOST[0], "stat", "-c", "%U %a %n", f"{TICKETS}/{row.ticket_sha256}").stdout
    assert listing.startswith("www-data 600 "), listing

    # The browser posts the ticket to the sign-on page and lands in phpMyAdmin, signed on.
    browser = BrowserLike()
    landed = browser.post(opened.url, {"ticket": opened.ticket})
    assert landed.status == 200, (landed.status, landed.text[:500])
    page = browser.get(f"https://{db_world.db_ip}:8443/phpmyadmin/index.php?route=/database/structure&db={dbrow.name}")
    assert page.status == 200 and "console_probe" in page.text, page.text[:1000]
    assert login in page.text  # phpMyAdmin shows who is signed on: the console login
    # The ticket was taken: its file is gone and a second use is refused.
    gone = L.host_exec(DB_HOST[0], "ls", "-A", TICKETS).stdout
    assert row.ticket_sha256 not in gone, gone
    again = BrowserLike().post(opened.url, {"ticket": opened.ticket})
    assert again.status == 403 and "unknown, used or expired" in again.text, (again.status, again.text[:300])
    # A made-up ticket too.
    assert BrowserLike().post(opened.url, {"ticket": "A" * 43}).status == 403

    # The second session by a link (the API's and the CLI's form): its login works on the socket
    # only; with the very password from its ticket file a TCP connection is refused.
    with db.unit_of_work() as s:
        second = s.get(DbConsole, linked.id)
    raw = L.host_exec(DB_HOST[0], "cat", f"{TICKETS}/{second.ticket_sha256}").stdout
    secret = json.loads(raw)["password"]
    L.assert_pinned(db_world.db_ip)
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(
            host=db_world.db_ip, user=second.login, password=secret, bind_address=L.GATEWAY, connect_timeout=5
        )
    by_tcp = sql_from(
        DB_HOST[0], engine="mariadb", host="127.0.0.1", user=second.login, password=secret, database=dbrow.name,
        sql=["SELECT 1"],
    )  # fmt: skip
    assert not by_tcp["ok"], by_tcp  # not even from the DB host itself over TCP
    browser2 = BrowserLike()
    assert browser2.get(f"{linked.url}?ticket={linked.ticket}").status == 200
    page = browser2.get(f"https://{db_world.db_ip}:8443/phpmyadmin/index.php?route=/database/structure&db={dbrow.name}")
    assert "console_probe" in page.text and second.login in page.text
    # The console's access log records paths, never a query (a ticket may travel in one).
    logs = L.host_exec(DB_HOST[0], "sh", "-c", "cat /var/log/nginx/*.log").stdout
    assert "/signon/mariadb.php" in logs and linked.ticket not in logs and opened.ticket not in logs

    # Not yet expired: the sweep leaves it open.
    assert sweeps.console_expire(db_world.system) == []
    # Past its time: the sweep's job drops the login (and any session of it) and the ticket.
    with db.unit_of_work() as s:
        for o in (opened, linked):
            s.get(DbConsole, o.id).expires_at = db.utcnow() - dt.timedelta(seconds=1)
    swept = sweeps.console_expire(db_world.system)
    assert len(swept) == 1  # one job closes both sessions of the host
    jobs = finish_jobs(db_world.settings)
    assert [j.status.value for j in jobs] == ["successful"], [job_text(j) for j in jobs]
    assert mysql("SELECT Host FROM mysql.user WHERE User LIKE 'govhost\\_console\\_%'").split() == []
    with db.unit_of_work() as s:
        row = s.get(DbConsole, opened.id)
        assert row.status == ConsoleStatus.CLOSED and row.closed_at is not None
        actions = list(
            s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.object_type == "db_console", AuditEntry.object_id == str(opened.id)
                )
            )
        )
        blobs = [repr(j.__dict__) for j in s.scalars(select(Job))]
        blobs += [repr(e.__dict__) for e in s.scalars(select(JobEvent))]
        blobs += [repr(a.__dict__) for a in s.scalars(select(AuditEntry))]
    assert sorted(actions) == ["databases.console_closed", "databases.console_open"], actions
    # The same browser's phpMyAdmin session no longer gets in: the login is gone.
    after = browser.get(f"https://{db_world.db_ip}:8443/phpmyadmin/index.php?route=/database/structure&db={dbrow.name}")
    assert "console_probe" not in after.text
    # The ticket is in no job, job event or audit entry (only its digest is kept).
    assert blobs and not [b for b in blobs if opened.ticket in b or linked.ticket in b or secret in b]
    # The sweep has nothing more to do.
    assert sweeps.console_expire(db_world.system) == []


PSQL = 'read -r PGPASSWORD; export PGPASSWORD; exec psql -h "$1" -U "$2" -d "$3" -At -c "$4"'


def test_postgresql_console_signs_on_in_adminer_on_the_socket_only_and_is_swept(db_world):
    """Adminer for PostgreSQL (php-pgsql in the image and the role): the real job's login, with the
    password of its ticket file, reads the user's table through the local socket, its sessions run
    as the database's owner role, it is refused over TCP (from the web host and from the DB host
    itself); the browser posts the ticket once and Adminer shows the table, signed on as the login;
    the sweep's job drops the login,
    after which the same browser session no longer gets in."""
    from tests.capabilities.databases import test_postgresql_lab as pg

    with db.unit_of_work() as s:
        facts = s.get(Host, db_world.db_host.id).facts or {}
    assert "postgresql" in facts.get("db_console", []), facts  # the real server job set Adminer up
    dbrow = pg.make_db(db_world, "pgcons")
    issued = pg.make_user(db_world, dbrow, "pgconsu")
    name = f"mina{db_world.a.id}_pgconsu"
    made = pg.as_user(
        db_world, dbrow, name, issued.password, "CREATE TABLE probe (v text)", "INSERT INTO probe VALUES ('seen')"
    )
    assert made["ok"], made
    with db.unit_of_work() as s:
        user_id = s.scalars(select(DbUser.id).where(DbUser.name == name)).one()
    opened = db_svc.db_console_open(db_world.aa, user_id=user_id)
    assert opened.url == f"https://{db_world.db_ip}:8443/adminer/"
    jobs = finish_jobs(db_world.settings)
    assert [j.status.value for j in jobs] == ["successful"], [job_text(j) for j in jobs]
    with db.unit_of_work() as s:
        row = s.get(DbConsole, opened.id)
    ticket = json.loads(L.host_exec(DB_HOST[0], "cat", f"{TICKETS}/{row.ticket_sha256}").stdout)
    assert ticket["engine"] == "postgresql" and ticket["user"] == row.login and ticket["database"] == dbrow.name
    sock = L.host_exec(
        DB_HOST[0], "sh", "-c", PSQL, "sh", "/var/run/postgresql", row.login, dbrow.name,
        "SELECT v FROM probe; SELECT current_user", input=ticket["password"] + "\n", check=False,
    )  # fmt: skip
    assert sock.stdout.split() == ["seen", dbrow.name], (sock.stdout, sock.stderr)
    tcp = L.host_exec(
        DB_HOST[0], "sh", "-c", PSQL, "sh", "127.0.0.1", row.login, dbrow.name, "SELECT 1",
        input=ticket["password"] + "\n", check=False,
    )  # fmt: skip
    assert tcp.returncode != 0 and "reject" in tcp.stderr, tcp.stderr
    remote = pg.as_user(db_world, dbrow, row.login, ticket["password"], "SELECT 1")
    assert not remote["ok"] and "pg_hba.conf" in remote["error"], remote

    # The browser posts the ticket and lands in Adminer, signed on as the console login; the
    # password stays in the PHP session on the DB host (the browser holds a session cookie only).
    browser = BrowserLike()
    landed = browser.post(opened.url, {"ticket": opened.ticket})
    assert landed.status == 200 and row.login in landed.text, (landed.status, landed.text[:800])
    assert ticket["password"] not in landed.text and ticket["password"] not in repr(browser.cookies)
    table = f"{opened.url}?pgsql=&username={row.login}&db={dbrow.name}&ns=public&select=probe"
    page = browser.get(table)
    assert page.status == 200 and "seen" in page.text, page.text[:1500]
    gone = L.host_exec(DB_HOST[0], "ls", "-A", TICKETS).stdout
    assert row.ticket_sha256 not in gone, gone
    again = BrowserLike().post(opened.url, {"ticket": opened.ticket})
    assert again.status == 403 and "unknown, used or expired" in again.text, (again.status, again.text[:300])
    # Adminer's own login form is refused: no login but a ticket's.
    forger = BrowserLike()
    forged = forger.post(
        opened.url,
        {"auth[driver]": "pgsql", "auth[server]": "", "auth[username]": name, "auth[password]": issued.password,
         "auth[db]": dbrow.name},
    )  # fmt: skip
    assert "seen" not in forger.get(table.replace(row.login, name)).text, forged.text[:800]

    with db.unit_of_work() as s:
        s.get(DbConsole, opened.id).expires_at = db.utcnow() - dt.timedelta(seconds=1)
    assert len(sweeps.console_expire(db_world.system)) == 1
    jobs = finish_jobs(db_world.settings)
    assert [j.status.value for j in jobs] == ["successful"], [job_text(j) for j in jobs]
    gone = L.host_exec(
        DB_HOST[0], "runuser", "-u", "postgres", "--", "psql", "-At", "-c",
        f"SELECT count(*) FROM pg_roles WHERE rolname = '{row.login}'",  # noqa: S608 (the test's own name)
    ).stdout  # fmt: skip
    assert gone.strip() == "0"
    with db.unit_of_work() as s:
        assert s.get(DbConsole, opened.id).status == ConsoleStatus.CLOSED
    # The same browser's Adminer session no longer gets in: the login is gone.
    after = browser.get(table)
    assert "seen" not in after.text, after.text[:800]
    # the user itself still works
    assert pg.as_user(db_world, dbrow, name, issued.password, "SELECT v FROM probe")["ok"]
