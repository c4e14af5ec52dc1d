"""Request kinds of tenant databases. Importing this module registers them (the loader does).

A new database is approved by the data center (it takes room on a shared server); users, grants,
password resets and deletions are the ministry's own business and default to `auto`. Approval
writes the desired rows and submits ONE databases.apply job for the host, carrying the objects
this request changes. Passwords arrive as request secrets and leave validation as the engine's
verifier: the request keeps no password.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from marshmallow import Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from panel import db, security
from panel.capabilities.databases import CAPACITY, DB_ROLE, rules
from panel.capabilities.databases.jobs import database_users
from panel.capabilities.databases.models import (
    LIVE,
    ON_HOST,
    AccessStatus,
    Database,
    DbGrant,
    DbLink,
    DbRemoteAccess,
    DbStatus,
    DbUser,
    Engine,
    Profile,
)
from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.jobs.capabilities import job_secrets
from panel.jobs.submit import job_create, pending_to_join, usable_hosts
from panel.models.hosts import Host, HostState, with_role
from panel.models.jobs import RETRYABLE, Job
from panel.models.requests import ApprovalMode, Request, RequestStatus
from panel.models.tenants import MANAGER_ROLES, Organization, Role
from panel.services import audit, jobs, requests, workloads
from panel.services import hosts as hosts_svc
from panel.services.actor import Actor
from panel.services.pagination import MAX_ID
from panel.services.quotas import quota_release
from panel.services.request_kinds import (
    N_,
    kinds_of,
    on_host_of,
    reject_unknown,
    require_int,
    rule_error,
    says,
    text,
)

S = DbStatus


# ---- payload schemas: the limits the web form, the API body and the CLI share ---------------------
# The rules (databases.rules) still decide what a value means; a value past a schema limit fails
# with the rule's own key (rule_error), so every surface gets one answer.


def _id(**kw) -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID), **kw)


def _name(max_len: int, also: str = "") -> fields.String:
    return fields.String(
        required=True,
        validate=text(max=max_len),
        metadata=rule_error(
            "databases.name_too_long",
            "A name has at most {max} characters.",
            description="letters a-z, digits and _, beginning with a letter; the ministry's prefix is added" + also,
        ),
    )


def _profile(extra: tuple[str, ...] = ()) -> fields.String:
    return fields.String(
        validate=validate.OneOf([*rules.PROFILES, *extra]),
        metadata=rule_error("databases.profile_invalid", "Choose owner, read-write or read-only."),
    )


class DatabasePayload(Schema):
    engine = fields.String(
        required=True,
        validate=validate.OneOf(rules.ENGINES),
        metadata=rule_error("databases.engine_invalid", "Choose MariaDB or PostgreSQL."),
    )
    name = _name(rules.MAX_DB_SUFFIX, "; on PostgreSQL not a user's name (409 databases.database_name_is_user)")
    size_mb = fields.Integer(
        strict=True,
        validate=validate.Range(min=rules.MIN_SIZE_MB, max=rules.MAX_SIZE_MB),
        metadata=rule_error("databases.size_invalid", "The size budget is a whole number of MB from {min} to {max}."),
    )
    conn_limit = fields.Integer(
        strict=True,
        validate=validate.Range(min=rules.MIN_CONN, max=rules.MAX_CONN),
        metadata=rule_error(
            "databases.conn_limit_invalid", "The connection limit is a whole number from {min} to {max}."
        ),
    )
    host_id = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "the DB host (data-center operators only); empty: placement chooses"},
    )


class DatabaseIdPayload(Schema):
    database_id = _id()


class UserCreatePayload(Schema):
    database_id = _id()
    name = _name(
        rules.MAX_USER_SUFFIX,
        "; on PostgreSQL not a database's name, which its owner role has (409 databases.user_name_is_database)",
    )
    profile = _profile()


class UserIdPayload(Schema):
    user_id = _id()


class GrantPayload(Schema):
    user_id = _id()
    database_id = _id()
    profile = _profile(("none",))


# ---- placement -----------------------------------------------------------------------------------


def engine_ready(host: Host, engine: str) -> bool:
    """The host's engine is set up: a databases.server job finished there (it records the engines)."""
    return engine in ((host.facts or {}).get("db_engines") or [])


def capacity(host: Host) -> int:
    return hosts_svc.capacity(host, CAPACITY)


