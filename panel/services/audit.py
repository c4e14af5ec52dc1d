"""The audit log: the @audited decorator, security events, the hash chain, verify and export.

Each entry's hash is sha256(prev_hash + canonical content); the content includes the entry's own
sequence number, so an edited, deleted, inserted or reordered entry breaks the chain at that point.
The head row (locked while appending) holds the tip, which also catches a truncated tail.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import select

from panel import db
from panel.errors import Forbidden
from panel.models.audit import AuditEntry, AuditHead
from panel.models.tenants import Role
from panel.services.actor import Actor, scoped
from panel.services.pagination import paginate

GENESIS = "0" * 64
# Argument names whose values never reach the log, whatever the service says.
ALWAYS_EXCLUDED = ("password", "new_password", "secret", "token", "private_key", "key", "code", "totp")
_COLUMNS = ("seq", "created_at", "actor_id", "actor_name", "org_id", "action", "object_type", "object_id",
            "summary", "surface", "client_addr", "request_id", "prev_hash", "hash")


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: dict | tuple) -> str:
    """The hashed content of an entry: every column but the two hashes, in a fixed order."""
    if isinstance(row, dict):
        row = tuple(row[c] for c in _COLUMNS[:12])
    seq, created, actor_id, actor_name, org_id, action, otype, oid, summary, surface, addr, rid = row[:12]
    created_s = created if isinstance(created, str) else _ts(created)
    return "\x1f".join((str(seq), created_s, "" if actor_id is None else str(actor_id), actor_name,
                        "" if org_id is None else str(org_id), action, otype, oid, summary, surface, addr, rid))


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


def append(actor: Actor | None, action: str, *, object_type: str = "", object_id: object = "",
           org_id: int | None = None, summary: dict | str | None = None) -> AuditEntry:
    """Add one entry in the current transaction; the caller's unit of work commits it."""
    s = db.session()
    head = s.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        s.add(head)
        s.flush()
    text = summary if isinstance(summary, str) else summarize(summary or {})
    entry = AuditEntry(
        seq=head.seq + 1, created_at=db.utcnow(),
        actor_id=actor.user_id if actor else None, actor_name=actor.username if actor else "system",
        org_id=org_id, action=action, object_type=object_type, object_id=str(object_id or ""),
        summary=text, surface=actor.surface if actor else "worker",
        client_addr=(actor.client_addr if actor else "")[:64], request_id=actor.request_id if actor else "",
        prev_hash=head.hash,
    )
    entry.hash = chain_hash(head.hash, canonical(tuple(getattr(entry, c) for c in _COLUMNS[:12])))
    head.seq, head.hash = entry.seq, entry.hash
    s.add(entry)
    s.flush()
    return entry


def security_event(actor: Actor | None, action: str, **summary) -> AuditEntry:
    """Security events (failed logins, lockouts, a changed host key) go into the same chain."""
    with db.unit_of_work():
        return append(actor, action, object_type="security", summary=summary)


def audited(action: str, object_type: str, *, exclude: tuple[str, ...] = (),
            org: Callable[[object, dict], int | None] | None = None):
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
                append(actor, action, object_type=object_type, object_id=getattr(target, "id", ""),
                       org_id=org_id, summary=summarize(kwargs, exclude))
            return result

        wrapper.audit_action = action
        return wrapper

    return decorate


# ---- reading ---------------------------------------------------------------------------------

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


def audit_list(actor: Actor, flt: AuditFilter = AuditFilter(), *, page: int = 1, per_page: int = 50):
    """Newest first; ministry admins see only their organizations' entries."""
    _require_reader(actor)
    stmt = scoped(select(AuditEntry), actor, AuditEntry)
    if flt.action:
        stmt = stmt.where(AuditEntry.action.startswith(flt.action))
    if flt.actor:
        stmt = stmt.where(AuditEntry.actor_name == flt.actor)
    if flt.object_type:
        stmt = stmt.where(AuditEntry.object_type == flt.object_type)
    if flt.org_id is not None:
        stmt = stmt.where(AuditEntry.org_id == flt.org_id)
    if flt.since:
        stmt = stmt.where(AuditEntry.created_at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.created_at < flt.until)
    return paginate(stmt.order_by(AuditEntry.seq.desc()), page=page, per_page=per_page)


# ---- verification ------------------------------------------------------------------------------

@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None


def iter_rows(batch: int = 20000) -> Iterator[tuple]:
    """All entries in seq order as plain tuples, read in key-ordered batches (no OFFSET)."""
    cols = [getattr(AuditEntry, c) for c in _COLUMNS]
    conn = db.session().connection()
    last = -1
    while True:
        rows = conn.execute(select(*cols).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def verify_rows(rows: Iterable, head: tuple[int, str] | None = None) -> VerifyResult:
    """Walk the chain; report the first entry that was edited, deleted, inserted or reordered."""
    prev, expected, n = GENESIS, 1, 0
    sha = hashlib.sha256
    for row in rows:
        seq = row[0]
        if seq != expected:
            what = "deleted" if seq > expected else "inserted or reordered"
            return VerifyResult(False, n, f"entry {expected} is missing or out of order ({what}): found {seq}",
                                expected)
        if row[12] != prev:
            return VerifyResult(False, n, f"entry {seq}: previous-hash link broken (an entry before it was "
                                          f"deleted, inserted or reordered)", seq)
        digest = sha((prev + canonical(row)).encode()).hexdigest()
        if digest != row[13]:
            return VerifyResult(False, n, f"entry {seq}: content does not match its hash (edited)", seq)
        prev, expected, n = digest, seq + 1, n + 1
    if head is not None and (head[0] != n or head[1] != prev):
        return VerifyResult(False, n, f"the chain ends at entry {n} but the head says {head[0]}: "
                                      f"entries after {n} were deleted", n + 1)
    return VerifyResult(True, n)


def audit_verify(actor: Actor) -> VerifyResult:
    _require_reader(actor)
    with db.unit_of_work() as s:
        h = s.scalars(select(AuditHead).where(AuditHead.id == 1)).first()
        return verify_rows(iter_rows(), (h.seq, h.hash) if h else (0, GENESIS))


def audit_export(actor: Actor, write: Callable[[str], object]) -> int:
    """Write every entry as one JSON line (with the chain), then a last line with the head."""
    _require_reader(actor)
    if not actor.sees_all:
        raise Forbidden("audit.forbidden", "Only data-center auditors and admins export the whole chain.")
    n = 0
    with db.unit_of_work() as s:
        for row in iter_rows():
            d = dict(zip(_COLUMNS, row, strict=True))
            d["created_at"] = _ts(d["created_at"])
            write(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
        h = s.scalars(select(AuditHead).where(AuditHead.id == 1)).first()
        write(json.dumps({"head": {"seq": h.seq if h else 0, "hash": h.hash if h else GENESIS}}) + "\n")
    return n


def verify_export(lines: Iterable[str]) -> VerifyResult:
    """Verify an export offline, without the database."""
    head = None

    def rows():
        nonlocal head
        for line in lines:
            if not line.strip():
                continue
            d = json.loads(line)
            if "head" in d:
                head = (d["head"]["seq"], d["head"]["hash"])
                continue
            yield tuple(d[c] for c in _COLUMNS)

    result = verify_rows(rows())
    if result.ok and head is not None and (head[0] != result.checked):
        return VerifyResult(False, result.checked, f"the export ends at entry {result.checked} but its head "
                                                   f"says {head[0]}", result.checked + 1)
    return result
