"""The audit log: the @audited decorator, security events, the hash chain, verify and export.

Chain format (version 1; `bench/audit_verify.py` and offline verifiers rely on it):

    content(e) = "\\x1f".join(str(seq), created_at, actor_id or "", actor_name, org_id or "", action,
                             object_type, object_id, summary, surface, client_addr, request_id)
    hash(e)    = sha256_hex(prev_hash + content(e)), UTF-8;  prev_hash of entry 1 = "0" * 64

`created_at` is UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; `summary` is canonical JSON (sorted keys,
no spaces, secrets replaced). Text fields are stored without control characters, so the unit
separator between fields is unambiguous and no field can borrow content from its neighbour.
`seq` is assigned by the chain (1, 2, 3 ...), so a deleted or inserted entry shows as a gap or a
broken link, and an edited one as a hash mismatch. The head row (locked while appending) holds the
tip, which also catches a truncated or extended tail. An export holds every column plus the head,
so it can be verified offline with `verify_export`. actor_id and org_id are hashed, so their
foreign keys RESTRICT (panel/models/audit.py): no delete of a user or organization rewrites an entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter, methodcaller

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from panel import db, events, logs
from panel.errors import Forbidden, Invalid
from panel.models.audit import COLUMNS, AuditEntry, AuditHead
from panel.models.tenants import Organization, Role
from panel.services.actor import Actor, require_staff
from panel.services.pagination import Window, paginate, window

GENESIS = "0" * 64
# Argument names whose values never reach the log, whatever the service says.
ALWAYS_EXCLUDED = ("password", "new_password", "secret", "token", "private_key", "key", "code", "totp")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UTC = dt.UTC


def _ts(value: dt.datetime) -> str:
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(_UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"


def _created(value) -> str:
    """created_at as hashed: from a datetime, SQLite's stored text, or an export's text."""
    if value.__class__ is str:
        if len(value) == 26 and value[10] == " ":  # SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff', UTC
            return f"{value[:10]}T{value[11:]}Z"
        if len(value) == 27 and value[10] == "T" and value[26] == "Z":
            return value
        return _ts(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return _ts(value)


def canonical(row: dict | tuple) -> str:
    """The hashed content of an entry: every column but the two hashes, in a fixed order."""
    if isinstance(row, dict):
        row = tuple(row[c] for c in COLUMNS[:12])
    seq, created, actor_id, actor_name, org_id, action, otype, oid, summary, surface, addr, rid = row[:12]
    return "\x1f".join(
        (
            str(seq),
            _created(created),
            "" if actor_id is None else str(actor_id),
            actor_name,
            "" if org_id is None else str(org_id),
            action,
            otype,
            oid,
            summary,
            surface,
            addr,
            rid,
        )
    )


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def summarize(values: dict, exclude: Iterable[str] = ()) -> str:
    """Canonical JSON of the change, secrets replaced by a marker and long values cut."""
    hidden = set(exclude) | set(ALWAYS_EXCLUDED)
    out = {}
    for k, v in sorted(values.items()):
        if k in hidden or any(h in k for h in ("password", "secret")):
            out[k] = "[redacted]" if v not in (None, "") else v
            continue
        if isinstance(v, (list, tuple, set, frozenset)):
            v = [str(x)[:200] for x in list(v)[:50]]
        elif not isinstance(v, (int, float, bool, type(None))):
            v = str(v)[:500]
        out[k] = v
    return json.dumps(out, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _field(value, limit: int) -> str:
    return _CONTROL.sub("?", str(value or ""))[:limit]


def append(
    actor: Actor | None,
    action: str,
    *,
    object_type: str = "",
    object_id: object = "",
    org_id: int | None = None,
    summary: dict | str | None = None,
) -> AuditEntry:
    """Add one entry in the current transaction; the caller's unit of work commits it."""
    s = db.session()
    head = s.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        # The first entry ever: two processes may get here together (two workers' first sweep); the
        # loser of the insert must wait for the row, not fail on a duplicate key.
        ins = (pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert)(AuditHead)
        s.execute(ins.values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())
        head = s.scalars(
            select(AuditHead).where(AuditHead.id == 1).with_for_update().execution_options(populate_existing=True)
        ).one()
    text = summary if isinstance(summary, str) else summarize(summary or {})
    entry = AuditEntry(
        seq=head.seq + 1,
        created_at=db.utcnow(),
        actor_id=actor.user_id if actor else None,
        actor_name=_field(actor.username if actor else "system", 64),
        org_id=org_id,
        action=_field(action, 64),
        object_type=_field(object_type, 32),
        object_id=_field(object_id, 64),
        summary=_CONTROL.sub("?", text),
        surface=_field(actor.surface if actor else "worker", 8),
        client_addr=_field(actor.client_addr if actor else "", 64),
        # The worker's own entries (no actor) carry the request id of the job they belong to.
        request_id=_field(actor.request_id if actor else logs.request_id.get(), 64),
        prev_hash=head.hash,
    )
    entry.hash = chain_hash(head.hash, canonical(tuple(getattr(entry, c) for c in COLUMNS[:12])))
    head.seq, head.hash = entry.seq, entry.hash
    s.add(entry)
    s.flush()
    events.audit_appended.send(entry, session=s)
    return entry


