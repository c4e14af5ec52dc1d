"""Audit chain verification rate over 100,000 entries (issue 22; goal >= 1,000,000 entries/s).

Run with no arguments: `python bench/audit_verify.py`. It makes a temporary SQLite database (and,
when PostgreSQL answers on 127.0.0.1:5432, a temporary database there too), bulk-inserts 100,000
chained entries computed with the service's own `canonical`/`chain_hash` (not 100,000 service
calls), then times `audit_verify` (the service function, as the CLI calls it) against baselines in
the same run, alternated, medians of RUNS:
  - read: the verification's own read without hashing (the database renders each entry's hashed
    text, FAST_CHUNK entries per string);
  - rows: the row-by-row read (the export's, and the verifier's before issue 22);
  - row-by-row verify: verify_rows over that read (what `audit_verify` did before, and still does
    to word a problem once the fast path disagrees).
Prints a stage timeline; the last line is the figure, for SQLite, the embedded default database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text

import panel.models  # noqa: F401  (the core's tables)
from panel import capabilities, db
from panel.db import Base
from panel.models.audit import AuditEntry, AuditHead
from panel.services import audit
from panel.services.actor import system_actor

capabilities.load()  # every enabled capability's tables, kinds and jobs

N = 100_000
RUNS = 5
PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def fill(n: int) -> None:
    """n entries with realistic content, chained exactly as `audit.append` chains them."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    prev, rows = audit.GENESIS, []
    for seq in range(1, n + 1):
        row = {
            "seq": seq,
            "created_at": start + dt.timedelta(milliseconds=37 * seq),
            "actor_id": None,
            "actor_name": f"user{seq % 97}",
            "org_id": None,
            "action": ("sites.site_create", "org.update")[seq % 2],
            "object_type": "site",
            "object_id": str(seq),
            "summary": audit.summarize({"fqdn": f"s{seq}.moe.gov.kh", "plan": "php-8.2", "password": "x"}),
            "surface": "web",
            "client_addr": "10.0.0.7",
            "request_id": uuid.uuid4().hex,
        }
        row["prev_hash"] = prev
        prev = row["hash"] = audit.chain_hash(prev, audit.canonical(row))
        rows.append(row)
    with db.unit_of_work() as s:
        for i in range(0, n, 10_000):
            s.execute(insert(AuditEntry), rows[i : i + 10_000])
        s.add(AuditHead(id=1, seq=n, hash=prev))


T0 = time.perf_counter()


def stage(text: str) -> None:
    print(f"[{time.perf_counter() - T0:7.2f} s] {text}", flush=True)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def read_rendered() -> int:
    """The fast verification's read: the same snapshot and chunks, no hashing."""
    with audit._snapshot() as (head, dbapi, dialect):
        audit._bounds(dbapi)
        with contextlib.closing(audit._chunks(dbapi, dialect, head[0])) as chunks:
            return sum(c[0] for c in chunks)


def read_rows() -> int:
    return sum(1 for _ in audit.iter_rows())  # the export's snapshot read, row by row


def verify_rowwise() -> None:
    with audit._snapshot() as (head, dbapi, dialect):
        result = audit.verify_rows(audit._stream(dbapi, dialect), head)
    if not (result.ok and result.checked == N):
        raise SystemExit(f"row-by-row verification failed: {result}")


def verify() -> None:
    result = audit.audit_verify(system_actor("cli", "bench"))
    if not (result.ok and result.checked == N):
        raise SystemExit(f"verification failed: {result}")


def measure(url: str, label: str) -> float:
    engine = db.configure(url)
    Base.metadata.create_all(engine)
    stage(f"{label}: filling {N:,} entries")
    t_fill = timed(lambda: fill(N))
    stage(f"{label}: filled in {t_fill:.2f} s; {RUNS} alternated runs of read / rows / row-by-row verify / verify")
    runs: dict = {"read": [], "rows": [], "rowwise": [], "verify": []}
    for _ in range(RUNS):  # alternated, so the shared machine's other load falls on all alike
        for name, fn in (("read", read_rendered), ("rows", read_rows), ("rowwise", verify_rowwise), ("verify", verify)):
            runs[name].append(timed(fn))
    med = {k: statistics.median(v) for k, v in runs.items()}
    for name, what in (
        ("read", "read (rendered chunks, no hashing)"),
        ("rows", "read (row by row, no hashing)"),
        ("rowwise", "row-by-row verify (verify_rows, as before)"),
        ("verify", "verify (audit_verify)"),
    ):
        stage(f"{label}: {what}: {med[name] * 1000:.0f} ms, {N / med[name]:,.0f} entries/s")
    rate = N / med["verify"]
    stage(
        f"{label}: verify is {med['verify'] / med['read']:.2f}x its own read and "
        f"{med['rowwise'] / med['verify']:.2f}x faster than row by row"
    )
    db.remove()
    db.engine().dispose()
    return rate


def postgres_rate() -> float | None:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2})
        with admin.connect() as c:
            name = f"govhost_bench_{uuid.uuid4().hex[:8]}"
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as e:  # PostgreSQL is optional here: report and carry on
        stage(f"postgresql: skipped ({type(e).__name__})")
        return None
    try:
        return measure(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, "postgresql")
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="govhost-bench-") as tmp:
        rate = measure(f"sqlite:///{tmp}/audit.db", "sqlite")
    pg = postgres_rate()
    if pg is not None:
        print(f"postgresql: audit_verify_rate = {pg:.0f} entries/s")
    print(f"figure: audit_verify_rate = {rate:.0f} entries/s")


if __name__ == "__main__":
    main()