def place_db_host(session: Session, engine: str, host_id: int | None = None) -> int:
    """The active DB host, set up for the engine, with the most room (or the operator's choice)."""
    used = (
        select(Database.host_id, func.count(Database.id).label("n"))
        .where(Database.status.in_([s.value for s in LIVE]))
        .group_by(Database.host_id)
        .subquery()
    )
    stmt = (
        select(Host, func.coalesce(used.c.n, 0))
        .join(used, used.c.host_id == Host.id, isouter=True)
        .where(with_role(DB_ROLE), Host.state == HostState.ACTIVE, Host.key_mismatch_at.is_(None))
    )
    if host_id is not None:
        stmt = stmt.where(Host.id == host_id)
    rows = session.execute(stmt).all()
    if host_id is not None:
        if not rows or not engine_ready(rows[0][0], engine):
            raise Invalid(
                "databases.host_unusable",
                "That host is not an active DB host set up for {engine}.",
                field="host_id",
                engine=engine,
            )
        return host_id
    ready = [(h, n) for h, n in rows if engine_ready(h, engine)]
    if rows and not ready:
        raise Conflict(
            "databases.no_host_ready",
            "No DB host is set up for {engine} yet: the data center must run the DB server setup first.",
            engine=engine,
        )
    room = [(h, n) for h, n in ready if n < capacity(h)]
    if not room:
        raise Conflict("databases.no_host", "No DB host has room for another database; the data center must add one.")
    return min(room, key=lambda r: (r[1] / max(1, capacity(r[0])), r[0].id))[0].id


def _host_override(actor: Actor, payload: dict) -> int | None:
    if payload.get("host_id") in (None, ""):
        return None
    if not actor.has_staff(Role.OPERATOR, Role.ADMIN):
        raise Invalid("databases.host_forbidden", "Only data-center operators choose the host.", field="host_id")
    return require_int(payload, "host_id", minimum=1, maximum=2**63 - 1)


# ---- lookups ---------------------------------------------------------------------------------------


def database_of(org: Organization, database_id, field: str = "database_id", *, active: bool = True) -> Database:
    return _row_of(Database, "database.not_found", org, database_id, field, active)


def user_of(org: Organization, user_id, field: str = "user_id") -> DbUser:
    return _row_of(DbUser, "db_user.not_found", org, user_id, field, True)


def _row_of(model, missing: str, org: Organization, row_id, field: str, active: bool):
    """The ministry's own row, not deleted; with `active`, not busy or failed either."""
    row = db.session().get(model, row_id)
    if row is None or row.org_id != org.id or row.status == S.DELETED:
        raise NotFound(missing, "Not found.", field=field, id=str(row_id))
    if active and row.status not in (S.ACTIVE, S.PENDING):
        raise Conflict(
            "databases.state_invalid",
            "{name} is {status}; this cannot be done now.",
            field=field,
            name=row.name,
            status=row.status.value,
        )
    return row


OPEN = (RequestStatus.SUBMITTED, RequestStatus.APPROVED, RequestStatus.PROVISIONING, RequestStatus.RETRIED)


def name_taken(engine: Engine, model, name: str, kind: str, exclude_request_id: int | None = None) -> bool:
    """A live row has the name, or a request still on its way asks for it (open requests of one
    kind are few: they are read, not searched in JSON, which SQLite and PostgreSQL spell apart)."""
    s = db.session()
    if s.scalars(select(model.id).where(model.engine == engine, model.name == name, model.status != S.DELETED)).first():
        return True
    asked = s.execute(select(Request.id, Request.payload).where(Request.kind == kind, Request.status.in_(OPEN))).all()
    return any(
        rid != exclude_request_id and p.get("name") == name and p.get("engine", engine.value) == engine.value
        for rid, p in asked
    )


def refuse_role_clash(engine: Engine, name: str, *, user: bool) -> None:
    """On PostgreSQL a database is owned by a NOLOGIN role of the database's own name, and roles
    are one namespace for the whole server: a user named like a database would BE its owner role
    (the password set on it, and deleting the user runs DROP OWNED BY it in every tenant
    database, the database's tables with them); a database named like a user would make that
    user its owner role. So on PostgreSQL a user may not take the name of a database (live or
    asked for), nor a database the name of a user. MariaDB keeps users and databases apart."""
    if engine != Engine.POSTGRESQL:
        return
    if user and name_taken(engine, Database, name, "databases.database_create"):
        raise Conflict(
            "databases.user_name_is_database",
            "{name} is the name of a PostgreSQL database (the role that owns it); choose another user name.",
            field="name",
            name=name,
        )
    if not user and name_taken(engine, DbUser, name, "databases.user_create"):
        raise Conflict(
            "databases.database_name_is_user",
            "{name} is the name of a PostgreSQL user; choose another database name.",
            field="name",
            name=name,
        )


def submit(actor: Actor, request: Request, host_id: int, params: dict, secrets: dict | None = None) -> list:
    return [
        jobs.job_submit(
            actor,
            kind="databases.apply",
            org_id=request.org_id,
            host_ids=[host_id],
            params=params,
            secrets=secrets,
            request_id=request.id,
        )
    ]


def _id(payload: dict, name: str) -> int:
    return require_int(payload, name, minimum=1, maximum=2**63 - 1)


