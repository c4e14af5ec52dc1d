"""Counting the SQL statements a piece of code sends: the check behind "no query per row".

    with count_statements() as stmts:
        client.get("/sites/")
    assert len(stmts) == ...

Every statement the engine sends is recorded (BEGIN/COMMIT that the driver sends itself are not),
so a lazy load per row, a COUNT per row or a lookup per row shows as a growing list.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from sqlalchemy import event

from panel import db


@contextlib.contextmanager
def count_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# An IN list's placeholders (SQLite `?`, psycopg2 `%(p_1)s`) vary with the rows; one batched load is one query.
_IN_LIST = re.compile(r"\((?:\?|%\(\w+\)s)(?:, (?:\?|%\(\w+\)s))*\)")


def growth(small: list[str], large: list[str]) -> str:
    """The statements the larger run sent more often than the smaller one (for failure messages)."""
    small, large = [_IN_LIST.sub("(...)", x) for x in small], [_IN_LIST.sub("(...)", x) for x in large]
    extra = []
    for stmt in dict.fromkeys(large):
        more = large.count(stmt) - small.count(stmt)
        if more > 0:
            extra.append(f"  +{more} x {' '.join(stmt.split())[:300]}")
    return "\n".join(extra)
