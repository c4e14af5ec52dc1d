"""Tenant databases' use cases: what web, API and CLI call (each the same function).

Changes are requests (kinds in databases.kinds): the functions here check the surface's input,
file the request with its secrets and return it; the request engine approves, holds the budget and
submits the job. Reads are scoped to the actor: another ministry's database is a 404 everywhere.

Passwords: a user's password is generated here (or given by the user, under the password policy),
turned into the engines' verifiers by the request kind, and handed back ONCE in `Issued` for the
surface to show; it is never stored, logged, audited or sent to a host.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from panel import db, security
from panel.boot import current as current_settings
from panel.capabilities.databases import DB_ROLE, rules
from panel.capabilities.databases.models import (
    Database,
    DbConsole,
    DbGrant,
    DbLink,
    DbRemoteAccess,
    DbStatus,
    DbUser,
    Engine,
)
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.hosts import Host, with_role
from panel.models.jobs import Job
from panel.models.requests import Request
from panel.models.tenants import Organization, Role
from panel.services import hosts as hosts_svc
from panel.services import jobs as jobs_svc
from panel.services import quotas as quotas_svc
from panel.services import requests, workloads
from panel.services.actor import Actor, get_scoped, require_org_role, require_staff, scoped
from panel.services.audit import audited
from panel.services.pagination import Page, paginate
from panel.services.sweeps import sweep_hosts
from panel.services.tenants import valid_id

PORTS = {Engine.MARIADB: 3306, Engine.POSTGRESQL: 5432}
GENERATED_LENGTH = 24
DRIFT_HOSTS = 200  # DB hosts on the drift page


@dataclass(frozen=True)
class Issued:
    """A filed request and the password to show once (None when the user chose their own)."""

    request: Request
    password: str | None


@dataclass(frozen=True)
class Link:
    """A workload (a site) that uses a database; name is None once it is gone (deleted)."""

    kind: str
    workload_id: int
    name: str | None


@dataclass(frozen=True)
class Connection:
    engine: str
    host: str
    port: int
    database: str


# ---- reading -------------------------------------------------------------------------------------


def database_list(actor: Actor, *, page: int = 1, per_page: int = 50, deleted: bool = False) -> Page:
    stmt = scoped(select(Database), actor, Database)
    if not deleted:
        stmt = stmt.where(Database.status != DbStatus.DELETED)
    with db.unit_of_work():
        return paginate(stmt.order_by(Database.name, Database.id), page=page, per_page=per_page)


def database_get(actor: Actor, database_id) -> Database:
    with db.unit_of_work():
        return get_scoped(Database, valid_id(database_id, "database"), actor, "database")


def database_by_name(actor: Actor, name: str) -> Database:
    with db.unit_of_work() as s:
        row = s.scalars(
            scoped(select(Database), actor, Database).where(
                Database.name == str(name).strip().lower()[:64], Database.status != DbStatus.DELETED
            )
        ).first()
        return row if row is not None else get_scoped(Database, -1, actor, "database")


def db_user_list(actor: Actor, *, database_id=None, page: int = 1, per_page: int = 50) -> Page:
    """The actor's live DB users (of one database: those with a grant on it)."""
    stmt = scoped(select(DbUser), actor, DbUser).where(DbUser.status != DbStatus.DELETED)
    if database_id is not None:
        dbrow = database_get(actor, database_id)
        stmt = stmt.where(DbUser.id.in_(select(DbGrant.user_id).where(DbGrant.database_id == dbrow.id)))
    with db.unit_of_work():
        return paginate(stmt.order_by(DbUser.name, DbUser.id), page=page, per_page=per_page)


def db_user_get(actor: Actor, user_id) -> DbUser:
    with db.unit_of_work():
        return get_scoped(DbUser, valid_id(user_id, "db_user"), actor, "db_user")