# ---- the kinds' common shape --------------------------------------------------------------------------
# Every kind acts on one database or one database user. Unless a kind says otherwise: the ministry's
# managers ask, the payload is that row's id (the ministry's own, usable now), the request runs on
# the row's host and is approved automatically.
_ROWS = {Database: ("database_id", DatabaseIdPayload, database_of), DbUser: ("user_id", UserIdPayload, user_of)}


def _row_validator(model) -> Callable[[Actor, Organization, dict], dict]:
    key, _, row_of = _ROWS[model]

    def validate(actor: Actor, org: Organization, payload: dict) -> dict:
        reject_unknown(payload, {key})
        row = row_of(org, _id(payload, key))
        return {key: row.id, "name": row.name}

    return validate


_register = kinds_of("databases", MANAGER_ROLES)


def _kind(name: str, label: str, describe, *, on, policy: ApprovalMode = ApprovalMode.AUTO, **more) -> Callable:
    """Registers `databases.<name>` whose on_approve is the decorated function; `describe` may be a
    message whose {placeholders} are payload keys; `more` are RequestKind fields that differ."""
    key, schema, _ = _ROWS[on]
    fields_ = {"validate": _row_validator(on), "schema": schema, "place": on_host_of(on, key), **more}
    describe = says(describe) if isinstance(describe, str) else describe
    return _register(name, label, describe=describe, default_policy=policy, **fields_)


# ---- databases.database_create -------------------------------------------------------------------


def _db_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"engine", "name", "size_mb", "conn_limit", "host_id"})
    engine = rules.clean_engine(payload.get("engine"))
    name = rules.prefix_of(org.slug, org.id) + rules.clean_suffix(payload.get("name"), "name", rules.MAX_DB_SUFFIX)
    if name_taken(engine, Database, name, "databases.database_create"):
        raise Conflict("databases.name_taken", "{name} exists already.", field="name", name=name)
    refuse_role_clash(engine, name, user=False)
    size = rules.clean_int(
        payload.get("size_mb", rules.DEFAULT_SIZE_MB), "size_mb", rules.MIN_SIZE_MB, rules.MAX_SIZE_MB
    )
    conn = rules.clean_int(payload.get("conn_limit", rules.DEFAULT_CONN), "conn_limit", rules.MIN_CONN, rules.MAX_CONN)
    host_id = _host_override(actor, payload)
    place_db_host(db.session(), engine.value, host_id)  # refuse now rather than at approval
    return {"engine": engine.value, "name": name, "size_mb": size, "conn_limit": conn, "host_id": host_id}


@_kind(
    "database_create",
    N_("New database"),
    N_("{engine} database {name}"),
    on=Database,
    policy=ApprovalMode.ONE,
    validate=_db_validate,
    schema=DatabasePayload,
    quota=lambda p: {"databases": 1, "db_storage_mb": p["size_mb"]},
    place=lambda s, org, p: place_db_host(s, p["engine"], p.get("host_id")),
)
def _db_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    row = s.scalars(select(Database).where(Database.request_id == request.id)).first()
    if row is None:
        if name_taken(Engine(p["engine"]), Database, p["name"], "databases.database_create", request.id):
            raise Conflict("databases.name_taken", "{name} exists already.", field="name", name=p["name"])
        refuse_role_clash(Engine(p["engine"]), p["name"], user=False)
        row = Database(
            org_id=request.org_id,
            engine=Engine(p["engine"]),
            name=p["name"],
            host_id=request.target_host_id or place_db_host(s, p["engine"], p.get("host_id")),
            size_mb=p["size_mb"],
            conn_limit=p["conn_limit"],
            request_id=request.id,
        )
        s.add(row)
    elif row.status == S.FAILED:
        row.move_to(S.PENDING)
    s.flush()
    return submit(actor, request, row.host_id, {"database_ids": [row.id], "user_ids": []})


def _granted_users(s, database_id: int) -> list[int]:
    return sorted({g.user_id for g in s.scalars(select(DbGrant).where(DbGrant.database_id == database_id))})


# ---- databases.database_delete -------------------------------------------------------------------


@_kind("database_delete", N_("Delete a database"), N_("delete database {name}"), on=Database)
def _db_delete_start(actor: Actor, request: Request) -> list:
    s = db.session()
    row = s.get(Database, request.payload["database_id"])
    row.move_to(S.DELETING)
    # The grants go with it: their users are in the same job, so the server forgets them too.
    users = _granted_users(s, row.id)
    s.flush()
    return submit(actor, request, row.host_id, {"database_ids": [row.id], "user_ids": users, "op": "delete"})


# ---- databases.database_suspend / database_unsuspend: freeze a database, thaw it ---------------------
# Frozen: the database and its data stay on the host, every user's grants on it are withheld (MariaDB
# revokes them, PostgreSQL's pg_hba lines go and its connection limit drops to 0) and open sessions
# in it end. The security operation center files the suspension through its containment action.