def security_event(actor: Actor | None, action: str, **summary) -> AuditEntry:
    """Security events (failed logins, lockouts, a changed host key) go into the same chain."""
    with db.unit_of_work():
        return append(actor, action, object_type="security", summary=summary)


def audited(
    action: str,
    object_type: str,
    *,
    exclude: tuple[str, ...] = (),
    org: Callable[[object, dict], int | None] | None = None,
):
    """Write one audit entry for each call, in the service's own transaction.

    The entry's object is what the service returns (its `id` and `org_id`); arguments named in
    `exclude` (and every password-like name) never reach the summary.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(actor: Actor, *args, **kwargs):
            with db.unit_of_work():
                result = fn(actor, *args, **kwargs)
                target = result[0] if isinstance(result, tuple) else result
                org_id = org(target, kwargs) if org else getattr(target, "org_id", kwargs.get("org_id"))
                append(
                    actor,
                    action,
                    object_type=object_type,
                    object_id=getattr(target, "id", ""),
                    org_id=org_id,
                    summary=summarize(kwargs, exclude),
                )
            return result

        wrapper.audit_action = action
        return wrapper

    return decorate


# ---- reading ---------------------------------------------------------------------------------


def _admin_org_ids(actor: Actor) -> set[int]:
    """Orgs whose entries a ministry org_admin reads: where they are org_admin, and departments below."""
    mine = {oid for oid, roles in actor.org_roles.items() if Role.ORG_ADMIN in roles}
    if not mine:
        return set()
    below = db.session().scalars(select(Organization.id).where(Organization.parent_id.in_(mine)))
    return mine | set(below)


def _require_reader(actor: Actor) -> None:
    if not (actor.has_staff(Role.AUDITOR, Role.ADMIN) or any(Role.ORG_ADMIN in r for r in actor.org_roles.values())):
        raise Forbidden("audit.forbidden", "Only auditors, admins and ministry admins read the audit log.")


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    actor: str = ""
    object_type: str = ""
    org_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def _filter_text(value: str, field: str) -> str:
    value = (value or "").strip()
    if len(value) > 64 or _CONTROL.search(value):
        raise Invalid("audit.filter_invalid", "At most 64 characters, without control characters.", field=field)
    return value


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def audit_list(actor: Actor, flt: AuditFilter = AuditFilter(), *, page: int = 1, per_page: int = 50):
    """Newest first; ministry admins see only their organizations' entries."""
    return paginate(
        _filtered(actor, select(AuditEntry), flt).order_by(AuditEntry.seq.desc()), page=page, per_page=per_page
    )


