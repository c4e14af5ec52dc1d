"""/api/v1/databases: tenant databases and their users; changes answer with the request filed.

A new user's (or a reset's) password is in the answer once, as `password`, when govhost made it;
passwords a caller sets are accepted in request bodies only and never echoed back.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from panel.api.common import ID, PageArgs, actor, operation, page_list
from panel.api.jobs import JobSchema
from panel.capabilities.databases import rules
from panel.capabilities.databases import service as db_svc
from panel.services import jobs as jobs_svc
from panel.services.request_kinds import text

blp = Blueprint("api_databases", __name__, url_prefix="/databases", description="Tenant databases and their users")
NAME_PATTERN = validate.Regexp(r"^[A-Za-z][A-Za-z0-9_]*$")


class DatabaseSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    engine = fields.Function(lambda d: d.engine.value)
    name = fields.String()
    status = fields.Function(lambda d: d.status.value)
    size_mb = fields.Integer()
    used_mb = fields.Integer()
    used_at = fields.DateTime(allow_none=True, metadata={"description": "when the size was last measured"})
    frozen_at = fields.DateTime(
        allow_none=True, metadata={"description": "set while writes are stopped: usage reached the size budget"}
    )
    conn_limit = fields.Integer()
    last_error = fields.String()
    created_at = fields.DateTime()


class GrantSchema(Schema):
    database_id = fields.Integer()
    database = fields.Function(lambda g: g.database.name)
    profile = fields.Function(lambda g: g.profile.value)


class DbUserSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    engine = fields.Function(lambda u: u.engine.value)
    name = fields.String()
    status = fields.Function(lambda u: u.status.value)
    password_changed_at = fields.DateTime(allow_none=True)
    grants = fields.List(fields.Nested(GrantSchema))
    created_at = fields.DateTime()


class DbRequestSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.Function(lambda r: r.status.value)
    summary = fields.String()


class IssuedSchema(Schema):
    request = fields.Nested(DbRequestSchema)
    password = fields.String(
        allow_none=True, metadata={"description": "The generated password, in this answer only (null when you set it)"}
    )


class DatabaseIn(Schema):
    org_id = fields.Integer(required=True, validate=ID)
    engine = fields.String(required=True, validate=validate.OneOf(rules.ENGINES))
    name = fields.String(
        required=True,
        validate=[text(min=1, max=rules.MAX_DB_SUFFIX), NAME_PATTERN],
        metadata={
            "description": "the ministry's prefix is added; on PostgreSQL not the name of a user"
            " (409 databases.database_name_is_user)"
        },
    )
    size_mb = fields.Integer(
        load_default=rules.DEFAULT_SIZE_MB, validate=validate.Range(min=rules.MIN_SIZE_MB, max=rules.MAX_SIZE_MB)
    )
    conn_limit = fields.Integer(
        load_default=rules.DEFAULT_CONN, validate=validate.Range(min=rules.MIN_CONN, max=rules.MAX_CONN)
    )
    host_id = fields.Integer(load_default=None, allow_none=True, validate=ID, metadata={"description": "staff only"})


class UserIn(Schema):
    name = fields.String(
        required=True,
        validate=[text(min=1, max=rules.MAX_USER_SUFFIX), NAME_PATTERN],
        metadata={
            "description": "the ministry's prefix is added; on PostgreSQL not the name of a database, which"
            " its owner role has (409 databases.user_name_is_database)"
        },
    )
    profile = fields.String(load_default="owner", validate=validate.OneOf(rules.PROFILES))
    password = fields.String(
        load_default=None, allow_none=True, load_only=True, validate=text(min=12, max=rules.PASSWORD_MAX)
    )


class PasswordIn(Schema):
    password = fields.String(
        load_default=None, allow_none=True, load_only=True, validate=text(min=12, max=rules.PASSWORD_MAX)
    )


class GrantIn(Schema):
    database_id = fields.Integer(required=True, validate=ID)
    profile = fields.String(required=True, validate=validate.OneOf([*rules.PROFILES, "none"]))


class LinkSchema(Schema):
    kind = fields.String()
    workload_id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "null once the site is gone"})


class LinkIn(Schema):
    kind = fields.String(load_default="site", validate=validate.OneOf(["site"]))
    workload_id = fields.Integer(required=True, validate=ID, metadata={"description": "the site's id"})
    linked = fields.Boolean(load_default=True, metadata={"description": "false: the site no longer uses it"})


class RemoteSchema(Schema):
    id = fields.Integer()
    cidr = fields.String()
    reason = fields.String()
    expires_at = fields.DateTime()
    status = fields.Function(lambda r: r.status.value)
    ended_at = fields.DateTime(allow_none=True)


class RemoteIn(Schema):
    cidr = fields.String(required=True, validate=text(min=1, max=43), metadata={"description": "203.0.113.0/24"})
    reason = fields.String(required=True, validate=text(min=rules.REASON_MIN, max=rules.REASON_MAX))
    expires_at = fields.String(
        required=True,
        validate=text(min=10, max=40),
        metadata={"description": f"a date or ISO date-time, at most {rules.MAX_REMOTE_DAYS} days ahead"},
    )


class SetupIn(Schema):
    engines = fields.List(
        fields.String(validate=validate.OneOf(rules.ENGINES)),
        load_default=["mariadb"],
        validate=validate.Length(min=1, max=2),
    )


def _issued(issued) -> dict:
    return {"request": issued.request, "password": issued.password}


@operation(blp, "")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def database_list(args):
    return page_list(db_svc.database_list, args, DatabaseSchema())


@operation(blp, "", "POST")
@blp.arguments(DatabaseIn)
@blp.response(201, DbRequestSchema)
def database_create(body):
    return db_svc.database_create(actor(), **body)


@operation(blp, "/<int:database_id>")
@blp.response(200, DatabaseSchema)
def database_get(database_id: int):
    return db_svc.database_get(actor(), database_id)


@operation(blp, "/<int:database_id>", "DELETE")
@blp.response(201, DbRequestSchema)
def database_delete(database_id: int):
    return db_svc.database_delete(actor(), database_id=database_id)


@operation(blp, "/<int:database_id>/links")
@blp.response(200, LinkSchema(many=True))
def link_list(database_id: int):
    """The sites that use the database: their web hosts may connect (no other address by default)."""
    return db_svc.database_links(actor(), database_id)


@operation(blp, "/<int:database_id>/links", "POST")
@blp.arguments(LinkIn)
@blp.response(201, DbRequestSchema)
def link_set(body, database_id: int):
    """A site of the same ministry uses the database (or, linked false, no longer does)."""
    return db_svc.database_link_set(actor(), database_id=database_id, **body)


@operation(blp, "/<int:database_id>/remote")
@blp.response(200, RemoteSchema(many=True))
def remote_list(database_id: int):
    """Remote access to the database (newest 50): networks outside the data center, TLS required."""
    return db_svc.db_remote_list(actor(), database_id)


@operation(blp, "/<int:database_id>/remote", "POST")
@blp.arguments(RemoteIn)
@blp.response(201, DbRequestSchema)
def remote_request(body, database_id: int):
    """Ask for remote access until a date; the data center approves (0.0.0.0/0: an admin only)."""
    return db_svc.db_remote_request(actor(), database_id=database_id, **body)


@operation(blp, "/<int:database_id>/remote/<int:access_id>", "DELETE")
@blp.response(201, DbRequestSchema)
def remote_revoke(database_id: int, access_id: int):
    """End a remote access before its expiry (automatic by default); its network leaves the server
    by the request's job."""
    return db_svc.db_remote_revoke(actor(), database_id=database_id, access_id=access_id)