@_kind("database_suspend", N_("Suspend (freeze) a database"), N_("freeze database {name}"), on=Database)
def _suspend_start(actor: Actor, request: Request) -> list:
    s = db.session()
    row = s.get(Database, request.payload["database_id"])
    row.move_to(S.SUSPENDED)
    s.flush()
    params = {"database_ids": [row.id], "user_ids": _granted_users(s, row.id), "op": "suspend"}
    return submit(actor, request, row.host_id, params)


def _unsuspend_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"database_id"})
    row = database_of(org, _id(payload, "database_id"), active=False)
    if row.status != S.SUSPENDED:
        raise Conflict("databases.not_suspended", "{name} is not suspended.", field="database_id", name=row.name)
    return {"database_id": row.id, "name": row.name}


@_kind(
    "database_unsuspend",
    N_("Unsuspend a database"),
    N_("unfreeze database {name}"),
    on=Database,
    policy=ApprovalMode.ONE,
    validate=_unsuspend_validate,
)
def _unsuspend_start(actor: Actor, request: Request) -> list:
    s = db.session()
    row = s.get(Database, request.payload["database_id"])
    row.move_to(S.PENDING)  # active again once the job has given the grants back
    s.flush()
    params = {"database_ids": [row.id], "user_ids": _granted_users(s, row.id), "op": "unsuspend"}
    return submit(actor, request, row.host_id, params)


# ---- databases.user_create / user_password: the password becomes the engine's verifier here -------


def _password_secrets(actor: Actor, org: Organization, secrets: dict) -> dict:
    """{"password", "username"} -> the verifiers; the clear password ends here."""
    if set(secrets) - {"password", "username"} or "password" not in secrets:
        raise Invalid("databases.password_required", "A password is required.", field="password")
    password = rules.check_password(secrets["password"], str(secrets.get("username") or ""))
    return rules.verifiers(password)


def _user_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"database_id", "name", "profile"})
    dbrow = database_of(org, _id(payload, "database_id"))
    name = rules.prefix_of(org.slug, org.id) + rules.clean_suffix(payload.get("name"), "name", rules.MAX_USER_SUFFIX)
    if name_taken(dbrow.engine, DbUser, name, "databases.user_create"):
        raise Conflict("databases.name_taken", "{name} exists already.", field="name", name=name)
    refuse_role_clash(dbrow.engine, name, user=True)
    profile = rules.clean_profile(payload.get("profile") or Profile.OWNER.value)
    return {"database_id": dbrow.id, "database": dbrow.name, "name": name, "profile": profile.value}


def _verifier(request: Request, engine: Engine) -> str:
    engine = Engine(engine)
    value = requests.request_secrets(request).get(engine.value)
    if not rules.is_verifier(engine.value, value):
        raise Invalid("databases.password_required", "A password is required.", field="password")
    return value


@_kind(
    "user_create",
    N_("New database user"),
    N_("user {name} ({profile}) on {database}"),
    on=Database,
    validate=_user_validate,
    validate_secrets=_password_secrets,
    schema=UserCreatePayload,
)
def _user_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dbrow = s.get(Database, p["database_id"])
    verifier = _verifier(request, dbrow.engine)
    user = s.scalars(select(DbUser).where(DbUser.request_id == request.id)).first()
    if user is None:
        if name_taken(dbrow.engine, DbUser, p["name"], "databases.user_create", request.id):
            raise Conflict("databases.name_taken", "{name} exists already.", field="name", name=p["name"])
        refuse_role_clash(dbrow.engine, p["name"], user=True)
        user = DbUser(
            org_id=request.org_id,
            host_id=dbrow.host_id,
            engine=dbrow.engine,
            name=p["name"],
            request_id=request.id,
            password_changed_at=db.utcnow(),
        )
        user.grants = [DbGrant(database_id=dbrow.id, profile=Profile(p["profile"]))]
        s.add(user)
    elif user.status == S.FAILED:
        user.move_to(S.PENDING)
    s.flush()
    return submit(actor, request, user.host_id, {"database_ids": [], "user_ids": [user.id]}, {str(user.id): verifier})


@_kind(
    "user_password",
    N_("New password for a database user"),
    N_("new password for {name}"),
    on=DbUser,
    validate_secrets=_password_secrets,
)
def _password_start(actor: Actor, request: Request) -> list:
    s = db.session()
    user = s.get(DbUser, request.payload["user_id"])
    verifier = _verifier(request, user.engine)
    user.password_changed_at = db.utcnow()
    return submit(actor, request, user.host_id, {"database_ids": [], "user_ids": [user.id]}, {str(user.id): verifier})


# ---- grants: a user's profile on a database (or none) ----------------------------------------------