def audit_window(
    actor: Actor,
    flt: AuditFilter = AuditFilter(),
    *,
    per_page: int = 50,
    cursor: str | None = None,
    page: int | None = None,
    with_total: bool = False,
) -> Window:
    """audit_list as plain rows by cursor (newest first): one statement, as fast deep in the log."""
    cols = [getattr(AuditEntry, c) for c in _WINDOW_COLUMNS]
    stmt = _filtered(actor, select(*cols), flt)
    return window(
        stmt,
        [(AuditEntry.seq, "seq")],
        descending=True,
        per_page=per_page,
        cursor=cursor,
        page=page,
        with_total=with_total,
    )


_WINDOW_COLUMNS = COLUMNS  # a window row carries every column the chain hashes


def _filtered(actor: Actor, stmt, flt: AuditFilter):
    _require_reader(actor)
    if not actor.sees_all:
        stmt = stmt.where(AuditEntry.org_id.in_(_admin_org_ids(actor)))
    action, who, otype = (
        _filter_text(v, f) for v, f in ((flt.action, "action"), (flt.actor, "actor"), (flt.object_type, "object_type"))
    )
    if action:
        stmt = stmt.where(AuditEntry.action.like(_like_prefix(action), escape="\\"))
    if who:
        stmt = stmt.where(AuditEntry.actor_name == who)
    if otype:
        stmt = stmt.where(AuditEntry.object_type == otype)
    if flt.org_id is not None:
        stmt = stmt.where(AuditEntry.org_id == flt.org_id) if 0 < flt.org_id < 2**63 else stmt.where(or_())
    if flt.since:
        stmt = stmt.where(AuditEntry.created_at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.created_at < flt.until)
    return stmt


# ---- verification ------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None
    last_hash: str = GENESIS  # the tip as recomputed, compared with the head