def db_user_by_name(actor: Actor, name: str) -> DbUser:
    with db.unit_of_work() as s:
        row = s.scalars(
            scoped(select(DbUser), actor, DbUser).where(
                DbUser.name == str(name).strip().lower()[:32], DbUser.status != DbStatus.DELETED
            )
        ).first()
        return row if row is not None else get_scoped(DbUser, -1, actor, "db_user")


def database_connection(actor: Actor, database: Database) -> Connection | None:
    """Where applications connect (the host the database lives on), or None before placement."""
    with db.unit_of_work() as s:
        get_scoped(Database, database.id, actor, "database")
        host = s.get(Host, database.host_id) if database.host_id else None
        if host is None:
            return None
        return Connection(database.engine.value, host.address, PORTS[database.engine], database.name)


def user_counts(actor: Actor, database_ids: list[int]) -> dict[int, int]:
    """Users with a grant per database (one grouped query) for database lists."""
    with db.unit_of_work() as s:
        rows = s.execute(
            select(DbGrant.database_id, func.count())
            .join(DbUser, DbUser.id == DbGrant.user_id)
            .where(DbGrant.database_id.in_(database_ids), DbUser.status != DbStatus.DELETED)
            .group_by(DbGrant.database_id)
        )
        return dict(rows.all())


def database_links(actor: Actor, database_id) -> list[Link]:
    """What uses the database (its hosts may connect), with the sites' names."""
    row = database_get(actor, database_id)
    with db.unit_of_work() as s:
        links = s.execute(
            select(DbLink.kind, DbLink.workload_id).where(DbLink.database_id == row.id).order_by(DbLink.id)
        ).all()
        found: dict[str, dict] = {}
        for kind in {k for k, _ in links}:
            found[kind] = workloads.workloads(s, kind, row.org_id, [w for k, w in links if k == kind])
        return [Link(k, w, p.name if (p := found[k].get(w)) else None) for k, w in links]


def workload_choices(actor: Actor, database_id, kind: str = "site") -> list:
    """The ministry's sites (workloads of a kind) a database may be linked to: the form's choices."""
    row = database_get(actor, database_id)
    with db.unit_of_work() as s:
        return list(workloads.workloads(s, kind, row.org_id).values())


@dataclass(frozen=True)
class Storage:
    """The ministry's database storage: measured in its live databases, and its budget
    (db_storage_mb): the size budgets it holds and its limit."""

    measured_mb: int
    allocated_mb: int
    limit_mb: int


def ministry_storage(actor: Actor, org_id) -> Storage:
    rows = {r.resource: r for r in quotas_svc.quota_usage(actor, org_id)}
    budget = rows.get("db_storage_mb")
    with db.unit_of_work() as s:
        measured = s.scalar(
            select(func.coalesce(func.sum(Database.used_mb), 0)).where(
                Database.org_id == valid_id(org_id, "organization"), Database.status != DbStatus.DELETED
            )
        )
    return Storage(int(measured or 0), budget.used if budget else 0, budget.limit if budget else 0)


REMOTE_SHOWN = 50  # a database's page lists its latest remote accesses


def db_remote_list(actor: Actor, database_id) -> list[DbRemoteAccess]:
    """The database's remote access, newest first (active and expired, for the record)."""
    row = database_get(actor, database_id)
    with db.unit_of_work() as s:
        return list(
            s.scalars(
                select(DbRemoteAccess)
                .where(DbRemoteAccess.database_id == row.id)
                .order_by(DbRemoteAccess.id.desc())
                .limit(REMOTE_SHOWN)
            )
        )


def name_prefix(actor: Actor, org_id) -> str:
    """The prefix every name of the ministry gets (shown beside the name field)."""
    with db.unit_of_work() as s:
        org = s.get(Organization, valid_id(org_id, "organization"))
        if org is None or not (actor.sees_all or org.id in actor.org_ids):
            return ""
        return rules.prefix_of(org.slug, org.id)