def _grant_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"user_id", "database_id", "profile"})
    user = user_of(org, _id(payload, "user_id"))
    dbrow = database_of(org, _id(payload, "database_id"))
    if dbrow.host_id != user.host_id or dbrow.engine != user.engine:
        raise Invalid(
            "databases.grant_other_host",
            "{user} and {database} are on different servers.",
            field="database_id",
            user=user.name,
            database=dbrow.name,
        )
    profile = payload.get("profile")
    if profile != "none":
        profile = rules.clean_profile(profile).value
        if len(user.grants) >= rules.MAX_GRANTS and all(g.database_id != dbrow.id for g in user.grants):
            raise Invalid(
                "databases.grants_full",
                "{user} already reaches {max} databases: take one away first.",
                field="database_id",
                user=user.name,
                max=rules.MAX_GRANTS,
            )
    return {"user_id": user.id, "database_id": dbrow.id, "profile": profile, "name": user.name, "database": dbrow.name}


@_kind(
    "grant_set",
    N_("Database privileges"),
    N_("{name} on {database}: {profile}"),
    on=DbUser,
    validate=_grant_validate,
    schema=GrantPayload,
)
def _grant_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    user = s.get(DbUser, p["user_id"])
    current = next((g for g in user.grants if g.database_id == p["database_id"]), None)
    params: dict = {"database_ids": [], "user_ids": [user.id]}
    if p["profile"] == "none":
        if current is not None:
            user.grants.remove(current)
        params["revoke"] = {str(user.id): [p["database"]]}  # PostgreSQL forgets nothing by itself
    elif current is None:
        user.grants.append(DbGrant(database_id=p["database_id"], profile=Profile(p["profile"])))
    else:
        current.profile = Profile(p["profile"])
    s.flush()
    return submit(actor, request, user.host_id, params)


@_kind("user_delete", N_("Delete a database user"), N_("delete database user {name}"), on=DbUser)
def _user_delete_start(actor: Actor, request: Request) -> list:
    user = db.session().get(DbUser, request.payload["user_id"])
    user.move_to(S.DELETING)
    return submit(actor, request, user.host_id, {"database_ids": [], "user_ids": [user.id], "op": "delete"})


# ---- provider: a database for another capability's application (panel.services.providers) ---------

APP_USER_SUFFIX = "_app"  # an application's user: its database's name and this


def app_database(
    actor: Actor, request: Request, *, name: str, password: str, engine: str = "mariadb", site_id: int | None = None
) -> dict:
    """`databases.app_database`: a database and its owner user for an application another capability
    installs (a WordPress instance), in `request`'s ministry, placed like any database and counted
    against its `databases` budget by the caller's request kind.

    `name`: a suffix (a-z, digits, _; at most 12) the ministry prefix is added to: the database's
    name; its user's is that and APP_USER_SUFFIX ("mina3_wp7" and "mina3_wp7_app"), never the same,
    because on PostgreSQL the database's owner role has the database's name (refuse_role_clash).
    `password`: the clear password the application will use; only the engine's
    verifier goes into the job. Submits ONE databases.apply job that belongs to no request (the
    caller's request follows its own job; it chains it from this one's end). Returns plain values:
    {"database_id", "user_id", "database", "user", "host_id", "host_address", "port", "job_id"}.
    `site_id` (else an integer `site_id` in the caller's request payload): the site the application
    runs on; the database is linked to it, so that site's web host may connect. Without one, no
    address may connect until a site is linked (docs/databases.md, Access).
    Errors: databases.name_taken, databases.user_name_is_database, databases.database_name_is_user,
    databases.no_host, databases.no_host_ready, workload.not_found."""
    s = db.session()
    org = s.get(Organization, request.org_id)
    eng = rules.clean_engine(engine)
    suffix = rules.clean_suffix(name, "name", rules.MAX_USER_SUFFIX - len(APP_USER_SUFFIX))
    full = rules.prefix_of(org.slug, org.id) + suffix
    user_name = full + APP_USER_SUFFIX
    password = rules.check_password(password, user_name)
    for model, taken, kind in ((Database, full, "database_create"), (DbUser, user_name, "user_create")):
        if name_taken(eng, model, taken, "databases." + kind):
            raise Conflict("databases.name_taken", "{name} exists already.", field="name", name=taken)
    refuse_role_clash(eng, full, user=False)
    refuse_role_clash(eng, user_name, user=True)
    if site_id is None and isinstance((request.payload or {}).get("site_id"), int):
        site_id = request.payload["site_id"]
    site = None
    if site_id is not None:
        site = workloads.workloads(s, "site", org.id, [site_id]).get(site_id)
        if site is None:
            raise NotFound("workload.not_found", "Not found.", field="site_id", id=str(site_id))
    host = s.get(Host, place_db_host(s, eng.value))
    dbrow = Database(
        org_id=org.id,
        engine=eng,
        name=full,
        host_id=host.id,
        size_mb=rules.DEFAULT_SIZE_MB,
        conn_limit=rules.DEFAULT_CONN,
        request_id=request.id,
    )
    user = DbUser(
        org_id=org.id,
        host_id=host.id,
        engine=eng,
        name=user_name,
        request_id=request.id,
        password_changed_at=db.utcnow(),
    )
    user.grants = [DbGrant(database=dbrow, profile=Profile.OWNER)]
    s.add_all([dbrow, user])
    s.flush()
    if site is not None:
        s.add(DbLink(database_id=dbrow.id, kind="site", workload_id=site.id))
        s.flush()
    verifier = rules.verifiers(password)[eng.value]
    job = _app_job_join(s, org.id, host.id, dbrow.id, user.id, verifier)
    if job is None:
        job = job_create(
            s,
            kind="databases.apply",
            org_id=org.id,
            host_ids=[host.id],
            params={"database_ids": [dbrow.id], "user_ids": [user.id], "batch": APP_BATCH},
            sealed_secrets=security.seal(json.dumps({str(user.id): verifier})),
            created_by_id=actor.user_id,
            created_by_name=actor.username,
        )
    return {
        "database_id": dbrow.id,
        "user_id": user.id,
        "database": full,
        "user": user_name,
        "host_id": host.id,
        "host_address": host.address,
        "port": 3306 if eng == Engine.MARIADB else 5432,
        "job_id": job.id,
    }