_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM audit_entries"  # noqa: S608 (fixed column names)
# PostgreSQL formats created_at itself: building a tz-aware datetime per row in the driver costs
# more than hashing the row.
_PG_CREATED = """to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
CHUNK = 5000  # rows per fetch (PostgreSQL: per FETCH of the server-side cursor)


def _stream(dbapi_conn, dialect: str) -> Iterator[tuple]:
    """Every entry in seq order as the driver's plain tuples, CHUNK rows at a time.

    The driver's rows skip SQLAlchemy's per-row type processing (verification is bound by it);
    created_at comes as text (SQLite's stored form or PostgreSQL's to_char) that `_created` reads.
    PostgreSQL streams through a server-side cursor: psycopg2's ordinary cursor would load the
    whole result into memory.
    """
    pg = dialect == "postgresql"
    cur = dbapi_conn.cursor(name="audit_chain") if pg else dbapi_conn.cursor()
    try:
        cur.execute((_SELECT.replace("created_at", _PG_CREATED, 1) if pg else _SELECT) + " ORDER BY seq")
        while rows := cur.fetchmany(CHUNK):
            yield from rows
    finally:
        cur.close()


@contextlib.contextmanager
def chain_snapshot() -> Iterator[tuple[tuple[int, str], Callable[[], Iterator[tuple]]]]:
    """(head, rows) as of ONE moment, read without taking any lock (see _snapshot)."""
    with _snapshot() as (head, dbapi, dialect):
        yield head, (lambda: _stream(dbapi, dialect))


@contextlib.contextmanager
def _snapshot() -> Iterator[tuple[tuple[int, str], object, str]]:
    """(head, DB-API connection, dialect name) as of ONE moment, read without taking any lock.

    Head and entries come from one read-only snapshot (PostgreSQL: REPEATABLE READ READ ONLY; SQLite:
    a deferred read in WAL mode), so entries appended while a long chain is read are neither seen
    after a head that does not count them (a false "inserted") nor kept waiting: SQLite's usual
    BEGIN IMMEDIATE would hold the write lock, and every audited action, for the whole walk.
    """
    with db.engine().connect() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            conn = conn.execution_options(**{db.READ_ONLY_OPTION: True})  # a plain deferred BEGIN
        with conn.begin():
            row = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
            head = (row[0], row[1]) if row else (0, GENESIS)
            yield head, conn.connection.dbapi_connection, dialect


def iter_rows() -> Iterator[tuple]:
    """Every entry in seq order, from one snapshot (the export's and the benchmark's read)."""
    with chain_snapshot() as (_head, rows):
        yield from rows()


def _link_problem(row: tuple, prev: str) -> str:
    seq = row[0]
    if chain_hash(row[12], canonical(row)) == row[13]:
        return f"entry {seq} does not follow entry {seq - 1}: entries were deleted, inserted or reordered here"
    return f"entry {seq} was edited or moved: it neither links to entry {seq - 1} nor matches its own hash"


def _head_problem(n: int, last: str, head: tuple[int, str]) -> str | None:
    if head[0] > n:
        return f"the chain ends at entry {n} but the head says {head[0]}: the entries after {n} were deleted"
    if head[0] < n:
        return (
            f"the head says the chain ends at {head[0]}, but there are {n} entries: entries were appended "
            f"outside the panel (inserted)"
        )
    if head[1] != last:
        return f"entry {n} does not match the head's hash: the last entry was replaced"
    return None


def verify_rows(rows: Iterable, head: tuple[int, str] | None = None) -> VerifyResult:
    """Walk the chain; report the first entry that was edited, deleted, inserted or reordered."""
    prev, expected = GENESIS, 1
    sha, created_of, sep = hashlib.sha256, _created, "\x1f"
    for row in rows:
        seq, created, aid, aname, oid, action, otype, objid, summary, surface, addr, rid, prev_h, h = row
        if seq != expected:
            if seq > expected:
                return VerifyResult(
                    False, expected - 1, f"entry {expected} is missing (deleted); the next is {seq}", expected
                )
            return VerifyResult(
                False,
                expected - 1,
                f"entry {seq} appears again after entry {expected - 1} (inserted or reordered)",
                seq,
            )
        if prev_h != prev:
            return VerifyResult(False, expected - 1, _link_problem(row, prev), seq)
        content = sep.join(
            (
                str(seq),
                created_of(created),
                "" if aid is None else str(aid),
                aname,
                "" if oid is None else str(oid),
                action,
                otype,
                objid,
                summary,
                surface,
                addr,
                rid,
            )
        )
        prev = sha((prev + content).encode()).hexdigest()
        if prev != h:
            return VerifyResult(
                False, expected - 1, f"entry {seq} was edited: its content does not match its hash", seq
            )
        expected += 1
    n = expected - 1
    problem = _head_problem(n, prev, head) if head is not None else None
    if problem:
        return VerifyResult(False, n, problem, min(n, head[0]) + 1, prev)
    return VerifyResult(True, n, last_hash=prev)


# ---- fast verification: the database renders, C code hashes ---------------------------------
# A profile of verify_rows over 100,000 entries: fetching 14 columns into Python objects and the
# per-row bytecode cost more than the hashing. Here the database renders each entry's hashed text
# (prev_hash + content(e), the format above) and hands over FAST_CHUNK entries as one string;
# split, sha256, hexdigest and the comparisons then run as C loops (map/join) with no Python code
# per entry. Any disagreement, including a row the SQL rendering is not sure to render exactly as
# `canonical` would (an unexpected type or created_at form), sends the whole walk to verify_rows,
# which finds and words the first problem. A pass here means what a pass there means: every
# entry's hash is the sha256 of its previous entry's recomputed hash plus its content, seqs run
# 1..n, and the tip matches the head.
FAST_CHUNK = 10_000
_RS = "\x1e"  # between entries in a chunk: no stored text holds control characters (a tampered one
# that does splits into one piece too many, which is a disagreement, never a pass)
_SQLITE_TEXT = (
    "printf(:fmt, prev_hash, seq, substr(created_at, 1, 10), substr(created_at, 12), ifnull(actor_id, ''),"
    " actor_name, ifnull(org_id, ''), action, object_type, object_id, summary, surface, client_addr, request_id)"
)
_SQLITE_FMT = "%s%d" + "\x1f%sT%sZ" + "\x1f%s" * 10
# Rows whose rendering could differ from canonical(): created_at not SQLite's stored form, an id
# that is not an integer, a prev_hash that is not 64 characters (it would shift the link check).
_SQLITE_ODD = (
    "typeof(seq) <> 'integer' OR typeof(created_at) <> 'text' OR length(created_at) <> 26"
    " OR substr(created_at, 11, 1) <> ' ' OR typeof(actor_id) NOT IN ('integer', 'null')"
    " OR typeof(org_id) NOT IN ('integer', 'null') OR length(prev_hash) <> 64"
)
# group_concat takes rows in the subquery's order (SQLite 3.40 has no ORDER BY inside it); were it
# ever otherwise, the link check would disagree and verify_rows would decide.
_SQLITE_CHUNK = (
    f"SELECT count(*), min(seq), max(seq), sum({_SQLITE_ODD}), CAST(group_concat(m, :rs) AS BLOB),"  # noqa: S608
    " CAST(group_concat(hash, :rs) AS BLOB)"
    f" FROM (SELECT seq, created_at, actor_id, org_id, prev_hash, hash, {_SQLITE_TEXT} AS m"
    " FROM audit_entries WHERE seq > :after AND seq <= :after + :n ORDER BY seq)"
)
_PG_TEXT = (
    "prev_hash || concat_ws(E'\\x1f', seq, " + _PG_CREATED + ", coalesce(actor_id::text, ''), actor_name,"
    " coalesce(org_id::text, ''), action, object_type, object_id, summary, surface, client_addr, request_id)"
)
_PG_CHUNK = (
    "SELECT count(*), min(seq), max(seq), count(*) FILTER (WHERE length(prev_hash) <> 64),"  # noqa: S608
    f" string_agg({_PG_TEXT}, %(rs)s), string_agg(hash, %(rs)s)"
    " FROM (SELECT * FROM audit_entries WHERE seq > %(after)s AND seq <= %(after)s + %(n)s ORDER BY seq) AS chunk"
)
# Chunks are ranges of the primary key, not LIMITs: a LIMIT on a table without statistics yet (a
# fresh or bulk-filled one) had PostgreSQL sort the whole table for every chunk. The aggregates
# take the rows in the index scan's order (an ORDER BY inside them sorted every chunk again, on
# disk past work_mem); were they ever given another order, the link check would disagree.


def _chunk(dbapi_conn, dialect: str, after: int) -> tuple:
    """(count, first seq, last seq, odd rows, rendered entries, hashes) of seqs after..after + FAST_CHUNK."""
    cur = dbapi_conn.cursor()
    try:
        if dialect == "postgresql":
            cur.execute(_PG_CHUNK, {"rs": _RS, "after": after, "n": FAST_CHUNK})
        else:
            cur.execute(_SQLITE_CHUNK, {"fmt": _SQLITE_FMT, "rs": _RS, "after": after, "n": FAST_CHUNK})
        return cur.fetchone()
    finally:
        cur.close()


def _bounds(dbapi_conn) -> tuple:
    """(lowest seq, highest seq), from the primary key's index."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SELECT min(seq), max(seq) FROM audit_entries")
        return tuple(cur.fetchone())
    finally:
        cur.close()


