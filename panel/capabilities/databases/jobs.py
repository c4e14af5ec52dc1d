"""Database job kinds: databases.server (set a DB host's engines up) and databases.apply (a batch of
databases, users and grants of one host, as one playbook run with one module call per engine).

A run sends each changed object's whole desired state (a user with every address it may come from
and every grant), so applying converges whatever the server held. Verifiers travel only as job
secrets.
"""

from __future__ import annotations

import ipaddress
import json
import shlex

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, selectinload

from panel import db, events
from panel.boot import current as current_settings
from panel.capabilities.databases import rules
from panel.capabilities.databases.models import (
    ON_HOST,
    AccessStatus,
    ConsoleStatus,
    Database,
    DbConsole,
    DbGrant,
    DbLink,
    DbRemoteAccess,
    DbStatus,
    DbUser,
    Engine,
    Profile,
)
from panel.db import utcnow
from panel.jobs.capabilities import Capability, host_command, job_hosts, job_secrets, register, target_of
from panel.jobs.submit import job_create
from panel.models.hosts import Host
from panel.models.jobs import Job
from panel.models.tenants import Organization, Role
from panel.services import audit, pki, workloads
from panel.services.quotas import quota_release
from provisioners.base import Result


def N_(text: str) -> str:
    return text


S = DbStatus


def _one_host(job: Job, session: Session) -> Host:
    hosts = job_hosts(job, session)
    if len(hosts) != 1:
        raise ValueError("a database job runs on exactly one host")
    return hosts[0]


def database_users(session: Session, database_id: int) -> list[int]:
    """The live users with a grant on the database: the ones whose entries follow its links."""
    return sorted(
        session.scalars(
            select(DbGrant.user_id)
            .join(DbUser, DbUser.id == DbGrant.user_id)
            .where(DbGrant.database_id == database_id, DbUser.status.in_([S.PENDING, S.ACTIVE]))
        )
    )


def link_addresses(session: Session, database_ids) -> dict[int, list[str]]:
    """database id -> the addresses of the hosts its linked workloads (sites) run on: who may connect
    by default. A database nothing uses accepts no one (remote access grants aside)."""
    links = session.execute(
        select(DbLink.database_id, DbLink.kind, DbLink.workload_id, Database.org_id)
        .join(Database, Database.id == DbLink.database_id)
        .where(DbLink.database_id.in_(set(database_ids)))
    ).all()
    where = workloads.host_addresses(session, {(k, w, o) for _, k, w, o in links})
    out: dict[int, set[str]] = {}
    for d, k, w, _ in links:
        if (k, w) in where:
            out.setdefault(d, set()).add(where[(k, w)])
    return {d: sorted(a) for d, a in out.items()}


