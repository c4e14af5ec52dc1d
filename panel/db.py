"""Engine, session registry and the unit of work that every service runs in.

Services own the transaction: `with unit_of_work() as s:` commits once at the outermost exit, so a
service calling another service (or the audit decorator wrapping it) shares one transaction and an
error anywhere rolls everything back. Callbacks registered with `on_commit` run only after a
successful commit (e.g. enqueueing a job id, which a worker must not see before the row exists).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator

from sqlalchemy import DateTime, Float, MetaData, create_engine, event, exc, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value

    def result_processor(self, dialect, coltype):
        # PostgreSQL's timestamptz comes back aware from the driver: process_result_value would do
        # nothing but cost a call per value (a few per cent of a list page's CPU).
        if dialect.name == "postgresql":
            return None
        return super().result_processor(dialect, coltype)


class seconds_between(FunctionElement):  # lower case: it reads as the SQL function it is
    """Seconds from timestamp `start` to timestamp `end`, computed by the database (PostgreSQL and
    SQLite alike), so durations can be summed and bucketed in one grouped query."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_between(element, compiler, **kw) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def now(s: Session) -> dt.datetime:
    """The database server's clock (PostgreSQL), so leases and heartbeats written by workers on
    several machines compare on one clock; SQLite is on this machine, whose clock it is."""
    if s.get_bind().dialect.name == "postgresql":
        return s.scalar(text("SELECT now()")).astimezone(dt.UTC)
    return utcnow()


_registry: scoped_session[Session] | None = None
_engine: Engine | None = None
_read_engine: Engine | None = None


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record):
            conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # IMMEDIATE takes the write lock up front: two writers (web + worker) then queue on the
            # busy timeout instead of failing mid-transaction on a stale read snapshot. A read-only
            # session (read_only_session) begins a plain deferred read that never takes the lock.
            if conn.get_execution_options().get(READ_ONLY_OPTION):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_recycle=3600)
    _ping_idle_connections(engine)

    @event.listens_for(engine, "begin")
    def _pg_read_autocommit(conn):
        # A read-only session's connection runs in autocommit: no BEGIN, COMMIT or ROLLBACK round
        # trips, no transaction held. Set on psycopg2 directly: SQLAlchemy's isolation_level
        # option would make psycopg2 send SET default_transaction_* on every checkout and return.
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.connection.dbapi_connection.autocommit = True

    @event.listens_for(engine, "checkin")
    def _pg_transactional_again(dbapi_conn, _record):
        if dbapi_conn is not None and dbapi_conn.autocommit:
            dbapi_conn.autocommit = False

    return engine


READ_ONLY_OPTION = "govhost_read_only"
SQLITE_BUSY_MS = 30_000  # how long a SQLite writer waits for the write lock before "database is locked"
# A pooled connection is checked ("SELECT 1") when it comes out of the pool only after it sat idle
# this long: a busy panel then sends no check per request (pool_pre_ping would, one round trip each),
# while a connection the server dropped during a quiet spell is replaced before a request uses it.
# A connection that breaks mid-use is still detected: SQLAlchemy invalidates the pool on it.
PING_AFTER_IDLE_S = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # psycopg2: in autocommit, so it leaves no transaction
        except Exception as e:
            raise exc.DisconnectionError() from e  # the pool discards it and connects afresh


@event.listens_for(Session, "after_begin")
def _db_transaction_began(session, transaction, connection) -> None:
    session.info["db_transaction_open"] = True


@event.listens_for(Session, "after_transaction_end")
def _db_transaction_ended(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("db_transaction_open", None)


def transaction_open() -> bool:
    """True while this thread's session holds a database transaction (a connection has begun).

    The rule "no network I/O (DNS, SSH, HTTP, SMTP) while a transaction is open" is checked against
    this: on SQLite every transaction holds the write lock, so a slow look-up would stall the panel.
    """
    if _registry is None or not _registry.registry.has():
        return False
    return bool(_registry().info.get("db_transaction_open"))


def configure(url: str) -> Engine:
    """Bind the process-wide session registry to a database; called once by app, CLI and worker."""
    global _registry, _engine, _read_engine
    if _registry is not None:
        _registry.remove()
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    # Reads share the pool. On PostgreSQL they run in autocommit: no BEGIN, COMMIT or ROLLBACK round
    # trips around a request's one SELECT, and no transaction at all; on SQLite a deferred BEGIN.
    _read_engine = _engine.execution_options(**{READ_ONLY_OPTION: True})
    _registry = scoped_session(sessionmaker(bind=_engine, expire_on_commit=False))
    return _engine


def engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database not configured: call panel.db.configure(url) first")
    return _engine


def session() -> Session:
    if _registry is None:
        raise RuntimeError("database not configured: call panel.db.configure(url) first")
    return _registry()


def read_only_session() -> Session:
    """Make this thread's session (until `remove`) one that only reads: used for the API's GET,
    HEAD and OPTIONS requests, so a read never opens a write transaction. A flush of any change in
    it raises, so a read that would write is a bug found, not a write made outside a transaction."""
    if _registry is None or _read_engine is None:
        raise RuntimeError("database not configured: call panel.db.configure(url) first")
    _registry.remove()
    s = Session(bind=_read_engine, expire_on_commit=False, info={"read_only": True})
    _registry.registry.set(s)
    return s


@contextlib.contextmanager
def private_read_session() -> Iterator[Session]:
    """A session apart from this thread's, that only reads, closed on exit (token look-ups)."""
    if _read_engine is None:
        raise RuntimeError("database not configured: call panel.db.configure(url) first")
    s = Session(bind=_read_engine, expire_on_commit=False, info={"read_only": True})
    try:
        yield s
    finally:
        s.close()


@contextlib.contextmanager
def reading() -> Iterator[Connection]:
    """The connection a read of plain rows (Core, no ORM objects) runs on: this thread's session's
    own when it has begun (a unit of work, or the request read something already), else, in a
    read-only request, a pooled connection of the read engine straight away. The ORM session's
    transaction bookkeeping around such a read, and its close at teardown, cost more CPU than the
    SELECT of a list page; the connection is the same pooled one, in autocommit on PostgreSQL."""
    s = session()
    if s.info.get("read_only") and not s.in_transaction():
        with _read_engine.connect() as conn:
            yield conn
    else:
        yield s.connection()


class ReadOnlyViolation(RuntimeError):
    """Something tried to write through a read-only session."""


@event.listens_for(Session, "before_flush")
def _refuse_writes_when_read_only(session, _flush_context, _instances) -> None:
    if session.info.get("read_only") and (
        session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    ):
        raise ReadOnlyViolation("a read-only request tried to write to the database")


def remove() -> None:
    """End the current thread's session (Flask teardown, end of a job)."""
    if _registry is not None:
        _registry.remove()


@contextlib.contextmanager
def unit_of_work() -> Iterator[Session]:
    s = session()
    info = s.info
    depth = info.get("uow_depth", 0)
    info["uow_depth"] = depth + 1
    if depth == 0:
        info["on_commit"] = []
    try:
        yield s
        if depth == 0:
            s.commit()
    except BaseException:
        if depth == 0:
            s.rollback()
        raise
    finally:
        info["uow_depth"] = depth
    if depth == 0:
        callbacks, info["on_commit"] = info.get("on_commit", []), []
        for cb in callbacks:
            cb()


def on_commit(callback: Callable[[], None]) -> None:
    """Run `callback` after the current unit of work commits (never if it rolls back)."""
    s = session()
    if not s.info.get("uow_depth"):
        raise RuntimeError("on_commit outside a unit of work")
    s.info["on_commit"].append(callback)