def _chunks(dbapi_conn, dialect: str, last: int) -> Iterator[tuple]:
    """The chunks of seqs 1..last in order; the next one is read (by the database, without the
    GIL) while the caller hashes this one."""
    with ThreadPoolExecutor(1, thread_name_prefix="audit-verify") as pool:
        pending = None
        for after in range(0, last, FAST_CHUNK):
            following = pool.submit(_chunk, dbapi_conn, dialect, after)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


_HEX = methodcaller("hexdigest")
_PREV = itemgetter(slice(0, 64))


def _verify_fast(chunks: Iterable[tuple], head: tuple[int, str], bounds: tuple) -> VerifyResult | None:
    """The result, or None where anything disagrees (verify_rows then says what).

    `chunks` covers seqs 1..head's seq, `bounds` are the table's lowest and highest seq: together
    they leave no entry unread."""
    if bounds != ((1, head[0]) if head[0] else (None, None)):
        return None
    sha, rs = hashlib.sha256, _RS.encode()
    expected, last = 1, GENESIS.encode()
    for k, first, final, odd, rendered, hashes in chunks:
        if odd or not k or first != expected or final != expected + k - 1:  # seq is unique: k values in k places
            return None
        if isinstance(rendered, str):  # PostgreSQL's text
            rendered, hashes = rendered.encode(), hashes.encode()
        texts = rendered.split(rs)
        computed = "\x1e".join(map(_HEX, map(sha, texts))).encode()
        # One separator per entry boundary on both sides, so equal strings mean equal hashes entry
        # by entry; the links: each entry's prev_hash is its predecessor's recomputed hash.
        if (
            len(texts) != k
            or computed != hashes
            or b"".join(map(_PREV, texts)) != last + computed[:-65].replace(rs, b"")
        ):
            return None
        last, expected = computed[-64:], expected + k
    n, tip = expected - 1, last.decode()
    problem = _head_problem(n, tip, head)
    return (
        VerifyResult(False, n, problem, min(n, head[0]) + 1, tip) if problem else VerifyResult(True, n, last_hash=tip)
    )


