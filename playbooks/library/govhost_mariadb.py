#!/usr/bin/python3
"""govhost_mariadb: a batch of tenant databases, users and grants on MariaDB in ONE module call.

Why not a loop of community.mysql tasks: each task is one module run (about 0.2 s over SSH with
pipelining), and a database with its user is three or four of them; here 100 databases with their
users are one process and one connection. The module still speaks the collection's language: it
connects with the collection's driver (PyMySQL, the Unix socket and root's unix_socket
authentication, so govhost holds no server password) and quotes every identifier with
community.mysql's own `mysql_quote_identifier`; values (user names, hosts, verifiers) go as bound
parameters. Names are also checked here against govhost's alphabet, so nothing else reaches SQL.

Users get the engine's verifier ("*" + SHA1(SHA1(password)), mysql_native_password), never a
password. A user has one entry per allowed address (`hosts`), each with the grants of the databases
that allow that address (`host_grants`; `grants` for every entry when absent); entries of the same
name at other addresses are dropped, so the catalog's list is the truth. One more entry, at
`localhost` with ACCOUNT LOCK and no grants, keeps the verifier while no address is allowed (a
database no site uses yet), so a later link needs no new password; a locked account never logs in.
Database-level grants escape `_` (a wildcard in GRANT ... ON `db`.*), so a grant names exactly one
database.

Console mode (`console`: {open: [...]} or {close: [...]}) makes or drops a web console's
short-lived login: `'govhost_console_N'@'localhost'` (with skip-name-resolve only the server's own
socket matches it), a verifier of a password made here, the user's grants, and the single-use ticket
file the sign-on page trades for them (module_utils/govhost_console.py).
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.govhost_console import check_console, new_password, remove_ticket, write_ticket

try:
    from ansible_collections.community.mysql.plugins.module_utils.database import mysql_quote_identifier
except ImportError:  # pragma: no cover (the `ansible` package bundles the collection)
    mysql_quote_identifier = None

try:
    import pymysql
except ImportError:  # pragma: no cover
    pymysql = None

DOCUMENTATION = r"""
module: govhost_mariadb
short_description: Batched tenant databases, users and grants on MariaDB (govhost)
options:
  objects: {type: raw, default: {}, description: "{databases: [...], users: [...]}, or its JSON"}
  console: {type: raw, default: {}, description: "{open: [...]} or {close: [...]}: web console logins (or its JSON)"}
  ticket_dir: {type: str, default: /var/lib/govhost-console/tickets}
  verifiers: {type: raw, default: {}, no_log: true, description: "user name -> *SHA1 verifier (or its JSON)"}
  prefixes: {type: list, elements: str, default: [], description: "name prefixes govhost owns (drift)"}
  drift: {type: str, default: "", choices: ["", check, repair], description: "compare with the catalog; repair"}
  socket: {type: str, default: /run/mysqld/mysqld.sock}
