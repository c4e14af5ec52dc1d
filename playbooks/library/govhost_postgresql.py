#!/usr/bin/python3
"""govhost_postgresql: a batch of tenant databases, roles and privileges on PostgreSQL in ONE call.

The PostgreSQL twin of govhost_mariadb, for the same reason (one process and one connection per
batch instead of one community.postgresql task per object). It connects with psycopg2 (the
collection's driver) over the local socket as the `postgres` role (the module drops to that OS user:
peer authentication, so govhost holds no server password); identifiers go through psycopg2's own
`sql.Identifier` and values (verifiers, addresses) are bound parameters. Names are checked against
govhost's alphabet here too.

Model. Each database is owned by a NOLOGIN role of the same name (so a user never bears a
database's name: the module refuses to touch such a user). Profiles:
- owner: member of that role, and inside the database the session runs as it
  (`ALTER ROLE u IN DATABASE d SET role = d`), so what one owner creates every owner manages;
- readwrite: CONNECT, USAGE on schema public, SELECT/INSERT/UPDATE/DELETE (+ sequences) on what
  exists and, by default privileges of the owner role, on what it creates later;
- readonly: CONNECT, USAGE, SELECT likewise.
CONNECT is revoked from PUBLIC on every tenant database. A user's addresses become lines of a
govhost block in pg_hba.conf (scram-sha-256; hostssl where TLS is required), reloaded when changed.

Write-freeze (a database at its size budget, `write_frozen`): the owner role loses INSERT and
UPDATE on every table (PUBLIC too), and an event trigger of govhost's own schema (owned by postgres,
so the tenant cannot drop it) refuses every DDL command but DROP: no CREATE, ALTER or GRANT back.
SELECT, DELETE, TRUNCATE and DROP stay, so the owner can clean up. Lifting it drops the trigger and
gives the owner role INSERT and UPDATE back. (Sizes are read without this module: the panel's
databases.usage job runs one query per engine over SSH.)

Console mode (`console`: {open: [...]} or {close: [...]}) makes or drops a web console's
short-lived login `govhost_console_N`: a member of the user's role (so it holds exactly the user's
privileges; inside an owned database its sessions run as the owner role, as the user's do) and of
`govhost_console`, the only role a `local ... scram-sha-256` line of pg_hba lets in by the socket (no
host line names it: nothing reaches it over the network), VALID UNTIL its expiry. The password is
made by the root parent, which writes the ticket file (module_utils/govhost_console.py); the child
only sees its SCRAM verifier.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import pwd
import re
import tempfile
import threading
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.govhost_console import check_console, new_password, remove_ticket, write_ticket

try:
    import psycopg2
    import psycopg2.errors
    from psycopg2 import sql
except ImportError:  # pragma: no cover
    psycopg2 = None

DOCUMENTATION = r"""
module: govhost_postgresql
short_description: Batched tenant databases, roles and privileges on PostgreSQL (govhost)
options:
  objects: {type: raw, default: {}, description: "{databases: [...], users: [...], hba: [...]} or its JSON"}
  console: {type: raw, default: {}, description: "{open: [...]} or {close: [...]}: web console logins (or its JSON)"}
  ticket_dir: {type: str, default: /var/lib/govhost-console/tickets}
  verifiers: {type: raw, default: {}, no_log: true, description: "user name -> SCRAM-SHA-256 verifier (or its JSON)"}
  hba_file: {type: str, required: true}