@operation(blp, "/<int:database_id>/users")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def user_list(args, database_id: int):
    return page_list(db_svc.db_user_list, args, DbUserSchema(), database_id=database_id)


@operation(blp, "/<int:database_id>/users", "POST")
@blp.arguments(UserIn)
@blp.response(201, IssuedSchema)
def user_create(body, database_id: int):
    """A new user with privileges on this database; the generated password is in this answer only."""
    return _issued(db_svc.db_user_create(actor(), database_id=database_id, **body))


@operation(blp, "/users/<int:db_user_id>")
@blp.response(200, DbUserSchema)
def user_get(db_user_id: int):
    return db_svc.db_user_get(actor(), db_user_id)


@operation(blp, "/users/<int:db_user_id>/password", "POST")
@blp.arguments(PasswordIn)
@blp.response(201, IssuedSchema)
def user_password(body, db_user_id: int):
    return _issued(db_svc.db_user_password_reset(actor(), user_id=db_user_id, password=body.get("password")))


class ConsoleSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer()
    user_id = fields.Integer()
    engine = fields.Function(lambda c: c.engine.value)
    status = fields.Function(
        lambda c: c.status.value, metadata={"description": "pending (the job makes the login), open, closed, failed"}
    )
    expires_at = fields.DateTime(metadata={"description": "when the sweep drops the login and its ticket"})
    job_id = fields.Integer(allow_none=True)
    last_error = fields.String()
    created_at = fields.DateTime()