"""

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
HOST_RE = re.compile(r"^[0-9a-f.:/]{2,43}$")  # an IP address or address/netmask (MariaDB's form)
VERIFIER_RE = re.compile(r"^\*[0-9A-F]{40}$")
PREFIX_RE = re.compile(r"^[a-z]{0,8}[0-9]+_$")  # a ministry's prefix (rules.prefix_of)
ANCHOR = "localhost"  # the locked entry that keeps a user's verifier
PRIVILEGES = {
    "owner": "ALL PRIVILEGES",
    "readwrite": "SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, SHOW VIEW",
    "readonly": "SELECT, SHOW VIEW",
    # Write-freeze: the owner may still read, delete and drop to get back under the budget.
    "frozen": "SELECT, DELETE, DROP, SHOW VIEW, LOCK TABLES",
}
# The mysql.db privilege column of each privilege a profile names (drift compares them; ALL
# PRIVILEGES: every privilege column of mysql.db but Grant_priv).
_COLUMN = {
    "CREATE TEMPORARY TABLES": "Create_tmp_table_priv",
    "LOCK TABLES": "Lock_tables_priv",
    "SHOW VIEW": "Show_view_priv",
}
COLUMNS = {
    p: None if v == "ALL PRIVILEGES" else {_COLUMN.get(x, x.capitalize() + "_priv") for x in v.split(", ")}
    for p, v in PRIVILEGES.items()
}


def ident(name: str) -> str:
    return mysql_quote_identifier(name, "database")


def grant_target(db: str) -> str:
    """`db`.* with _ escaped: in a database-level grant _ and % are wildcards."""
    return ident(db.replace("_", "\\_")) + ".*"


def check(objects: dict, verifiers: dict) -> None:
    for d in objects.get("databases", []):
        if not NAME_RE.match(str(d.get("name", ""))) or d.get("state") not in ("present", "absent"):
            raise ValueError(f"bad database entry {str(d)[:100]!r}")
    for u in objects.get("users", []):
        if (
            not NAME_RE.match(str(u.get("name", "")))
            or len(u["name"]) > 80
            or u.get("state") not in ("present", "absent")
        ):
            raise ValueError(f"bad user entry {u.get('name')!r}")
        for h in u.get("hosts", []):
            if not HOST_RE.match(str(h)):
                raise ValueError(f"bad host {str(h)[:50]!r} for {u['name']}")
        for db, profile in (u.get("grants") or {}).items():
            if not NAME_RE.match(db) or profile not in PRIVILEGES:
                raise ValueError(f"bad grant {db!r}: {profile!r}")
        for h, grants in (u.get("host_grants") or {}).items():
            if h not in u.get("hosts", []) or any(
                not NAME_RE.match(db) or profile not in PRIVILEGES for db, profile in grants.items()
            ):
                raise ValueError(f"bad grants for {str(h)[:50]!r} of {u['name']}")
        if not isinstance(u.get("conn_limit", 0), int):
            raise ValueError("conn_limit must be a number")
    for name, v in verifiers.items():
        if not NAME_RE.match(name) or not VERIFIER_RE.match(str(v)):
            raise ValueError(f"bad verifier for {name!r}")


class Batch:
    def __init__(self, cur):
        self.cur = cur
        self.changed = False

    def run(self, sql: str, args=()) -> None:
        self.cur.execute(sql, args)
        self.changed = True

    def rows(self, sql: str, args=()) -> list:
        self.cur.execute(sql, args)
        return list(self.cur.fetchall())

    def database(self, d: dict) -> None:
        exists = self.rows("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (d["name"],))
        if d["state"] == "present" and not exists:
            self.run(f"CREATE DATABASE {ident(d['name'])} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        elif d["state"] == "absent" and exists:
            self.run(f"DROP DATABASE {ident(d['name'])}")
        if d.get("frozen") and exists:
            # the grants are withheld by the users' states; sessions already in the database end now
            for (pid,) in self.rows(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()", (d["name"],)
            ):
                self.run(f"KILL CONNECTION {int(pid)}")

    def entries(self, name: str) -> dict[str, str]:
        """host -> stored verifier of every entry of the user."""
        return dict(self.rows("SELECT Host, Password FROM mysql.user WHERE User = %s", (name,)))

    def db_grants(self, name: str, host: str) -> set[str]:
        return {
            r[0].replace("\\_", "_")
            for r in self.rows("SELECT Db FROM mysql.db WHERE User = %s AND Host = %s", (name, host))
        }

    def user(self, u: dict, verifier: str | None) -> None:
        name, have = u["name"], self.entries(u["name"])
        if u["state"] == "absent":
            for host in have:
                self.run("DROP USER %s@%s", (name, host))
            return
        wanted = [h for h in dict.fromkeys(u.get("hosts") or []) if h != ANCHOR]
        known = verifier or next((v for v in have.values() if VERIFIER_RE.match(v or "")), None)
        for host in have:
            if host not in wanted and host != ANCHOR:
                self.run("DROP USER %s@%s", (name, host))
        if known is None:
            raise ValueError(f"no password known for the new user {name}")
        if ANCHOR not in have:
            self.run("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s ACCOUNT LOCK", (name, ANCHOR, known))
        elif verifier and have[ANCHOR] != verifier:
            self.run("ALTER USER %s@%s IDENTIFIED BY PASSWORD %s", (name, ANCHOR, verifier))
        self.grants(name, ANCHOR, {})
        limit = int(u.get("conn_limit") or 0)
        per_host = u.get("host_grants")
        for host in wanted:
            if host not in have:
                self.run(
                    f"CREATE USER %s@%s IDENTIFIED BY PASSWORD %s WITH MAX_USER_CONNECTIONS {limit}",
                    (name, host, known),
                )
            else:
                if verifier and have[host] != verifier:
                    self.run("ALTER USER %s@%s IDENTIFIED BY PASSWORD %s", (name, host, verifier))
                self.cur.execute(
                    "SELECT max_user_connections FROM mysql.user WHERE User = %s AND Host = %s", (name, host)
                )
                if int(self.cur.fetchone()[0]) != limit:
                    self.run(f"ALTER USER %s@%s WITH MAX_USER_CONNECTIONS {limit}", (name, host))
            ssl = "SSL" if host in (u.get("ssl_hosts") or []) else "NONE"
            self.cur.execute("SELECT ssl_type FROM mysql.user WHERE User = %s AND Host = %s", (name, host))
            if (self.cur.fetchone()[0] or "") != ("ANY" if ssl == "SSL" else ""):
                self.run(f"ALTER USER %s@%s REQUIRE {ssl}", (name, host))
            self.grants(name, host, per_host.get(host, {}) if per_host is not None else (u.get("grants") or {}))

    def grants(self, name: str, host: str, wanted: dict) -> None:
        before = self.rows("SHOW GRANTS FOR %s@%s", (name, host))
        current = self.db_grants(name, host)
        for db in sorted(current | set(wanted)):
            if db in current:
                self.cur.execute(f"REVOKE ALL PRIVILEGES ON {grant_target(db)} FROM %s@%s", (name, host))
            if db in wanted:
                self.cur.execute(f"GRANT {PRIVILEGES[wanted[db]]} ON {grant_target(db)} TO %s@%s", (name, host))
        if self.rows("SHOW GRANTS FOR %s@%s", (name, host)) != before:
            self.changed = True

    # ---- the web console: a short-lived login on the local socket, and its ticket --------------------

    def console_open(self, c: dict, ticket_dir: str) -> None:
        """A fresh login at localhost with the user's grants and a password made here, known only
        to the ticket file (the server keeps its verifier)."""
        login, password = c["login"], new_password()
        verifier = "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()  # noqa: S324
        for host in self.entries(login):
            self.run("DROP USER %s@%s", (login, host))
        limit = int(c.get("conn_limit") or 1)
        self.run(
            f"CREATE USER %s@%s IDENTIFIED BY PASSWORD %s WITH MAX_USER_CONNECTIONS {limit}", (login, ANCHOR, verifier)
        )
        for db, profile in sorted((c.get("grants") or {}).items()):
            self.run(f"GRANT {PRIVILEGES[profile]} ON {grant_target(db)} TO %s@%s", (login, ANCHOR))
        write_ticket(ticket_dir, c, "mariadb", password)

    def console_close(self, c: dict, ticket_dir: str) -> None:
        """The ticket, the login's open sessions and the login itself."""
        login = c["login"]
        if remove_ticket(ticket_dir, c["ticket"]):
            self.changed = True
        for (pid,) in self.rows("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (login,)):
            self.run(f"KILL CONNECTION {int(pid)}")
        for host in self.entries(login):
            self.run("DROP USER %s@%s", (login, host))

    # ---- drift: the server against the catalog, within govhost's prefixes only ---------------------

    def actual(self, prefixes: tuple[str, ...]) -> dict:
        """govhost's databases and users on the server (names with one of its prefixes): each
        user's entries with their database grants (mysql.db privilege columns), global privileges,
        other grants (table, column, routine, role) and TLS requirement."""
        out = {"databases": set(), "users": {}}
        for (schema,) in self.rows("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"):
            if schema.startswith(prefixes):
                out["databases"].add(schema)
        self.cur.execute("SELECT * FROM mysql.user")
        cols = [c[0] for c in self.cur.description]
        for row in self.cur.fetchall():
            r = dict(zip(cols, row, strict=True))
            if not r["User"].startswith(prefixes):
                continue
            out["users"].setdefault(r["User"], {})[r["Host"]] = {
                "global": sorted(c for c in cols if c.endswith("_priv") and r[c] == "Y"),
                "ssl": (r.get("ssl_type") or "") != "",
                "grants": {},
                "other": 0,
            }
        self.cur.execute("SELECT * FROM mysql.db")
        cols = [c[0] for c in self.cur.description]
        out["all"] = sorted(c for c in cols if c.endswith("_priv") and c != "Grant_priv")
        for row in self.cur.fetchall():
            r = dict(zip(cols, row, strict=True))
            entry = out["users"].get(r["User"], {}).get(r["Host"])
            if entry is not None:
                db = r["Db"].replace("\\_", "_")
                entry["grants"][db] = sorted(c for c in cols if c.endswith("_priv") and r[c] == "Y")
        for table in ("tables_priv", "columns_priv", "procs_priv"):
            for user, host in self.rows(f"SELECT User, Host FROM mysql.{table}"):  # noqa: S608 (fixed names)
                if (entry := out["users"].get(user, {}).get(host)) is not None:
                    entry["other"] += 1
        for user, host in self.rows("SELECT User, Host FROM mysql.roles_mapping"):
            if (entry := out["users"].get(user, {}).get(host)) is not None:
                entry["other"] += 1
        return out

    def drift(self, objects: dict, prefixes: tuple[str, ...]) -> list[dict]:
        """What differs between the catalog's desired objects and the server, as items
        {kind, name, where, detail}; names outside govhost's prefixes are never looked at."""
        have, items = self.actual(prefixes), []

        def item(kind: str, name: str, where: str = "", detail: str = "") -> None:
            items.append({"kind": kind, "name": name, "where": where, "detail": detail})

        wanted_dbs = {d["name"] for d in objects.get("databases", []) if d["state"] == "present"}
        for db in sorted(have["databases"] - wanted_dbs):
            item("database_extra", db, detail="not in govhost's catalog (never dropped by a repair)")
        for db in sorted(wanted_dbs - have["databases"]):
            item("database_missing", db)
        wanted = {u["name"]: u for u in objects.get("users", []) if u["state"] == "present"}
        for name in sorted(set(have["users"]) - set(wanted)):
            item("user_extra", name, ", ".join(sorted(have["users"][name])))
        for name, u in sorted(wanted.items()):
            entries = have["users"].get(name)
            if entries is None:
                item("user_missing", name, detail="a new password (reset) creates it again")
                continue
            per_host = {h: {} for h in u.get("hosts") or []}
            per_host.update(u.get("host_grants") or {})
            per_host[ANCHOR] = {}
            for host in sorted(set(entries) - set(per_host)):
                item("entry_extra", name, host)
            for host in sorted(set(per_host) - set(entries)):
                item("entry_missing", name, host)
            for host in sorted(set(entries) & set(per_host)):
                e = entries[host]
                if e["global"]:
                    item("privileges_extra", name, host, "global: " + ", ".join(e["global"]))
                if e["other"]:
                    item("privileges_extra", name, host, f"{e['other']} table, column, routine or role grant(s)")
                if host != ANCHOR and e["ssl"] != (host in (u.get("ssl_hosts") or [])):
                    item("tls", name, host, "TLS required" if e["ssl"] else "TLS not required")
                want = {db: sorted(COLUMNS[p] or have["all"]) for db, p in per_host[host].items()}
                for db in sorted(set(e["grants"]) | set(want)):
                    got, should = e["grants"].get(db), want.get(db)
                    if got == should:
                        continue
                    kind = "grant_extra" if should is None else "grant_missing" if got is None else "grant_changed"
                    detail = ", ".join(got or should or [])
                    if got and should:
                        detail = f"has {', '.join(got)}; should have {', '.join(should)}"
                    item(kind, name, f"{host} {db}", detail)
        return items

    def repair(self, objects: dict, prefixes: tuple[str, ...]) -> None:
        """Make govhost's objects what the catalog says: missing databases created, users' entries,
        TLS and grants re-applied (an entry holding any other grant is dropped and made again),
        users with govhost's prefix that the catalog does not know dropped. Databases the catalog
        does not know are kept (their data is not govhost's to throw away); a user missing from
        the server needs a new password, which only its owner asks for."""
        have = self.actual(prefixes)
        for d in objects.get("databases", []):
            if d["state"] == "present":
                self.database(d)
        wanted = {u["name"]: u for u in objects.get("users", []) if u["state"] == "present"}
        for name, entries in have["users"].items():
            if name not in wanted:
                for host in entries:
                    self.run("DROP USER %s@%s", (name, host))
                continue
            known = next((v for v in self.entries(name).values() if VERIFIER_RE.match(v or "")), None)
            for host, e in entries.items():
                if e["global"] or e["other"]:
                    self.run("DROP USER %s@%s", (name, host))
            self.user(wanted[name], known)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "objects": {"type": "raw", "default": {}},
            "verifiers": {"type": "raw", "default": {}, "no_log": True},
            "prefixes": {"type": "list", "elements": "str", "default": []},
            "drift": {"type": "str", "default": "", "choices": ["", "check", "repair"]},
            "socket": {"type": "str", "default": "/run/mysqld/mysqld.sock"},
            "console": {"type": "raw", "default": {}},
            "ticket_dir": {"type": "str", "default": "/var/lib/govhost-console/tickets"},
        },
        supports_check_mode=False,
    )
    if pymysql is None or mysql_quote_identifier is None:
        module.fail_json(msg="govhost_mariadb needs PyMySQL on the host and the community.mysql collection")
    p = module.params
    try:
        objects = json.loads(p["objects"]) if isinstance(p["objects"], str) else p["objects"]
        verifiers = (
            json.loads(p["verifiers"]) if isinstance(p["verifiers"], str) and p["verifiers"] else (p["verifiers"] or {})
        )
        check(objects, verifiers)
        console = json.loads(p["console"]) if isinstance(p["console"], str) and p["console"] else (p["console"] or {})
        check_console(console, NAME_RE, PRIVILEGES)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        module.fail_json(msg=f"invalid input: {e}")
    conn = pymysql.connect(unix_socket=p["socket"], user="root", autocommit=True, charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            batch = Batch(cur)
            if p["drift"]:
                prefixes = tuple(x for x in p["prefixes"] if PREFIX_RE.match(x))
                if not prefixes:
                    module.fail_json(msg="drift needs govhost's name prefixes")
                before = batch.drift(objects, prefixes)
                if p["drift"] == "repair" and before:
                    batch.repair(objects, prefixes)
                    after = batch.drift(objects, prefixes)
                else:
                    after = before
                module.exit_json(changed=batch.changed, drift=after, drift_before=before)
            if console:
                for c in console.get("close") or []:
                    batch.console_close(c, p["ticket_dir"])
                for c in console.get("open") or []:
                    batch.console_open(c, p["ticket_dir"])
                module.exit_json(changed=batch.changed, consoles=len(console.get("open") or console.get("close") or []))
            done = {"databases": 0, "users": 0}
            for d in objects.get("databases", []):
                batch.database(d)
                done["databases"] += 1
            for u in objects.get("users", []):
                batch.user(u, verifiers.get(u["name"]))
                done["users"] += 1
    except (pymysql.MySQLError, ValueError, OSError, KeyError) as e:
        module.fail_json(msg=f"MariaDB: {e}", done=locals().get("done"))
    finally:
        conn.close()
    module.exit_json(changed=batch.changed, done=done)


if __name__ == "__main__":
    main()