def db_hosts(actor: Actor, *, page: int = 1, per_page: int = 50) -> Page:
    """Registered hosts with role db (data-center staff): the DB servers page."""
    require_staff(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR)
    return hosts_svc.host_list(actor, role=DB_ROLE, page=page, per_page=per_page)


@audited("databases.server_setup", "job")
def db_server_setup(actor: Actor, *, host_id, engines=("mariadb",)) -> object:
    """Data-center staff: install or repair the engines on a DB host (idempotent)."""
    hosts_svc.host_get(actor, valid_id(host_id, "host"))  # a ministry gets 404 as for a missing host
    require_staff(actor)
    engines = sorted({rules.clean_engine(e, "engines").value for e in (engines or ())})
    if not engines:
        raise Invalid("databases.engine_invalid", "Choose MariaDB or PostgreSQL.", field="engines")
    with db.unit_of_work():
        return jobs_svc.job_submit(
            actor,
            kind="databases.server",
            org_id=None,
            host_ids=[valid_id(host_id, "host")],
            params={"engines": engines},
        )


# ---- asking for changes (each files one request) -----------------------------------------------------


def _ask(actor: Actor, kind: str, org_id: int, payload: dict, secrets: dict | None = None) -> Request:
    return requests.request_create(actor, kind=kind, org_id=org_id, payload=payload, secrets=secrets)


def database_create(
    actor: Actor, *, org_id, engine: str, name: str, size_mb=None, conn_limit=None, host_id=None
) -> Request:
    payload = {"engine": engine, "name": name}
    if size_mb is not None:
        payload["size_mb"] = size_mb
    if conn_limit is not None:
        payload["conn_limit"] = conn_limit
    if host_id is not None:
        payload["host_id"] = host_id
    return _ask(actor, "databases.database_create", org_id, payload)


def database_link_set(actor: Actor, *, database_id, workload_id, kind: str = "site", linked: bool = True) -> Request:
    """A site (workload) of the ministry uses the database (linked) or no longer does: its web
    host may connect, or may no longer."""
    row = database_get(actor, database_id)
    payload = {"database_id": row.id, "kind": kind, "workload_id": workload_id, "linked": linked}
    return _ask(actor, "databases.link_set", row.org_id, payload)


def db_remote_request(actor: Actor, *, database_id, cidr: str, reason: str, expires_at: str) -> Request:
    """Ask for access to the database from a network outside the data center (TLS required) until
    expires_at; the data center approves it (0.0.0.0/0: a data-center admin only)."""
    row = database_get(actor, database_id)
    payload = {"database_id": row.id, "cidr": cidr, "reason": reason, "expires_at": expires_at}
    return _ask(actor, "databases.remote_access", row.org_id, payload)


def db_remote_revoke(actor: Actor, *, database_id, access_id) -> Request:
    """End a remote access to the database before its expiry (automatic by default: access only
    shrinks); its network comes off the server by the request's apply job, audited."""
    row = database_get(actor, database_id)
    with db.unit_of_work() as s:
        access = s.get(DbRemoteAccess, valid_id(access_id, "db_remote_access"))
        if access is None or access.database_id != row.id:
            raise NotFound("db_remote_access.not_found", "Not found.", field="access_id", id=str(access_id))
    return _ask(actor, "databases.remote_revoke", row.org_id, {"access_id": access.id})


def database_delete(actor: Actor, *, database_id) -> Request:
    row = database_get(actor, database_id)
    return _ask(actor, "databases.database_delete", row.org_id, {"database_id": row.id})


def _password(password: str | None, username: str) -> tuple[str, str | None]:
    """(the password to use, the one to show once): generated when none is given."""
    if password in (None, ""):
        new = security.new_password(GENERATED_LENGTH)
        return new, new
    return rules.check_password(password, username), None