APP_BATCH = "app"  # params["batch"] of app_database's jobs: later ones of the ministry and host join it
APP_BATCH_MAX = 50  # databases a joined job carries at most


def _app_job_join(s: Session, org_id: int, host_id: int, database_id: int, user_id: int, verifier: str) -> Job | None:
    """The ministry's app_database job on this host that no worker has started yet, with this
    database and user (and the user's verifier, sealed) added: instances approved close together
    (a ministry's twenty WordPress sites) get their databases in one playbook run. None: submit one."""
    job = pending_to_join(s, kind="databases.apply", host_ids=[host_id], org_id=org_id, batch=APP_BATCH)
    if job is None or len(job.params.get("database_ids") or []) >= APP_BATCH_MAX:
        return None
    params = dict(job.params)
    params["database_ids"] = [*params.get("database_ids", []), database_id]
    params["user_ids"] = [*params.get("user_ids", []), user_id]
    job.params = params  # a new dict: the JSON column sees the change
    job.secrets = security.seal(json.dumps({**job_secrets(job), str(user_id): verifier}))
    return job


def app_database_retry(
    session: Session, job_id: int, *, by: str, database_id: int | None = None, user_id: int | None = None
) -> int:
    """`databases.app_database_retry`: the databases.apply job that `app_database` submitted
    (`job_id`) failed or errored, and the caller retries its application (a failed WordPress
    instance's request): the job's database and user go back to pending and the same job runs
    again (its params and sealed verifier; the lineage kept). With `database_id` (and `user_id`),
    only that database and user of a job that carried several (a batch of applications: each is
    retried by its own caller). Returns the new job's id.
    Errors: job.not_retryable (the job did not fail), databases.state_invalid (a row was deleted)."""
    old = session.get(Job, job_id)
    if old is None or old.kind != "databases.apply" or old.status not in RETRYABLE:
        raise Conflict("job.not_retryable", "Only failed, errored or canceled jobs can be retried.")
    dbs, users = _objects_of(session, old)
    params, sealed = dict(old.params or {}), old.secrets
    if database_id is not None:
        dbs = [d for d in dbs if d.id == database_id]
        users = [u for u in users if u.id == user_id]
        params.update(database_ids=[d.id for d in dbs], user_ids=[u.id for u in users])
        mine = {k: v for k, v in job_secrets(old).items() if k in {str(u.id) for u in users}}
        sealed = security.seal(json.dumps(mine)) if mine else None
    for row in [*dbs, *users]:
        if row.status == S.FAILED:
            row.move_to(S.PENDING)
        elif row.status not in ON_HOST:
            raise Conflict(
                "databases.state_invalid",
                "{name} is {status}; this cannot be done now.",
                name=row.name,
                status=row.status.value,
            )
    job = job_create(
        session,
        kind=old.kind,
        org_id=old.org_id,
        host_ids=old.host_ids,
        params=params,
        sealed_secrets=sealed,
        created_by_name=by,
        attempt=old.attempt + 1,
        retry_of_id=old.id,
    )
    return job.id


def _objects_of(session: Session, job: Job) -> tuple[list[Database], list[DbUser]]:
    ids, uids = job.params.get("database_ids") or [], job.params.get("user_ids") or []
    return (
        list(session.scalars(select(Database).where(Database.id.in_(ids)))) if ids else [],
        list(session.scalars(select(DbUser).where(DbUser.id.in_(uids)))) if uids else [],
    )