"""

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PREFIX_RE = re.compile(r"^[a-z]{0,8}[0-9]+_$")  # a ministry's prefix (rules.prefix_of)
CIDR_RE = re.compile(r"^[0-9a-f.:]{2,39}/[0-9]{1,3}$")
VERIFIER_RE = re.compile(r"^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")
PROFILES = ("owner", "readwrite", "readonly", "frozen")
# Sessions making new databases at once (CREATE DATABASE is mostly copying template0: CPU and disk,
# which a server's cores share out; more sessions than that only queue).
CREATE_WORKERS = 4
CONSOLE_GROUP = "govhost_console"  # pg_hba: `local all +govhost_console scram-sha-256` (role postgresql)
BEGIN, END = "# BEGIN govhost tenants (managed: changes here are overwritten)", "# END govhost tenants"
TABLE_PRIVS = {"readwrite": "SELECT, INSERT, UPDATE, DELETE", "readonly": "SELECT", "frozen": "SELECT, DELETE"}


def check(objects: dict, verifiers: dict) -> None:
    for d in objects.get("databases", []):
        if not NAME_RE.match(str(d.get("name", ""))) or d.get("state") not in ("present", "absent"):
            raise ValueError(f"bad database entry {str(d)[:100]!r}")
        if not isinstance(d.get("conn_limit", -1), int):
            raise ValueError("conn_limit must be a number")
    for u in objects.get("users", []):
        if not NAME_RE.match(str(u.get("name", ""))) or u.get("state") not in ("present", "absent"):
            raise ValueError(f"bad user entry {u.get('name')!r}")
        for db, profile in (u.get("grants") or {}).items():
            if not NAME_RE.match(db) or profile not in PROFILES:
                raise ValueError(f"bad grant {db!r}: {profile!r}")
        for db in u.get("revoke") or []:
            if not NAME_RE.match(db):
                raise ValueError(f"bad database {db!r}")
    for line in objects.get("hba", []):
        if line.get("type") not in ("host", "hostssl") or not NAME_RE.match(str(line.get("user", ""))):
            raise ValueError(f"bad hba entry {str(line)[:100]!r}")
        if not NAME_RE.match(str(line.get("database", ""))) or not CIDR_RE.match(str(line.get("address", ""))):
            raise ValueError(f"bad hba entry {str(line)[:100]!r}")
    for name, v in verifiers.items():
        if not NAME_RE.match(name) or not VERIFIER_RE.match(str(v)):
            raise ValueError(f"bad verifier for {name!r}")


FREEZE_SCHEMA, FREEZE_TRIGGER = "govhost", "govhost_write_freeze"
# Runs for every DDL command in the database; a superuser session (govhost's own jobs) passes.
FREEZE_FUNCTION = """
CREATE OR REPLACE FUNCTION govhost.write_freeze() RETURNS event_trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF tg_tag LIKE 'DROP %' OR (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN
    RETURN;
  END IF;
  RAISE EXCEPTION 'database % is write-frozen: it is at its size budget (DELETE, TRUNCATE or DROP to clean up)',
    current_database() USING ERRCODE = 'insufficient_privilege';
END
$f$
"""
# Large objects are written through these functions, which PUBLIC may run by default.
LO_WRITERS = (
    "lo_creat(integer), lo_create(oid), lo_from_bytea(oid, bytea), lowrite(integer, bytea), lo_put(oid, bigint, bytea)"
)
USER_SCHEMAS = (
    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
    " AND nspname <> 'govhost' ORDER BY nspname"
)


def I(name: str) -> sql.Identifier:  # noqa: E743 (short: it is on every line)
    return sql.Identifier(name)


class Batch:
    def __init__(self, socket_dir: str):
        self.socket_dir = socket_dir
        self.main = self.connect("postgres")
        self.changed = False
        # The apply path (load()) reads the roles and databases once and keeps these up to date;
        # None elsewhere (console, drift): every check asks the server.
        self.roles: set[str] | None = None
        self.dbs: dict[str, int] | None = None  # name -> connection limit
        self.fresh_roles: set[str] = set()  # made in this run: they hold nothing yet
        self.fresh_dbs: set[str] = set()  # made in this run from template0: nothing in them is granted
        self._in_db: tuple[str, object] | None = None  # the one open connection inside a tenant database

    def load(self) -> None:
        with self.main.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles")
            self.roles = {r[0] for r in cur.fetchall()}
            cur.execute("SELECT datname, datconnlimit FROM pg_database")
            self.dbs = dict(cur.fetchall())

    def in_db(self, dbname: str):
        """A connection inside `dbname`, kept open while the batch works on that database (a new
        backend costs a fork and a catalog load: one per database, not one per statement group)."""
        if not self.main.autocommit:  # the other session must see the roles made so far
            self.main.commit()
        if self._in_db is not None and self._in_db[0] == dbname:
            return self._in_db[1]
        self.close_in_db()
        conn = self.connect(dbname)
        self._in_db = (dbname, conn)
        return conn

    def close_in_db(self) -> None:
        if self._in_db is not None:
            self._in_db[1].close()
            self._in_db = None

    def connect(self, dbname: str):
        conn = psycopg2.connect(host=self.socket_dir, dbname=dbname, user="postgres")
        conn.autocommit = True
        return conn

    def one(self, conn, query, args=()):
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchone()

    def run(self, conn, query, args=()) -> None:
        with conn.cursor() as cur:
            cur.execute(query, args)
        self.changed = True

    def role_exists(self, name: str) -> bool:
        if self.roles is not None:
            return name in self.roles
        return self.one(self.main, "SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)) is not None

    def db_limit(self, name: str) -> int | None:
        """The database's connection limit, None when there is no such database."""
        if self.dbs is not None:
            return self.dbs.get(name)
        row = self.one(self.main, "SELECT datconnlimit FROM pg_database WHERE datname = %s", (name,))
        return None if row is None else row[0]

    def _noted(self, kind: str, name: str, present: bool, limit: int = -1) -> None:
        """Keep load()'s view of the server true after this batch made or dropped something."""
        if kind == "role" and self.roles is not None:
            (self.roles.add if present else self.roles.discard)(name)
        if kind == "database" and self.dbs is not None:
            if present:
                self.dbs[name] = limit
            else:
                self.dbs.pop(name, None)

    def databases(self, entries: list[dict], workers: int = CREATE_WORKERS) -> dict:
        """Every database entry of the batch. New databases are made by up to `workers` sessions at
        once: CREATE DATABASE copies template0 (about 7 MB of catalog pages, WAL-logged) and
        cannot run in a transaction, so done one by one they are most of a large batch's time."""
        new = [d for d in entries if d["state"] == "present" and self.db_limit(d["name"]) is None]
        for d in new:  # the owner roles first (cheap, one session)
            if not self.role_exists(d["name"]):
                self.run(self.main, sql.SQL("CREATE ROLE {} NOLOGIN").format(I(d["name"])))
                self._noted("role", d["name"], True)
                self.fresh_roles.add(d["name"])
        self.create_databases([(d["name"], self.limit_of(d)) for d in new], workers)
        for d in entries:
            self.database(d)
        return {"created": len(new), "workers": min(workers, len(new))}

    @staticmethod
    def limit_of(d: dict) -> int:
        return 0 if d.get("frozen") else int(d.get("conn_limit") or -1)  # frozen: no tenant connects

    def create_databases(self, wanted: list[tuple[str, int]], workers: int) -> None:
        if not wanted:
            return
        todo = list(wanted)
        lock, errors = threading.Lock(), []

        def worker() -> None:
            conn = None
            try:
                conn = self.connect("postgres")
                with conn.cursor() as cur:
                    # full-page images compress well: less WAL to write (a session setting; a
                    # server built without lz4 refuses it and keeps its own)
                    with contextlib.suppress(psycopg2.Error):
                        cur.execute("SET wal_compression = lz4")
                    while not errors:
                        with lock:
                            if not todo:
                                return
                            name, limit = todo.pop(0)
                        cur.execute(
                            sql.SQL(
                                "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
                                " TEMPLATE template0 CONNECTION LIMIT {}"
                            ).format(I(name), I(name), sql.Literal(limit))
                        )
                        cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(I(name)))
                        with lock:
                            self._noted("database", name, True, limit)
                            self.fresh_dbs.add(name)
            except Exception as e:  # reported by the caller, after every worker stopped
                errors.append(e)
            finally:
                if conn is not None:
                    conn.close()

        threads = [threading.Thread(target=worker) for _ in range(max(1, min(workers, len(wanted))))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.changed = True
        if errors:
            raise errors[0]

    def database(self, d: dict) -> None:
        name = d["name"]
        exists = self.db_limit(name)
        if d["state"] == "absent":
            if exists is not None:
                if self._in_db is not None and self._in_db[0] == name:
                    self.close_in_db()
                self.run(self.main, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(I(name)))
                self._noted("database", name, False)
            if self.role_exists(name):
                self.run(self.main, sql.SQL("DROP ROLE {}").format(I(name)))
                self._noted("role", name, False)
            return
        if not self.role_exists(name):
            self.run(self.main, sql.SQL("CREATE ROLE {} NOLOGIN").format(I(name)))
            self._noted("role", name, True)
        limit = self.limit_of(d)
        if exists is None:
            self.create_databases([(name, limit)], 1)
        elif exists != limit:
            self.run(self.main, sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(I(name), sql.Literal(limit)))
            self._noted("database", name, True, limit)
        if d.get("frozen"):
            self.run(
                self.main,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        if d.get("write_frozen") is not None:
            self.write_freeze(name, bool(d["write_frozen"]))

    def write_freeze(self, name: str, frozen: bool) -> None:
        """Freeze writes in the database (or lift the freeze); see the module's docstring."""
        q = sql.SQL
        conn = self.connect(name)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_event_trigger WHERE evtname = %s", (FREEZE_TRIGGER,))
                was = cur.fetchone() is not None
                if not frozen and not was:  # nothing frozen, nothing to lift
                    return
                cur.execute(USER_SCHEMAS)
                schemas = [r[0] for r in cur.fetchall()]
                if frozen:
                    cur.execute(q("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION postgres").format(I(FREEZE_SCHEMA)))
                    cur.execute(q("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(I(FREEZE_SCHEMA)))
                    cur.execute(FREEZE_FUNCTION)
                    if not was:
                        cur.execute(
                            q("CREATE EVENT TRIGGER {} ON ddl_command_start EXECUTE FUNCTION {}.write_freeze()").format(
                                I(FREEZE_TRIGGER), I(FREEZE_SCHEMA)
                            )
                        )
                    for s in schemas:  # at every run: nothing may have slipped in between
                        cur.execute(
                            q("REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA {} FROM {}, PUBLIC").format(I(s), I(name))
                        )
                    cur.execute(f"REVOKE EXECUTE ON FUNCTION {LO_WRITERS} FROM PUBLIC")  # large objects
                else:
                    cur.execute(q("DROP EVENT TRIGGER IF EXISTS {}").format(I(FREEZE_TRIGGER)))
                    cur.execute(q("DROP SCHEMA IF EXISTS {} CASCADE").format(I(FREEZE_SCHEMA)))
                    for s in schemas:
                        cur.execute(q("GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA {} TO {}").format(I(s), I(name)))
                    cur.execute(f"GRANT EXECUTE ON FUNCTION {LO_WRITERS} TO PUBLIC")
            if frozen != was:
                self.changed = True
        finally:
            conn.close()

    def user(self, u: dict, verifier: str | None) -> None:
        name = u["name"]
        if self.db_limit(name) is not None:
            # A database's owner role, never a user (the panel refuses the clash; a catalog older
            # than that rule may hold one): its password or a DROP OWNED BY (which would empty the
            # database) is not this user's to change.
            raise ValueError(f"{name} is the owner role of the database {name}, not a user: nothing done to it")
        if u["state"] == "absent":
            if self.role_exists(name):
                for db in self.tenant_dbs():
                    self.run(self.in_db(db), sql.SQL("DROP OWNED BY {}").format(I(name)))
                self.close_in_db()
                self.run(self.main, sql.SQL("DROP ROLE {}").format(I(name)))
                self._noted("role", name, False)
            return
        if not self.role_exists(name):
            if verifier is None:
                raise ValueError(f"no password known for the new user {name}")
            self.run(self.main, sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(I(name)), (verifier,))
            self._noted("role", name, True)
            self.fresh_roles.add(name)
        elif verifier is not None:
            stored = self.one(self.main, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,))
            if not stored or stored[0] != verifier:
                self.run(self.main, sql.SQL("ALTER ROLE {} PASSWORD %s").format(I(name)), (verifier,))
        for db in u.get("revoke") or []:
            self.revoke(name, db)
        for db, profile in (u.get("grants") or {}).items():
            self.revoke(name, db)
            self.grant(name, db, profile)

    def tenant_dbs(self) -> list[str]:
        with self.main.cursor() as cur:
            cur.execute("SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'")
            return [r[0] for r in cur.fetchall()]

    def revoke(self, user: str, db: str) -> None:
        """Everything govhost may have given `user` on `db` (a dropped database: nothing to do).
        A role made in this run holds nothing; in a database made in this run nobody holds
        anything inside it: those parts are skipped (no statement, no session in the database)."""
        if user in self.fresh_roles or self.db_limit(db) is None:
            return
        q = sql.SQL
        self.run(
            self.main,  # the cluster-wide part: database privileges, the owner role, per-database settings
            q("; ").join(
                [
                    q("REVOKE ALL ON DATABASE {} FROM {}").format(I(db), I(user)),
                    q("REVOKE {} FROM {}").format(I(db), I(user)),
                    q("ALTER ROLE {} IN DATABASE {} RESET role").format(I(user), I(db)),
                ]
            ),
        )
        if db in self.fresh_dbs:
            return
        self.run(
            self.in_db(db),
            q("; ").join(
                [
                    q("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(I(user)),
                    q("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(I(user)),
                    q("REVOKE ALL ON SCHEMA public FROM {}").format(I(user)),
                    q("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public REVOKE ALL ON TABLES FROM {}").format(
                        I(db), I(user)
                    ),
                    q("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {}").format(
                        I(db), I(user)
                    ),
                ]
            ),
        )

    def grant(self, user: str, db: str, profile: str) -> None:
        """The profile's privileges; an owner's are all cluster-wide (one statement group on the
        main session), the others' are inside the database too."""
        q = sql.SQL
        connect = q("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(I(db), I(user))
        if profile == "owner":
            self.run(
                self.main,
                q("; ").join(
                    [
                        connect,
                        q("GRANT {} TO {}").format(I(db), I(user)),
                        q("ALTER ROLE {} IN DATABASE {} SET role = {}").format(I(user), I(db), sql.Literal(db)),
                    ]
                ),
            )
            return
        privs = q(TABLE_PRIVS[profile])
        self.run(self.main, connect)
        self.run(
            self.in_db(db),
            q("; ").join(
                [
                    q("GRANT USAGE ON SCHEMA public TO {}").format(I(user)),
                    q("GRANT {} ON ALL TABLES IN SCHEMA public TO {}").format(privs, I(user)),
                    q("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(I(user)),
                    q("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT {} ON TABLES TO {}").format(
                        I(db), privs, I(user)
                    ),
                    q(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}"
                    ).format(I(db), I(user)),
                ]
            ),
        )

    # ---- drift: the server against the catalog, within govhost's prefixes only ---------------------

    def actual(self, prefixes: tuple[str, ...]) -> dict:
        """govhost's roles (names with one of its prefixes: users and the databases' owner roles)
        with their attributes and memberships, its databases with who holds privileges on them."""
        roles, dbs = {}, {}
        with self.main.cursor() as cur:
            cur.execute(
                "SELECT r.rolname, r.rolcanlogin, r.rolsuper OR r.rolcreatedb OR r.rolcreaterole OR r.rolreplication"
                " OR r.rolbypassrls, ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid"
                " WHERE m.member = r.oid ORDER BY 1) FROM pg_roles r"
            )
            for name, login, powers, member_of in cur.fetchall():
                if name.startswith(prefixes):
                    roles[name] = {"login": login, "powers": powers, "member_of": list(member_of)}
            cur.execute(
                "SELECT d.datname, COALESCE(g.rolname, 'PUBLIC'), a.privilege_type FROM pg_database d"
                " LEFT JOIN LATERAL aclexplode(d.datacl) a ON true LEFT JOIN pg_roles g ON g.oid = a.grantee"
            )
            for db, grantee, priv in cur.fetchall():
                if db.startswith(prefixes):
                    held = dbs.setdefault(db, {})
                    if priv is not None:
                        held.setdefault(grantee, set()).add(priv)
        return {"roles": roles, "databases": dbs}

    def drift(self, objects: dict, prefixes: tuple[str, ...], hba_text: str) -> list[dict]:
        have, items = self.actual(prefixes), []

        def item(kind: str, name: str, where: str = "", detail: str = "") -> None:
            items.append({"kind": kind, "name": name, "where": where, "detail": detail})

        wanted_dbs = {d["name"] for d in objects.get("databases", []) if d["state"] == "present"}
        # a suspended database's grants are the freeze's business (its users keep their membership)
        frozen = {d["name"] for d in objects.get("databases", []) if d.get("frozen")}
        users = {u["name"]: u for u in objects.get("users", []) if u["state"] == "present"}
        clash = clashes(users, wanted_dbs | set(have["databases"]))
        for name in sorted(clash):
            item("name_clash", name, detail=CLASH)
            del users[name]  # one role, the user and the owner role at once: not compared as either
        for db in sorted(set(have["databases"]) - wanted_dbs):
            item("database_extra", db, detail="not in govhost's catalog (never dropped by a repair)")
        for db in sorted(wanted_dbs - set(have["databases"])):
            item("database_missing", db)
        for name in sorted(set(have["roles"]) - set(users) - wanted_dbs - set(have["databases"])):
            item("user_extra", name)
        for name in sorted((wanted_dbs & set(have["roles"])) - clash):
            r = have["roles"][name]
            if r["login"] or r["powers"] or r["member_of"]:
                item("privileges_extra", name, detail="a database's owner role logs in, holds a power or a role")
        for name, u in sorted(users.items()):
            r = have["roles"].get(name)
            if r is None:
                item("user_missing", name, detail="a new password (reset) creates it again")
                continue
            if r["powers"] or not r["login"]:
                item("privileges_extra", name, detail="role attributes (superuser, createdb, createrole, ...)")
            grants = u.get("grants") or {}
            owned = {db for db, p in grants.items() if p == "owner"}
            for role in sorted(set(r["member_of"]) - owned - frozen):
                item("grant_extra", name, role, "member of the role")
            for role in sorted(owned - set(r["member_of"])):
                item("grant_missing", name, role, "member of the role")
            for db, held in sorted(have["databases"].items()):
                if db in frozen:
                    continue
                privs = held.get(name, set())
                if privs and db not in grants:
                    item("grant_extra", name, db, ", ".join(sorted(privs)))
                elif db in grants and "CONNECT" not in privs:
                    item("grant_missing", name, db, "CONNECT")
        want_lines = {(x["type"], x["database"], x["user"], x["address"]) for x in objects.get("hba") or []}
        block, outside = hba_lines_of(hba_text, prefixes)
        for line in sorted(block - want_lines):
            item("hba_extra", line[2], " ".join(line))
        for line in sorted(want_lines - block):
            item("hba_missing", line[2], " ".join(line))
        for raw in outside:
            item("hba_outside", raw.split()[2] if len(raw.split()) > 2 else "", raw, "outside govhost's block")
        return items

    def repair(self, objects: dict, prefixes: tuple[str, ...]) -> None:
        """Make govhost's roles what the catalog says: missing databases created, owner roles and
        users stripped of powers and of memberships and database privileges the catalog does not
        give, grants re-applied, roles with govhost's prefix the catalog does not know dropped.
        Databases the catalog does not know are kept; a missing user needs a new password."""
        have = self.actual(prefixes)
        wanted_dbs = [d for d in objects.get("databases", []) if d["state"] == "present"]
        for d in wanted_dbs:
            self.database(d)
        names = {d["name"] for d in wanted_dbs}
        frozen = {d["name"] for d in wanted_dbs if d.get("frozen")}
        users = {u["name"]: u for u in objects.get("users", []) if u["state"] == "present"}
        clash = clashes(users, names | set(have["databases"]))
        users = {n: u for n, u in users.items() if n not in clash}
        plain = sql.SQL("ALTER ROLE {} {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
        for name, r in have["roles"].items():
            if name in clash:  # left as it is: making it a plain owner role or a plain user breaks one
                continue
            if name in names:  # a database's owner role
                if r["login"] or r["powers"]:
                    self.run(self.main, plain.format(I(name), sql.SQL("NOLOGIN")))
                for role in r["member_of"]:
                    self.run(self.main, sql.SQL("REVOKE {} FROM {}").format(I(role), I(name)))
            elif name in users:
                if r["powers"] or not r["login"]:
                    self.run(self.main, plain.format(I(name), sql.SQL("LOGIN")))
                grants = users[name].get("grants") or {}
                for role in r["member_of"]:
                    if role not in grants and role not in frozen:
                        self.run(self.main, sql.SQL("REVOKE {} FROM {}").format(I(role), I(name)))
                keep = set(grants) | frozen
                extra = [db for db, held in have["databases"].items() if name in held and db not in keep]
                self.user({**users[name], "revoke": extra}, None)
            elif name not in have["databases"]:
                self.user({"name": name, "state": "absent"}, None)

    # ---- the web console: a short-lived login on the local socket ----------------------------------

    def console_open(self, c: dict, verifier: str) -> None:
        login, user = c["login"], c["user"]
        self.console_close(c)
        if not self.role_exists(user):
            raise ValueError(f"the user {user} is not on this server")
        if not self.role_exists(CONSOLE_GROUP):
            self.run(self.main, sql.SQL("CREATE ROLE {} NOLOGIN").format(I(CONSOLE_GROUP)))
        until = dt.datetime.fromtimestamp(int(c["expires"]), tz=dt.UTC).isoformat()
        limit = int(c.get("conn_limit") or 1)
        self.run(
            self.main,
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s VALID UNTIL %s CONNECTION LIMIT {} IN ROLE {}, {}").format(
                I(login), sql.Literal(limit), I(CONSOLE_GROUP), I(user)
            ),
            (verifier, until),
        )
        for db, profile in (c.get("grants") or {}).items():
            if profile == "owner":  # as the user's own sessions: what it creates belongs to the database
                self.run(
                    self.main,
                    sql.SQL("ALTER ROLE {} IN DATABASE {} SET role = {}").format(I(login), I(db), sql.Literal(db)),
                )

    def console_close(self, c: dict) -> None:
        """The login's sessions end and the login goes; anything it came to own is handed to the user
        (never dropped: it may be the tenant's data)."""
        login = c["login"]
        if not self.role_exists(login):
            return
        self.run(self.main, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (login,))
        try:
            self.run(self.main, sql.SQL("DROP ROLE {}").format(I(login)))
            return
        except psycopg2.errors.DependentObjectsStillExist:
            pass
        heir = c.get("user") if self.role_exists(c.get("user") or "") else "postgres"
        for db in [*self.tenant_dbs(), "postgres"]:
            with self.connect(db) as conn, conn.cursor() as cur:
                cur.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(I(login), I(heir)))
                cur.execute(sql.SQL("DROP OWNED BY {}").format(I(login)))
            conn.close()
        self.run(self.main, sql.SQL("DROP ROLE {}").format(I(login)))

    def close(self) -> None:
        self.close_in_db()
        self.main.close()


CLASH = (
    "a user of the catalog bears this database's name (a catalog older than the rule against it): on this "
    "server both are one role, the database's owner role; neither a repair nor the user's own jobs change it"
)


def clashes(users: dict, databases: set[str]) -> set[str]:
    """Users of the catalog named like a database: on PostgreSQL one role, both at once."""
    return set(users) & databases


def hba_lines_of(text: str, prefixes: tuple[str, ...]) -> tuple[set[tuple], list[str]]:
    """govhost's block as (type, database, user, address) lines, and the lines outside it that name
    a database or user with one of govhost's prefixes (comma lists too)."""
    block, outside = set(), []
    before, inside, after = text, "", ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        inside, after = rest.split(END, 1)
    for raw in inside.splitlines():
        parts = raw.split()
        if len(parts) == 5:
            block.add(tuple(parts[:4]))
    for raw in (before + "\n" + after).splitlines():
        parts = raw.split("#", 1)[0].split()
        if len(parts) >= 3 and any(n.startswith(prefixes) for n in [*parts[1].split(","), *parts[2].split(",")]):
            outside.append(" ".join(parts))
    return block, outside


def hba_repaired(text: str, lines: list[dict], prefixes: tuple[str, ...]) -> str:
    """The file with exactly the catalog's lines in govhost's block and no line outside it naming
    govhost's databases or users; every other line as it was."""
    _, outside = hba_lines_of(text, prefixes)
    before, after = text, ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
    kept = [
        raw
        for raw in (before.rstrip("\n") + "\n" + after).splitlines()
        if " ".join(raw.split("#", 1)[0].split()) not in outside
    ]
    return hba_block(lines) + "\n" + "\n".join(kept).strip("\n") + "\n"


def hba_block(lines: list[dict]) -> str:
    out = [BEGIN]
    for line in sorted(lines, key=lambda x: (x["database"], x["user"], x["address"], x["type"])):
        out.append(f"{line['type']}\t{line['database']}\t{line['user']}\t{line['address']}\tscram-sha-256")
    out.append(END)
    return "\n".join(out) + "\n"


def merge_hba(text: str, lines: list[dict] | None, users: list[dict]) -> str:
    """The file with govhost's block replaced. `lines` None: keep the block's other users' lines and
    replace those of the users in this batch (each batch sends its users' whole access)."""
    before, block, after = text, "", ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        block, after = rest.split(END, 1)
    kept = []
    names = {u["name"] for u in users}
    for raw in block.splitlines():
        parts = raw.split()
        if len(parts) == 5 and parts[2] not in names:
            kept.append({"type": parts[0], "database": parts[1], "user": parts[2], "address": parts[3]})
    for u in users:
        if u["state"] == "present":
            kept += [line for line in lines or [] if line["user"] == u["name"]]
    # govhost's block goes FIRST: pg_hba is first-match, and Debian's own lines end with broad ones.
    rest = (before.rstrip("\n") + "\n" + after).strip("\n")
    return hba_block(kept) + "\n" + rest + "\n"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "objects": {"type": "raw", "default": {}},
            "verifiers": {"type": "raw", "default": {}, "no_log": True},
            "hba_file": {"type": "str", "required": True},
            "console": {"type": "raw", "default": {}},
            "ticket_dir": {"type": "str", "default": "/var/lib/govhost-console/tickets"},
            "socket_dir": {"type": "str", "default": "/var/run/postgresql"},
            "prefixes": {"type": "list", "elements": "str", "default": []},
            "drift": {"type": "str", "default": "", "choices": ["", "check", "repair"]},
        },
        supports_check_mode=False,
    )
    if psycopg2 is None:
        module.fail_json(msg="govhost_postgresql needs psycopg2 on the host")
    p = module.params
    try:
        objects = json.loads(p["objects"]) if isinstance(p["objects"], str) else p["objects"]
        v = p["verifiers"]
        verifiers = json.loads(v) if isinstance(v, str) and v else (v or {})
        check(objects, verifiers)
        c = p["console"]
        console = json.loads(c) if isinstance(c, str) and c else (c or {})
        check_console(console, NAME_RE, PROFILES)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        module.fail_json(msg=f"invalid input: {e}")
    # Console logins: the passwords are made here, in the root parent, which alone writes the
    # tickets; the child gets the verifiers.
    passwords = {c["login"]: new_password() for c in console.get("open") or []}
    p["console_verifiers"] = {login: scram_verifier(pw) for login, pw in passwords.items()}
    p["console_json"] = console
    # Peer authentication: the work runs in a child process as the postgres OS user, and the parent
    # (root, which can still read Ansible's module files) reports its result.
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            if os.geteuid() == 0:
                pg = pwd.getpwnam("postgres")
                os.setgroups([])
                os.setgid(pg.pw_gid)
                os.setuid(pg.pw_uid)
            out = {"ok": True, **work(p, objects, verifiers)}
        except Exception as e:
            out = {"ok": False, "msg": f"PostgreSQL: {str(e).strip()}"}
        with os.fdopen(write_fd, "w") as fh:
            fh.write(json.dumps(out))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        raw = fh.read()
    os.waitpid(pid, 0)
    result = json.loads(raw or '{"ok": false, "msg": "the worker process died"}')
    if not result.pop("ok"):
        module.fail_json(msg=result["msg"])
    try:
        for c in console.get("close") or []:
            result["changed"] = remove_ticket(p["ticket_dir"], c["ticket"]) or result.get("changed", False)
        for c in console.get("open") or []:
            write_ticket(p["ticket_dir"], c, "postgresql", passwords[c["login"]])
    except (OSError, KeyError) as e:
        module.fail_json(msg=f"console ticket: {e}")
    module.exit_json(**result)


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier (what pg_authid stores), so no clear password is in SQL."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client = hmac.new(salted, b"Client Key", "sha256").digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client).digest())}:{b64(server)}"


def work(p: dict, objects: dict, verifiers: dict) -> dict:
    batch = None
    if p["console_json"]:
        try:
            batch = Batch(p["socket_dir"])
            for c in p["console_json"].get("close") or []:
                batch.console_close(c)
            for c in p["console_json"].get("open") or []:
                batch.console_open(c, p["console_verifiers"][c["login"]])
            return {"changed": batch.changed}
        finally:
            if batch is not None:
                batch.close()
    if p["drift"]:
        return drift_work(p, objects)
    timeline, began = [], time.monotonic()

    def lap(label: str) -> None:  # where a batch's time goes (bench/databases.py prints it)
        nonlocal began
        now = time.monotonic()
        timeline.append([label, round(now - began, 3)])
        began = now

    try:
        batch = Batch(p["socket_dir"])
        batch.load()
        lap("connect and read roles and databases")
        made = batch.databases(objects.get("databases", []))
        lap(f"databases ({made['created']} created by {made['workers']} sessions)")
        # The users' statements in one transaction: one commit (one WAL flush) for the lot instead
        # of one per statement (in_db() commits early when a session inside a database needs them).
        batch.main.autocommit = False
        for u in objects.get("users", []):
            batch.user(u, verifiers.get(u["name"]))
        batch.main.commit()
        batch.main.autocommit = True
        lap(f"users and grants ({len(objects.get('users', []))})")
    finally:
        if batch is not None:
            batch.close()
    with open(p["hba_file"]) as fh:
        text = fh.read()
    new = merge_hba(text, objects.get("hba") or [], objects.get("users", []))
    hba_changed = new != text
    if hba_changed:
        write_hba(p["hba_file"], p["socket_dir"], new)
    lap("pg_hba.conf and reload")
    return {"changed": batch.changed or hba_changed, "hba_changed": hba_changed, "timeline": timeline}


def write_hba(path: str, socket_dir: str, new: str) -> None:
    """Replace pg_hba.conf atomically, reload, and refuse a file the server reads with errors."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "w") as fh:
        fh.write(new)
    os.chmod(tmp, os.stat(path).st_mode & 0o777)
    os.replace(tmp, path)
    conn = psycopg2.connect(host=socket_dir, dbname="postgres", user="postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
            cur.execute("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL")
            if cur.fetchone()[0]:
                raise ValueError("pg_hba.conf has errors after the change")
    finally:
        conn.close()


def drift_work(p: dict, objects: dict) -> dict:
    """Drift check (and repair first when asked) within govhost's prefixes."""
    prefixes = tuple(x for x in p["prefixes"] if PREFIX_RE.match(x))
    if not prefixes:
        raise ValueError("drift needs govhost's name prefixes")
    batch = Batch(p["socket_dir"])
    try:
        with open(p["hba_file"]) as fh:
            text = fh.read()
        before = batch.drift(objects, prefixes, text)
        after, changed = before, False
        if p["drift"] == "repair" and before:
            batch.repair(objects, prefixes)
            new = hba_repaired(text, objects.get("hba") or [], prefixes)
            if new != text:
                write_hba(p["hba_file"], p["socket_dir"], new)
                text = new
            after, changed = batch.drift(objects, prefixes, text), True
    finally:
        batch.close()
    return {"changed": changed, "drift": after, "drift_before": before}


if __name__ == "__main__":
    main()