def db_user_create(
    actor: Actor, *, database_id, name: str, profile: str = "owner", password: str | None = None
) -> Issued:
    row = database_get(actor, database_id)
    clear, shown = _password(password, str(name or ""))
    req = _ask(
        actor,
        "databases.user_create",
        row.org_id,
        {"database_id": row.id, "name": name, "profile": profile},
        {"password": clear, "username": str(name or "")[:64]},
    )
    return Issued(req, shown)


def db_user_password_reset(actor: Actor, *, user_id, password: str | None = None) -> Issued:
    user = db_user_get(actor, user_id)
    clear, shown = _password(password, user.name)
    req = _ask(
        actor, "databases.user_password", user.org_id, {"user_id": user.id}, {"password": clear, "username": user.name}
    )
    return Issued(req, shown)


def db_grant_set(actor: Actor, *, user_id, database_id, profile: str) -> Request:
    user = db_user_get(actor, user_id)
    return _ask(
        actor,
        "databases.grant_set",
        user.org_id,
        {"user_id": user.id, "database_id": database_id, "profile": profile},
    )


def db_user_delete(actor: Actor, *, user_id) -> Request:
    user = db_user_get(actor, user_id)
    return _ask(actor, "databases.user_delete", user.org_id, {"user_id": user.id})


# ---- drift: the servers against the catalog (data-center staff) ------------------------------------


@dataclass(frozen=True)
class Drift:
    """A DB host's last drift check: per engine the differences found (at most DRIFT_SHOWN kept,
    `count` whole) and, after a repair, how many there were before it."""

    host_id: int
    host: str
    engines: tuple[str, ...]
    checked_at: str | None
    job_id: int | None
    repair: bool
    found: dict

    @property
    def count(self) -> int:
        return sum(f.get("count", 0) for f in self.found.values())


def db_drift_list(actor: Actor, *, host_id=None) -> list[Drift]:
    """Every DB host with an engine set up, with its last drift check (staff; newest hosts last)."""
    require_staff(actor, Role.ADMIN, Role.OPERATOR, Role.AUDITOR)
    with db.unit_of_work() as s:
        stmt = select(Host).where(with_role(DB_ROLE)).order_by(Host.id).limit(DRIFT_HOSTS)
        if host_id is not None:
            stmt = stmt.where(Host.id == valid_id(host_id, "host"))
        out = []
        for h in s.scalars(stmt):
            engines = tuple((h.facts or {}).get("db_engines") or ())
            if not engines:
                continue
            d = (h.facts or {}).get("db_drift") or {}
            out.append(
                Drift(
                    h.id,
                    h.name,
                    engines,
                    d.get("checked_at"),
                    d.get("job_id"),
                    bool(d.get("repair")),
                    d.get("engines") or {},
                )
            )
        return out


def _drift_hosts(actor: Actor, host_id) -> list[int]:
    if host_id is not None:
        hosts_svc.host_get(actor, valid_id(host_id, "host"))  # a ministry gets 404 as for a missing host
    require_staff(actor, Role.ADMIN, Role.OPERATOR)
    listed = db_drift_list(actor, host_id=host_id)
    if host_id is not None and not listed:
        raise NotFound("host.not_found", "Not found.", field="host_id", id=str(host_id))
    return [d.host_id for d in listed]


@audited("databases.drift_check", "job", org=lambda target, kw: None)
def db_drift_check(actor: Actor, *, host_id=None) -> list:
    """Submit a drift check job for one DB host or for every one that is usable (staff)."""
    ids = _drift_hosts(actor, host_id)
    with db.unit_of_work() as s:
        found = sweep_hosts(s, ids, "databases.drift")
        if host_id is not None and found.skipped:
            raise Conflict("databases.host_unreachable", "The host is down or its key changed; probe it first.")
        return [
            jobs_svc.job_submit(actor, kind="databases.drift", org_id=None, host_ids=[h], params={"repair": False})
            for h in ids
            if h in found.ids
        ]