class ConsoleOpenedSchema(Schema):
    console = fields.Nested(ConsoleSchema)
    job = fields.Nested(JobSchema)
    url = fields.String(metadata={"description": "the console's sign-on page on the DB host (HTTPS)"})
    ticket = fields.String(
        metadata={
            "description": "single-use: POST it as the form field `ticket` to `url` (or open `url?ticket=...`) once "
            "the job has succeeded; in this answer only, never stored"
        }
    )


@operation(blp, "/users/<int:db_user_id>/console", "POST")
@blp.response(201, ConsoleOpenedSchema)
def user_console(db_user_id: int):
    """Open the web console (phpMyAdmin for MariaDB, Adminer for PostgreSQL) as this user: a job makes
    a login with the user's grants for a few minutes; sign on with the ticket, no password. 409
    `databases.console_not_set_up` when the user's server has no console; 403 for data-center staff."""
    return db_svc.db_console_open(actor(), user_id=db_user_id)


@operation(blp, "/consoles/<int:console_id>")
@blp.response(200, ConsoleSchema)
def console_get(console_id: int):
    """A console session of the caller's ministry (its status: open once the job made the login)."""
    return db_svc.db_console_get(actor(), console_id)


@operation(blp, "/users/<int:db_user_id>/grants", "POST")
@blp.arguments(GrantIn)
@blp.response(201, DbRequestSchema)
def user_grant(body, db_user_id: int):
    return db_svc.db_grant_set(actor(), user_id=db_user_id, **body)


@operation(blp, "/users/<int:db_user_id>", "DELETE")
@blp.response(201, DbRequestSchema)
def user_delete(db_user_id: int):
    return db_svc.db_user_delete(actor(), user_id=db_user_id)


class DbServerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    address = fields.String()
    state = fields.Function(lambda h: h.state.value)
    engines = fields.Function(lambda h: (h.facts or {}).get("db_engines") or [])


@operation(blp, "/servers")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def server_list(args):
    """Registered hosts with role db (data-center staff), a page at a time."""
    return page_list(db_svc.db_hosts, args, DbServerSchema())


@operation(blp, "/servers/<int:host_id>/setup", "POST")
@blp.arguments(SetupIn)
@blp.response(202, JobSchema)
def server_setup(body, host_id: int):
    """Install or repair the engines on the host (data-center staff)."""
    a = actor()
    return jobs_svc.job_public(a, db_svc.db_server_setup(a, host_id=host_id, engines=body["engines"]))


class DriftItemSchema(Schema):
    kind = fields.String(metadata={"description": "user_extra, entry_extra, grant_extra, hba_extra, ..."})
    name = fields.String()
    where = fields.String()
    detail = fields.String()


class DriftEngineSchema(Schema):
    count = fields.Integer(metadata={"description": "differences found (items holds at most 200)"})
    before = fields.Integer(metadata={"description": "differences before the repair (a repair's check)"})
    items = fields.List(fields.Nested(DriftItemSchema))


class DriftSchema(Schema):
    host_id = fields.Integer()
    host = fields.String()
    engines = fields.List(fields.String())
    checked_at = fields.String(allow_none=True)
    job_id = fields.Integer(allow_none=True)
    repair = fields.Boolean()
    count = fields.Integer()
    found = fields.Dict(keys=fields.String(), values=fields.Nested(DriftEngineSchema))


@operation(blp, "/drift")
@blp.response(200, DriftSchema(many=True))
def drift_list():
    """Each DB host's last drift check against the catalog (data-center staff)."""
    return db_svc.db_drift_list(actor())


@operation(blp, "/drift/check", "POST")
@blp.response(202, JobSchema(many=True))
def drift_check():
    """Check every usable DB host against the catalog: one job each (admins and operators)."""
    a = actor()
    return [jobs_svc.job_public(a, j) for j in db_svc.db_drift_check(a)]


@operation(blp, "/drift/<int:host_id>/repair", "POST")
@blp.response(202, JobSchema)
def drift_repair(host_id: int):
    """Make the host's tenant users, grants and access what the catalog says (admins and operators)."""
    a = actor()
    return jobs_svc.job_public(a, db_svc.db_drift_repair(a, host_id=host_id))
