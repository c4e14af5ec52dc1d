"""Audit chain verification rate over 100,000 entries (issue 2; goal >= 200,000 entries/s).

Run with no arguments: `python bench/audit_verify.py`. It makes a temporary SQLite database (and,
when PostgreSQL answers on 127.0.0.1:5432, a temporary database there too), bulk-inserts 100,000
chained entries computed with the service's own `canonical`/`chain_hash` (not 100,000 service
calls), then times `audit_verify` (the service function, as the CLI calls it) against a baseline in
the same run: reading the same rows through the same driver path without hashing. Medians of
several runs. The last line is the figure, for SQLite, the embedded default database.
"""

from __future__ import annotations

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


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def read_only() -> int:
    return sum(1 for _ in audit.iter_rows())  # the verification's own snapshot read


def verify() -> None:
    result = audit.audit_verify(system_actor("cli", "bench"))
    if not (result.ok and result.checked == N):
        raise SystemExit(f"verification failed: {result}")


def measure(url: str, label: str) -> float:
    engine = db.configure(url)
    Base.metadata.create_all(engine)
    t_fill = timed(lambda: fill(N))
    base, ver = [], []
    for _ in range(RUNS):  # alternated, so the shared machine's other load falls on both alike
        base.append(timed(read_only))
        ver.append(timed(verify))
    base, ver = statistics.median(base), statistics.median(ver)
    rate = N / ver
    print(
        f"{label}: filled {N:,} entries in {t_fill:.2f} s; read only {base * 1000:.0f} ms "
        f"({N / base:,.0f} rows/s); verify {ver * 1000:.0f} ms ({rate:,.0f} entries/s, "
        f"{ver / base:.2f}x the read)"
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
        print(f"postgresql: skipped ({type(e).__name__})")
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
    postgres_rate()
    print(f"figure: audit_verify_rate = {rate:.0f} entries/s")


if __name__ == "__main__":
    main()