def app_database_drop(session: Session, database_id: int, user_id: int | None, *, by: str) -> dict:
    """`databases.app_database_drop`: the application that `app_database` made this database and
    user for is gone (a WordPress instance deleted once its files and a dump were archived): both
    go, in the caller's transaction. A database on the server gets ONE databases.apply job
    (op delete, no request: the caller's request is done) that drops it and its user; when it
    succeeds the rows are deleted and the caller's request's budget is released (`_apply_done`).
    One that never reached the server (failed) is deleted at once, its budget with it.
    `by`: the job's creator name (the panel itself, "panel:cms").
    Returns {"job_id": id or None, "left": "" or why the database stays (its host cannot be used:
    delete it later from the databases pages)}."""
    dbrow = session.get(Database, database_id)
    if dbrow is None or dbrow.status in (S.DELETED, S.DELETING):
        return {"job_id": None, "left": ""}
    user = session.get(DbUser, user_id) if user_id else None
    rows = [r for r in (dbrow, user) if r is not None and r.status not in (S.DELETED, S.DELETING)]
    if dbrow.status == S.FAILED:
        for row in rows:
            if row.can_move_to(S.DELETED):
                row.move_to(S.DELETED)
                row.deleted_at = db.utcnow()
        quota_release(session, [dbrow.request_id])
        return {"job_id": None, "left": ""}
    if not usable_hosts(session, [dbrow.host_id]).ids:
        return {"job_id": None, "left": f"database {dbrow.name} stays: its host cannot be used now"}
    for row in rows:
        row.move_to(S.DELETING)
    job = job_create(
        session,
        kind="databases.apply",
        org_id=dbrow.org_id,
        host_ids=[dbrow.host_id],
        params={"database_ids": [dbrow.id], "user_ids": [user.id] if user in rows else [], "op": "delete"},
        created_by_name=by,
    )
    return {"job_id": job.id, "left": ""}


# ---- databases.link_set: a site (any workload) uses the database, so its host may connect ------------


class LinkPayload(Schema):
    database_id = DatabaseIdPayload._declared_fields["database_id"]
    kind = fields.String(
        required=True,
        validate=text(max=32),
        metadata={"description": 'what uses the database: "site"'},
    )
    workload_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "the id of the site (or other workload) of the same ministry"},
    )
    linked = fields.Boolean(metadata={"description": "false removes the link (default true)"})


def _link_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"database_id", "kind", "workload_id", "linked"})
    dbrow = database_of(org, _id(payload, "database_id"))
    kind = workloads.clean_kind(payload.get("kind"))
    wid = _id(payload, "workload_id")
    linked = payload.get("linked", True)
    if not isinstance(linked, bool):
        raise Invalid("databases.linked_invalid", "linked is true or false.", field="linked")
    found = workloads.workloads(db.session(), kind, org.id, [wid]).get(wid)
    if found is None and linked:  # another ministry's site is as missing as a deleted one
        raise NotFound("workload.not_found", "Not found.", field="workload_id", id=str(wid))
    if linked and found.host_id is None:
        raise Conflict(
            "databases.workload_unplaced",
            "{name} has no host yet; link it once it is placed.",
            field="workload_id",
            name=found.name,
        )
    name = found.name if found is not None else f"{kind} {wid}"
    return {
        "database_id": dbrow.id,
        "database": dbrow.name,
        "kind": kind,
        "workload_id": wid,
        "workload": name,
        "linked": linked,
    }


@_kind(
    "link_set",
    N_("Site using a database"),
    lambda p: (
        N_("{workload} uses {database}") if p["linked"] else N_("{workload} no longer uses {database}"),
        {"workload": p["workload"], "database": p["database"]},
    ),
    on=Database,
    validate=_link_validate,
    schema=LinkPayload,
)
def _link_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    dbrow = s.get(Database, p["database_id"])
    row = s.scalars(
        select(DbLink).where(
            DbLink.database_id == dbrow.id, DbLink.kind == p["kind"], DbLink.workload_id == p["workload_id"]
        )
    ).first()
    if p["linked"] and row is None:
        s.add(DbLink(database_id=dbrow.id, kind=p["kind"], workload_id=p["workload_id"]))
    elif not p["linked"] and row is not None:
        s.delete(row)
    else:
        return []  # nothing changes on the server
    s.flush()
    users = database_users(s, dbrow.id)
    if not users:
        return []  # no user yet: the first one gets the link's host with it
    return submit(actor, request, dbrow.host_id, {"database_ids": [], "user_ids": users})


# ---- databases.remote_access: a network outside the data center, TLS required, until a date ---------


class RemotePayload(Schema):
    database_id = DatabaseIdPayload._declared_fields["database_id"]
    cidr = fields.String(
        required=True,
        validate=text(max=43),
        metadata={"description": "a network in CIDR form (203.0.113.0/24); 0.0.0.0/0 needs a data-center admin"},
    )
    reason = fields.String(
        required=True,
        validate=text(max=rules.REASON_MAX),
        metadata=rule_error("databases.reason_invalid", "Say why, in one line of {min} to {max} characters."),
    )
    expires_at = fields.String(
        required=True,
        validate=text(max=40),
        metadata={
            "description": f"a date (access ends as it ends, UTC) or ISO date-time, within {rules.MAX_REMOTE_DAYS} days"
        },
    )