def _compact(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _objects(job: Job, session: Session) -> tuple[list[Database], list[DbUser]]:
    dbs = list(session.scalars(select(Database).where(Database.id.in_(job.params.get("database_ids") or []))))
    users = list(session.scalars(select(DbUser).where(DbUser.id.in_(job.params.get("user_ids") or []))))
    return dbs, users


def effective_profile(grant: DbGrant) -> str:
    """The profile applied: while its database is write-frozen (usage at its budget) an owner or a
    read-write user keeps SELECT, DELETE and DROP to clean up, without INSERT/UPDATE/CREATE/ALTER.
    A PostgreSQL owner stays an owner (DROP needs the owner role): the database itself is frozen
    there (the owner role loses INSERT/UPDATE and an event trigger refuses DDL other than DROP)."""
    frozen = grant.database.frozen_at is not None and grant.profile != Profile.READ_ONLY
    if frozen and not (grant.database.engine == Engine.POSTGRESQL and grant.profile == Profile.OWNER):
        return "frozen"
    return grant.profile.value


def remote_networks(session: Session, database_ids, now) -> dict[int, list[str]]:
    """database id -> the networks of its remote access that has not expired (TLS required)."""
    rows = session.execute(
        select(DbRemoteAccess.database_id, DbRemoteAccess.cidr).where(
            DbRemoteAccess.database_id.in_(set(database_ids)),
            DbRemoteAccess.status == AccessStatus.ACTIVE,
            DbRemoteAccess.expires_at > now,
        )
    ).all()
    out: dict[int, set[str]] = {}
    for d, cidr in rows:
        out.setdefault(d, set()).add(cidr)
    return {d: sorted(n) for d, n in out.items()}


def user_state(
    user: DbUser, db_hosts: dict[int, list[str]], revoke: list[str] = (), remote: dict[int, list[str]] | None = None
) -> dict:
    """The user's whole desired state. Each granted database brings the addresses allowed to reach
    it (its sites' web hosts, and its remote networks, which require TLS); an entry (MariaDB
    user@address) gets only the grants of the databases that allow its address."""
    on_host = user.status in ON_HOST
    live = [g for g in user.grants if g.database.status in (S.PENDING, S.ACTIVE)]
    grants = {g.database.name: effective_profile(g) for g in live}
    remote = remote or {}
    as_host = rules.mariadb_host if user.engine == Engine.MARIADB else (lambda n: n)
    ssl = sorted({as_host(n) for g in live for n in remote.get(g.database_id, [])})
    per_db = {
        g.database.name: sorted({*db_hosts.get(g.database_id, []), *map(as_host, remote.get(g.database_id, []))})
        for g in live
    }
    host_grants: dict[str, dict[str, str]] = {}
    for g in live:
        for a in per_db[g.database.name]:
            host_grants.setdefault(a, {})[g.database.name] = effective_profile(g)
    limit = max((g.database.conn_limit for g in user.grants), default=0)
    return {
        "name": user.name,
        "state": "present" if on_host else "absent",
        "hosts": sorted(host_grants),
        "ssl_hosts": ssl,
        "grants": grants,
        "host_grants": host_grants,
        "db_hosts": per_db,
        "conn_limit": limit,
        "revoke": list(revoke),
    }


def _cidr(address: str) -> str:
    """An address or network in pg_hba's CIDR form (203.0.113.7/32, 203.0.113.0/24)."""
    return str(ipaddress.ip_network(address, strict=False))


def hba_lines(users: list[dict]) -> list[dict]:
    """pg_hba lines for PostgreSQL users: one per database granted and address allowed."""
    return [
        {"type": "hostssl" if a in u["ssl_hosts"] else "host", "database": db, "user": u["name"], "address": _cidr(a)}
        for u in users
        if u["state"] == "present"
        for db in sorted(u["grants"])
        for a in u["db_hosts"].get(db, [])
    ]


def _apply_build(job: Job, session: Session):
    host = _one_host(job, session)
    dbs, users = _objects(job, session)
    engines = {o.engine for o in [*dbs, *users]}
    if len(engines) != 1:
        raise ValueError("a databases.apply job carries objects of one engine")
    granted = {g.database_id for u in users for g in u.grants}
    where = link_addresses(session, granted)
    remote = remote_networks(session, granted, utcnow())
    revoke = job.params.get("revoke") or {}
    objects = {
        "databases": [
            {
                "name": d.name,
                "state": "present" if d.status in (*ON_HOST, S.SUSPENDED) else "absent",
                "conn_limit": d.conn_limit,
                # frozen: its grants are left out of every user's state and open sessions end
                "frozen": d.status == S.SUSPENDED,
                # write-frozen (usage at its budget): PostgreSQL freezes the database itself
                "write_frozen": d.frozen_at is not None,
            }
            for d in dbs
        ],
        "users": [user_state(u, where, revoke.get(str(u.id), ()), remote) for u in users],
    }
    engine = engines.pop()
    if engine == Engine.POSTGRESQL:
        objects["hba"] = hba_lines(objects["users"])
    extra = {"govhost_db_engine": engine.value, "govhost_db_objects_json": _compact(objects)}
    verifiers = {u.name: v for u in users if (v := job_secrets(job).get(str(u.id)))}
    secrets = {"govhost_db_verifiers": json.dumps(verifiers)} if verifiers else {}
    return extra, secrets, [target_of(host)]


def _apply_done(job: Job, session: Session, result: Result) -> None:
    dbs, users = _objects(job, session)
    now, gone = utcnow(), set()
    for row in [*dbs, *users]:
        if row.status == S.PENDING:
            row.move_to(S.ACTIVE)
            row.last_error = ""
        elif row.status == S.DELETING:
            row.move_to(S.DELETED)
            row.deleted_at = now
            if isinstance(row, Database):
                gone.add(row.request_id)
    for d in dbs:
        if d.status == S.DELETED:  # its grants were revoked in this run
            for g in session.scalars(select(DbGrant).where(DbGrant.database_id == d.id)):
                session.delete(g)
    quota_release(session, gone)


def _apply_failed(job: Job, session: Session, result: Result) -> None:
    dbs, users = _objects(job, session)
    for row in [*dbs, *users]:
        if row.status == S.PENDING:
            row.move_to(S.FAILED)
            row.last_error = (result.explanation or "")[:1000]
        elif row.status == S.DELETING or (row.status == S.SUSPENDED and job.params.get("op") == "suspend"):
            row.move_to(S.ACTIVE)
            row.last_error = (result.explanation or "")[:1000]


# ---- databases.usage: sizes in one query per host; 90% notice, 100% write-freeze, lifted below 90% ---

NOTICE, FREEZE = 0.9, 1.0
USAGE_CHUNK = 1000  # databases per UPDATE (2 bound values each), far below SQLite's 32,766
NEAR = N_("Database {name} uses {used} of its {limit} MB ({pct}%)")
FROZEN = N_("Database {name} is full ({used} of {limit} MB): writes are stopped until it is below 90%")
THAWED = N_("Database {name} uses {used} of its {limit} MB, below 90%, so writes work again")


# Each engine's ONE query for every database of the host, in one fixed command over SSH (no
# playbook: its start-up alone took longer than the whole sweep may). No name is sent: the panel
# keeps its own databases' sizes from the answer. MariaDB: data + index bytes per schema;
# PostgreSQL: pg_database_size over an empty database's (template0's), so the catalog an empty
# database holds counts against no budget.
USAGE_SQL = {
    Engine.MARIADB: (
        "SELECT s.SCHEMA_NAME, COALESCE(SUM(t.DATA_LENGTH + t.INDEX_LENGTH), 0) FROM information_schema.SCHEMATA s"
        " LEFT JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.SCHEMA_NAME GROUP BY s.SCHEMA_NAME"
    ),
    Engine.POSTGRESQL: (
        "SELECT datname, GREATEST(pg_database_size(oid) - (SELECT pg_database_size('template0')), 0)"
        " FROM pg_database WHERE NOT datistemplate"
    ),
}
USAGE_SHELL = {
    Engine.MARIADB: "echo '== mariadb'; mariadb --batch --skip-column-names -e {sql}",
    Engine.POSTGRESQL: "echo '== postgresql'; cd / && runuser -u postgres -- psql -X -A -t -c {sql}",
}
USAGE_STEP = "Size of the tenant databases (one query per engine)"


def usage_command(engines) -> str:
    """The fixed shell command measuring these engines (constants only)."""
    parts = [USAGE_SHELL[e].format(sql=shlex.quote(USAGE_SQL[e])) for e in Engine if e in engines]
    return "set -e; " + "; ".join(parts)


def parse_usage(stdout: str) -> dict[Engine, dict[str, int]]:
    """`== engine` sections of `name<sep>bytes` lines (MariaDB's batch output is tab-separated,
    psql's unaligned one `|`-separated); the size is the last field, so an odd name cannot shift it."""
    out: dict[Engine, dict[str, int]] = {}
    engine = None
    for line in stdout.splitlines():
        if line.startswith("== "):
            engine = Engine(line[3:].strip())
            out.setdefault(engine, {})
            continue
        if engine is None:
            continue
        name, _, size = line.rpartition("\t" if engine == Engine.MARIADB else "|")
        if name and size.isdigit():
            out[engine][name] = int(size)
    return out


def _usage_event(counter: int, event: str, status: str | None, text: str = "") -> dict:
    return {"counter": counter, "event": event, "task": USAGE_STEP, "host": "", "status": status, "stdout": text}


def _usage_run(params: dict, cancelled, on_event) -> Result:
    """databases.usage without a playbook: read the host and which engines it measures (one short
    transaction), run the one command over SSH (no transaction open), hand the sizes of the job's
    databases to `_usage_done`."""
    ids = params.get("database_ids") or []
    with db.unit_of_work() as s:
        rows = s.execute(select(Database.engine, Database.name).where(Database.id.in_(ids))).all()
        host = s.get(Host, params.get("host_id"))
        if host is None:
            return Result("failed", 1, explanation="The DB host of this measurement is gone.")
        target = target_of(host)
    wanted = {e: {n for en, n in rows if en == e} for e in Engine}
    engines = [e for e in Engine if wanted[e]]
    if not engines:
        return Result("successful", 0, data={}, explanation="No database to measure.")
    on_event(_usage_event(1, "playbook_on_task_start", None))
    done = host_command(target, usage_command(engines), timeout=120)
    if not done.ok:
        why = f"The sizes could not be read (exit {done.rc}): {done.stderr.strip()[-500:]}"
        on_event(_usage_event(2, "runner_on_failed", "failed", why))
        return Result("failed", done.rc, explanation=why)
    sizes = parse_usage(done.stdout)
    data = {f"db_usage_{e.value}": {n: b for n, b in sizes.get(e, {}).items() if n in wanted[e]} for e in engines}
    counted = sum(len(v) for v in data.values())
    on_event(_usage_event(2, "runner_on_ok", "ok", f"{counted} databases measured"))
    return Result("successful", 0, data=data, explanation=f"{counted} databases measured")


def _no_build(job: Job, session: Session):
    return {}, {}, []


def _tell(session: Session, d: Database, subject: str, kind: str) -> None:
    events.usage_over_limit.send(
        "databases",
        session=session,
        org_id=d.org_id,
        kind=kind,
        subject=subject,
        params={"name": d.name, "used": d.used_mb, "limit": d.size_mb, "pct": round(100 * d.used_mb / d.size_mb)},
        link=f"/databases/{d.id}",
        roles=(Role.WEBMASTER, Role.ORG_ADMIN),
        staff=True,
    )


def _usage_done(job: Job, session: Session, result: Result) -> None:
    """Record each size; cross 90% (notice), 100% (freeze) or back below 90% (lift): each
    transition a notification and an audit entry, and a freeze or lift re-applies the users.
    Set-based: one read of the measured databases' columns and one UPDATE per USAGE_CHUNK for
    every size; only the few databases that cross a line are loaded as objects."""
    data = result.data or {}
    sizes = {e: data.get(f"db_usage_{e.value}") or {} for e in Engine}
    rows = session.execute(
        select(Database.id, Database.name, Database.engine, Database.size_mb, Database.frozen_at, Database.warned_at)
        .where(Database.id.in_(job.params.get("database_ids") or []), Database.status == S.ACTIVE)
        .order_by(Database.id)
    ).all()
    now, used_mb, crossing = utcnow(), {}, {}
    for db_id, name, engine, size_mb, frozen_at, warned_at in rows:
        if name not in sizes[engine]:
            continue
        used = int(sizes[engine][name])  # bytes; shown as whole MB rounded up, compared exactly
        used_mb[db_id] = -(-used // 2**20)
        share = used / (max(1, size_mb) * 2**20)
        freeze, lift = share >= FREEZE and frozen_at is None, share < NOTICE and frozen_at is not None
        if freeze or lift or (share >= NOTICE) != (warned_at is not None):  # a line crossed either way
            crossing[db_id] = share
    ids = sorted(used_mb)
    for i in range(0, len(ids), USAGE_CHUNK):
        chunk = {k: used_mb[k] for k in ids[i : i + USAGE_CHUNK]}
        session.execute(
            update(Database)
            .where(Database.id.in_(chunk))
            .values(used_mb=case(chunk, value=Database.id), used_at=now)
            .execution_options(synchronize_session="fetch")  # rows this session holds see the sizes
        )
    changed = []
    moved = session.scalars(
        select(Database)
        .where(Database.id.in_(crossing))
        .order_by(Database.id)
        .execution_options(populate_existing=True)
    )
    for d in moved:
        share = crossing[d.id]
        if share >= FREEZE and d.frozen_at is None:
            d.frozen_at = now
            changed.append((d, "databases.write_frozen"))
            _tell(session, d, FROZEN, "database.frozen")
        elif share < NOTICE and d.frozen_at is not None:
            d.frozen_at = None
            changed.append((d, "databases.write_unfrozen"))
            _tell(session, d, THAWED, "database.unfrozen")
        if share >= NOTICE and d.warned_at is None:
            d.warned_at = now
            audit.append(
                None,
                "databases.usage_notice",
                object_type="database",
                object_id=d.id,
                org_id=d.org_id,
                summary={"database": d.name, "used_mb": d.used_mb, "size_mb": d.size_mb},
            )
            if d.frozen_at is None:
                _tell(session, d, NEAR, "database.near_limit")
        elif share < NOTICE:
            d.warned_at = None
    job.data = {"databases_measured": len(ids), "crossed": len(crossing)}  # a summary, not every size
    session.flush()
    for d, action in changed:
        audit.append(
            None,
            action,
            object_type="database",
            object_id=d.id,
            org_id=d.org_id,
            summary={"database": d.name, "used_mb": d.used_mb, "size_mb": d.size_mb},
        )
        users = database_users(session, d.id)
        if users or d.engine == Engine.POSTGRESQL:  # PostgreSQL freezes the database itself too
            job_create(
                session,
                kind="databases.apply",
                org_id=d.org_id,
                host_ids=[d.host_id],
                params={"database_ids": [d.id] if d.engine == Engine.POSTGRESQL else [], "user_ids": users},
            )


# ---- databases.drift: the servers against the catalog (and repair), within govhost's prefixes ------

DRIFT_SHOWN = 200  # differences kept per engine (the count is kept whole)


def catalog_prefixes(session: Session) -> list[str]:
    """Every ministry's name prefix: the only names a drift check looks at or a repair touches."""
    orgs = session.execute(select(Organization.id, Organization.slug))
    return sorted({rules.prefix_of(slug, oid) for oid, slug in orgs})


def desired_objects(session: Session, host_id: int, engine: Engine) -> dict:
    """The host's whole desired state for one engine, as an apply job would send it for everything:
    its live databases (a suspended one marked frozen) and the users that should be on it."""
    dbs = session.scalars(
        select(Database).where(
            Database.host_id == host_id, Database.engine == engine, Database.status.in_([*ON_HOST, S.SUSPENDED])
        )
    ).all()
    users = session.scalars(
        select(DbUser)
        .where(DbUser.host_id == host_id, DbUser.engine == engine, DbUser.status.in_(ON_HOST))
        .options(selectinload(DbUser.grants))
    ).all()
    granted = {g.database_id for u in users for g in u.grants}
    where = link_addresses(session, granted)
    remote = remote_networks(session, granted, utcnow())
    objects = {
        "databases": [
            {
                "name": d.name,
                "state": "present",
                "conn_limit": d.conn_limit,
                "frozen": d.status == S.SUSPENDED,
            }
            for d in dbs
        ],
        "users": [user_state(u, where, (), remote) for u in users],
    }
    if engine == Engine.POSTGRESQL:
        objects["hba"] = hba_lines(objects["users"])
    return objects


def _drift_build(job: Job, session: Session):
    host = _one_host(job, session)
    engines = [e for e in Engine if e.value in ((host.facts or {}).get("db_engines") or [])]
    if not engines:
        raise ValueError("no engine is set up on this host")
    extra = {
        "govhost_db_engines": [e.value for e in engines],
        "govhost_db_prefixes": catalog_prefixes(session),
        "govhost_db_drift": "repair" if job.params.get("repair") else "check",
    }
    for e in engines:
        key = "govhost_db_objects_json" if e == Engine.MARIADB else "govhost_pg_objects_json"
        extra[key] = _compact(desired_objects(session, host.id, e))
    return extra, {}, [target_of(host)]


def _drift_done(job: Job, session: Session, result: Result) -> None:
    """Keep each engine's differences on the host (the drift page reads them) and audit what a
    check found or a repair fixed."""
    host = _one_host(job, session)
    data, repair = result.data or {}, bool(job.params.get("repair"))
    found = {}
    for e in (host.facts or {}).get("db_engines") or []:
        if f"db_drift_{e}" not in data:
            continue
        items, before = data[f"db_drift_{e}"] or [], data.get(f"db_drift_before_{e}") or []
        found[e] = {"count": len(items), "items": items[:DRIFT_SHOWN], "before": len(before)}
    host.facts = {
        **(host.facts or {}),
        "db_drift": {
            "checked_at": utcnow().isoformat(timespec="seconds"),
            "job_id": job.id,
            "repair": repair,
            "engines": found,
        },
    }
    if repair or any(f["count"] for f in found.values()):
        audit.append(
            None,
            "databases.drift_repaired" if repair else "databases.drift_found",
            object_type="host",
            object_id=host.id,
            summary={
                "host": host.name,
                "job": job.id,
                **{f"{e}_before": f["before"] for e, f in found.items()},
                **{f"{e}_after": f["count"] for e, f in found.items()},
            },
        )


def _server_build(job: Job, session: Session):
    host = _one_host(job, session)
    engines = [e for e in job.params.get("engines") or [] if e in {x.value for x in Engine}]
    if not engines:
        raise ValueError("name at least one engine: mariadb, postgresql")
    key, chain = host_certificate(host)
    # One certificate for the host's TLS services: the web console and both engines (a client that
    # trusts the panel's CA verifies any of them: sslmode=verify-full, --ssl-verify-server-cert).
    extra = {
        "govhost_db_engines": engines,
        "nginx_console_port": current_settings().databases.console_port,
        **{f"{role}_tls_chain_pem": chain for role in TLS_ROLES},
    }
    return extra, {f"{role}_tls_key_pem": key for role in TLS_ROLES}, [target_of(host)]


TLS_ROLES = ("nginx_console", "mariadb", "postgresql")  # the roles of db_server.yml that serve TLS


def host_certificate(host: Host) -> tuple[str, str]:
    """The DB host's certificate from the panel's CA (key PEM, chain PEM), naming the host and the
    address clients use (the console's URL, the engines' host): a client that trusts the CA
    verifies the name it connected to."""
    try:
        ipaddress.ip_address(host.address)
        names, addresses = [host.name], [host.address]
    except ValueError:  # a host registered by DNS name
        names, addresses = [host.name, host.address], []
    return pki.issue(None, names, addresses)


def _server_done(job: Job, session: Session, result: Result) -> None:
    host = _one_host(job, session)
    have = set((host.facts or {}).get("db_engines") or [])
    data = result.data or {}
    console = (host.facts or {}).get("db_console") or []
    ready = {e for e, ok in (data.get("db_console_ready") or {}).items() if ok}
    missing = {e: why for e, why in (data.get("db_console_missing") or {}).items() if e not in ready}
    host.facts = {
        **(host.facts or {}),
        "db_engines": sorted(have | set(job.params.get("engines") or [])),
        # the web console of each engine whose console software the run could set up (phpMyAdmin,
        # Adminer with php-pgsql), and why not for the others
        "db_console": sorted((set(console) | ready) - set(missing)),
        "db_console_missing": {e: str(why)[:300] for e, why in missing.items()},
        "db_server_at": utcnow().isoformat(timespec="seconds"),
    }


# ---- databases.console: a web console's short-lived login and single-use ticket (open, close) --------

CONSOLE_CONNECTIONS = 3  # a console login's connections at once (phpMyAdmin and Adminer use one or two)


def _consoles(job: Job, session: Session) -> list[DbConsole]:
    ids = job.params.get("console_ids") or []
    return list(session.scalars(select(DbConsole).where(DbConsole.id.in_(ids)).order_by(DbConsole.id)))


def console_grants(user: DbUser) -> dict[str, str]:
    """The user's grants as its own entries get them (write-freeze included); a suspended (frozen)
    database gives none, as it gives the user none."""
    return {g.database.name: effective_profile(g) for g in user.grants if g.database.status == S.ACTIVE}


def _console_build(job: Job, session: Session):
    host = _one_host(job, session)
    rows = _consoles(job, session)
    if not rows or len({c.engine for c in rows}) != 1:
        raise ValueError("a databases.console job carries sessions of one engine")
    if job.params.get("op") == "open":
        (c,) = rows
        if c.status != ConsoleStatus.PENDING or c.expires_at <= utcnow():
            raise ValueError("the console session expired before its login was made")
        user = session.get(DbUser, c.user_id)
        if user is None or user.status != S.ACTIVE:
            raise ValueError("the database user is not active on its host")
        grants = console_grants(user)
        objects = {
            "open": [
                {
                    "login": c.login,
                    "user": user.name,
                    "ticket": c.ticket_sha256,
                    "expires": int(c.expires_at.timestamp()),
                    "grants": grants,
                    "database": min(grants, default=""),
                    "conn_limit": CONSOLE_CONNECTIONS,
                }
            ]
        }
    else:
        ids = {c.user_id for c in rows}
        users = dict(session.execute(select(DbUser.id, DbUser.name).where(DbUser.id.in_(ids))).all())
        # the user inherits what the login may have come to own (never dropped: tenant data)
        objects = {
            "close": [{"login": c.login, "ticket": c.ticket_sha256, "user": users.get(c.user_id, "")} for c in rows]
        }
    extra = {"govhost_db_engine": rows[0].engine.value, "govhost_console_json": _compact(objects)}
    return extra, {}, [target_of(host)]


def _console_done(job: Job, session: Session, result: Result) -> None:
    now = utcnow()
    for c in _consoles(job, session):
        if job.params.get("op") == "open":
            if c.status == ConsoleStatus.PENDING:
                c.move_to(ConsoleStatus.OPEN)
            continue
        if c.status == ConsoleStatus.CLOSED:
            continue
        c.move_to(ConsoleStatus.CLOSED)
        c.closed_at = now
        audit.append(
            None,
            "databases.console_closed",
            object_type="db_console",
            object_id=c.id,
            org_id=c.org_id,
            summary={"login": c.login, "user_id": c.user_id, "job": job.id},
        )


def _console_failed(job: Job, session: Session, result: Result) -> None:
    """A failed open leaves nothing to sign on with (the sweep still drops what it may have made);
    a failed close is tried again by the next sweep."""
    if job.params.get("op") != "open":
        return
    for c in _consoles(job, session):
        if c.status == ConsoleStatus.PENDING:
            c.move_to(ConsoleStatus.FAILED)
            c.last_error = (result.explanation or "")[:1000]


register(
    Capability(
        "databases.console",
        "db_console.yml",
        _console_build,
        on_success=_console_done,
        on_failure=_console_failed,
        timeout_s=120,
        description=N_("Open or close web console sessions: short-lived DB logins and their sign-on tickets"),
    )
)
register(
    Capability(
        "databases.server",
        "db_server.yml",
        _server_build,
        on_success=_server_done,
        timeout_s=900,
        description=N_("Set up a DB host: MariaDB and/or PostgreSQL, TLS"),
    )
)
register(
    Capability(
        "databases.usage",
        "",
        _no_build,
        on_success=_usage_done,
        timeout_s=300,
        description=N_("Measure the size of a host's tenant databases"),
        local=_usage_run,
    )
)
register(
    Capability(
        "databases.drift",
        "db_drift.yml",
        _drift_build,
        on_success=_drift_done,
        timeout_s=600,
        description=N_("Compare a DB host's tenant users, grants and access with the catalog (or repair them)"),
    )
)
register(
    Capability(
        "databases.apply",
        "db_objects.yml",
        _apply_build,
        on_success=_apply_done,
        on_failure=_apply_failed,
        timeout_s=600,
        description=N_("Tenant databases, users and grants of one host, in one batch"),
    )
)