@audited("databases.drift_repair", "job", org=lambda target, kw: None)
def db_drift_repair(actor: Actor, *, host_id) -> object:
    """Submit a repair job for one DB host (staff): govhost's users, grants and access on it become
    what the catalog says; nothing without a ministry's prefix is touched."""
    ids = _drift_hosts(actor, valid_id(host_id, "host"))
    with db.unit_of_work():
        return jobs_svc.job_submit(
            actor, kind="databases.drift", org_id=None, host_ids=ids[:1], params={"repair": True}
        )


# ---- the web console: a short-lived login and a single-use ticket, never a password ---------------


@dataclass(frozen=True)
class ConsoleOpened:
    """A console session filed. Its job makes the login and leaves the ticket on the DB host; the
    browser then signs on at `url` with `ticket` (handed back once here, stored nowhere)."""

    console: DbConsole
    job: Job
    url: str
    ticket: str

    @property
    def id(self) -> int:
        return self.console.id

    @property
    def org_id(self) -> int:
        return self.console.org_id


def _console_minutes() -> int:
    minutes = current_settings().databases.console_minutes
    return min(max(int(minutes), rules.CONSOLE_MIN_MINUTES), rules.CONSOLE_MAX_MINUTES)


@audited("databases.console_open", "db_console")
def db_console_open(actor: Actor, *, user_id) -> ConsoleOpened:
    """Open the web console (phpMyAdmin or Adminer) as a DB user of the actor's ministry: a login
    with that user's grants for a few minutes (databases.console_minutes), reachable from the DB
    host's own socket only, made by one databases.console job. Ministry users only: another
    ministry's user is a 404, and data-center staff do not sign on to a ministry's data."""
    user = db_user_get(actor, user_id)
    if actor.is_staff:
        raise Forbidden("databases.console_ministry_only", "Only the ministry's own users open its database console.")
    with db.unit_of_work() as s:
        require_org_role(actor, user.org_id)
        user = s.get(DbUser, user.id)
        host = s.get(Host, user.host_id) if user.host_id else None
        if user.status != DbStatus.ACTIVE or host is None:
            raise Conflict("databases.user_not_active", "The user is not active on its server yet.")
        engine = Engine(user.engine)
        if engine.value not in ((host.facts or {}).get("db_console") or []):
            raise Conflict("databases.console_not_set_up", "The web console is not set up on this server yet.")
        ticket, digest = rules.console_ticket()
        row = DbConsole(
            org_id=user.org_id,
            user_id=user.id,
            host_id=host.id,
            engine=engine,
            login="",
            ticket_sha256=digest,
            opened_by=actor.username[:150],
            expires_at=db.utcnow() + dt.timedelta(minutes=_console_minutes()),
        )
        s.add(row)
        s.flush()
        row.login = rules.console_login(row.id)
        job = jobs_svc.job_create(
            s,
            kind="databases.console",
            host_ids=[host.id],
            params={"op": "open", "console_ids": [row.id]},
            org_id=row.org_id,
            created_by_id=actor.user_id,
            created_by_name=actor.username,
        )
        row.job_id = job.id
        url = rules.console_url(host.address, current_settings().databases.console_port, engine)
        return ConsoleOpened(row, job, url, ticket)


def db_console_url(actor: Actor, console: DbConsole) -> str:
    """The console's sign-on page for a session of the actor's ministry."""
    with db.unit_of_work() as s:
        row = get_scoped(DbConsole, console.id, actor, "db_console")
        host = s.get(Host, row.host_id) if row.host_id else None
        if host is None:
            raise NotFound("db_console.not_found", "Not found.", id=str(console.id))
        return rules.console_url(host.address, current_settings().databases.console_port, row.engine)


def db_console_get(actor: Actor, console_id) -> DbConsole:
    """A console session of the actor's ministry (its page waits for the job, then signs on)."""
    with db.unit_of_work():
        return get_scoped(DbConsole, valid_id(console_id, "db_console"), actor, "db_console")