def _remote_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"database_id", "cidr", "reason", "expires_at"})
    dbrow = database_of(org, _id(payload, "database_id"))
    net = rules.clean_cidr(payload.get("cidr"), dbrow.engine)
    reason = rules.clean_reason(payload.get("reason"))
    until = rules.clean_expiry(payload.get("expires_at"), db.utcnow())
    return {
        "database_id": dbrow.id,
        "database": dbrow.name,
        "cidr": str(net),
        "reason": reason,
        "expires_at": until.isoformat(timespec="seconds"),
    }


@_kind(
    "remote_access",
    N_("Remote access to a database"),
    lambda p: (
        N_("{database} from {cidr} until {until}"),
        {"database": p["database"], "cidr": p["cidr"], "until": p["expires_at"]},
    ),
    on=Database,
    policy=ApprovalMode.ONE,
    validate=_remote_validate,
    schema=RemotePayload,
)
def _remote_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    net = rules.clean_cidr(p["cidr"], s.get(Database, p["database_id"]).engine)
    if rules.is_open_to_all(net) and not (actor.has_staff(Role.ADMIN) and actor.user_id is not None):
        raise Forbidden(
            "databases.open_needs_admin",
            "Access from every address ({cidr}) is approved by a data-center admin only.",
            cidr=str(net),
        )
    dbrow = database_of(s.get(Organization, request.org_id), p["database_id"])
    until = dt.datetime.fromisoformat(p["expires_at"])
    if until <= db.utcnow():
        raise Conflict("databases.expiry_passed", "This access would have ended already; ask again.")
    row = s.scalars(select(DbRemoteAccess).where(DbRemoteAccess.request_id == request.id)).first()
    if row is None:
        row = DbRemoteAccess(
            org_id=request.org_id,
            database_id=dbrow.id,
            cidr=str(net),
            reason=p["reason"],
            expires_at=until,
            request_id=request.id,
        )
        s.add(row)
        s.flush()
        audit.append(
            actor,
            "databases.remote_access_granted",
            object_type="db_remote_access",
            object_id=row.id,
            org_id=row.org_id,
            summary={"database": dbrow.name, "cidr": row.cidr, "until": p["expires_at"], "request": request.id},
        )
    users = database_users(s, dbrow.id)
    if not users:
        return []  # no user yet: each new one gets the network with it
    return submit(actor, request, dbrow.host_id, {"database_ids": [], "user_ids": users})


# ---- databases.remote_revoke: end a remote access before its expiry --------------------------------


class RemoteRevokePayload(Schema):
    access_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "the remote access (its id in GET /databases/{id}/remote)"},
    )


def remote_access_of(org: Organization, access_id, field: str = "access_id") -> DbRemoteAccess:
    row = db.session().get(DbRemoteAccess, access_id)
    if row is None or row.org_id != org.id:
        raise NotFound("db_remote_access.not_found", "Not found.", field=field, id=str(access_id))
    return row


def _revoke_validate(actor: Actor, org: Organization, payload: dict) -> dict:
    reject_unknown(payload, {"access_id"})
    row = remote_access_of(org, _id(payload, "access_id"))
    if row.status != AccessStatus.ACTIVE:
        raise Conflict(
            "databases.access_ended", "This access has ended already ({status}).", field="access_id", status=row.status
        )
    dbrow = db.session().get(Database, row.database_id)
    return {"access_id": row.id, "database_id": dbrow.id, "database": dbrow.name, "cidr": row.cidr}


@_kind(
    "remote_revoke",
    N_("End remote access to a database"),
    N_("end access to {database} from {cidr}"),
    on=Database,
    validate=_revoke_validate,
    schema=RemoteRevokePayload,
)
def _revoke_start(actor: Actor, request: Request) -> list:
    s, p = db.session(), request.payload
    row = s.get(DbRemoteAccess, p["access_id"])
    if row.status != AccessStatus.ACTIVE:
        return []  # expired (or revoked) on the way: its network is off the server already
    row.move_to(AccessStatus.REVOKED)
    row.ended_at = db.utcnow()
    s.flush()
    audit.append(
        actor,
        "databases.remote_access_revoked",
        object_type="db_remote_access",
        object_id=row.id,
        org_id=row.org_id,
        summary={
            "database": p["database"],
            "cidr": row.cidr,
            "until": row.expires_at.isoformat(timespec="seconds"),
            "request": request.id,
        },
    )
    dbrow = s.get(Database, row.database_id)
    users = database_users(s, dbrow.id)
    if not users or dbrow.host_id is None:
        return []  # no user: nothing on the server carries the network
    return submit(actor, request, dbrow.host_id, {"database_ids": [], "user_ids": users})