def audit_verify(actor: Actor) -> VerifyResult:
    """Check the whole chain against its head (data-center auditors and admins)."""
    require_staff(actor, Role.AUDITOR, Role.ADMIN)
    with _snapshot() as (head, dbapi, dialect):
        bounds = _bounds(dbapi)
        with contextlib.closing(_chunks(dbapi, dialect, head[0])) as chunks:  # closed: no read left running
            fast = _verify_fast(chunks, head, bounds)
        return fast or verify_rows(_stream(dbapi, dialect), head)


def audit_export(actor: Actor, write: Callable[[str], object]) -> int:
    """Write every entry as one JSON line (with the chain), then a last line with the head."""
    require_staff(actor, Role.AUDITOR, Role.ADMIN)
    n = 0
    with chain_snapshot() as (head, rows):
        for row in rows():
            d = dict(zip(COLUMNS, row, strict=True))
            d["created_at"] = _created(d["created_at"])
            write(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
        write(json.dumps({"head": {"seq": head[0], "hash": head[1]}}) + "\n")
    return n


class _BadLine(Exception):
    pass


def verify_export(lines: Iterable[str]) -> VerifyResult:
    """Verify an export offline, without the database; the head line must come last."""
    head: list = []

    def rows():
        for no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if head:
                raise _BadLine(f"line {no}: entries after the head line")
            try:
                d = json.loads(line)
                if "head" in d:
                    head.append((int(d["head"]["seq"]), str(d["head"]["hash"])))
                    continue
                yield tuple(d[c] for c in COLUMNS)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise _BadLine(f"line {no} is not an audit entry") from None

    try:
        result = verify_rows(rows())
    except _BadLine as e:
        return VerifyResult(False, 0, str(e))
    except (TypeError, ValueError, AttributeError):
        return VerifyResult(False, 0, "an entry of the export holds a value of the wrong type")
    if not result.ok:
        return result
    if not head:
        return VerifyResult(False, result.checked, "the export has no head line: it was cut short", result.checked + 1)
    problem = _head_problem(result.checked, result.last_hash, head[0])
    return VerifyResult(False, result.checked, problem, result.checked + 1) if problem else result
