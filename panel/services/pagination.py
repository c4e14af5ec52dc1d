"""Pages of results: one count query and one page query, whatever the size of the table."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, func, or_, select

from panel import db
from panel.errors import Invalid

MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
MAX_ID = 2**63 - 1  # bigint: larger ids cannot exist, and SQLite raises OverflowError on them


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paginate(stmt: Select, *, page: int = 1, per_page: int = 50) -> Page:
    page = min(max(1, int(page)), MAX_PAGE)
    per_page = min(max(1, int(per_page)), MAX_PER_PAGE)
    s = db.session()
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(s.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items, page, per_page, total or 0)


# ---- windows: keyset (cursor) pages of plain rows ------------------------------------------------


@dataclass
class Window:
    """One page of rows (not ORM objects) and the cursor of the next one.

    `total` is counted only when asked (counting is a scan of every matching index entry, which
    grows with the table); `page` is set when the window was asked for by page number.
    """

    items: list
    per_page: int
    next_cursor: str | None
    page: int | None = None
    total: int | None = None

    @property
    def pages(self) -> int | None:
        return None if self.total is None else max(1, -(-self.total // self.per_page))


def _encode_cursor(values: list) -> str:
    plain = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, columns: list) -> list:
    bad = Invalid("page.cursor_invalid", "The cursor is not valid; start again from the first page.", field="cursor")
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise bad from None
    if not isinstance(raw, list) or len(raw) != len(columns):
        raise bad
    values = []
    for value, col in zip(raw, columns, strict=True):
        kind = col.type.python_type
        if kind is dt.datetime and isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value)
            except ValueError:
                raise bad from None
            if value.tzinfo is None:
                raise bad
        elif not (
            (kind is int and type(value) is int and -MAX_ID - 1 <= value <= MAX_ID)
            or (kind is str and isinstance(value, str) and len(value) <= 1000)
        ):
            raise bad
        values.append(value)
    return values


def _after(columns: list, values: list, descending: bool):
    """Rows strictly after `values` in the order of `columns` (all ascending or all descending);
    the leading column's own bound comes first so its index serves the condition."""
    beyond = (lambda c, v: c < v) if descending else (lambda c, v: c > v)
    tail = beyond(columns[-1], values[-1])
    for col, value in zip(reversed(columns[:-1]), reversed(values[:-1]), strict=True):
        tail = or_(beyond(col, value), and_(col == value, tail))
    lead = columns[0] <= values[0] if descending else columns[0] >= values[0]
    return and_(lead, tail) if len(columns) > 1 else tail


def window(
    stmt: Select | Callable[[], Select],
    order: list[tuple],
    *,
    descending: bool = False,
    per_page: int = 50,
    cursor: str | None = None,
    page: int | None = None,
    with_total: bool = False,
    cursor_value=None,
    shape: tuple | None = None,
    params: dict | None = None,
) -> Window:
    """A page of `stmt` (a select of labelled columns) in the order of `order`: (column, row key)
    pairs whose last column is unique. After `cursor` (keyset: as fast on the last page as on the
    first), or by `page` number (an OFFSET, for clients that count pages). One statement, two when
    the total is asked for. `cursor_value(row)` gives the order values of a row when they are not
    columns of it by those keys.

    Prepared form: with `shape` (what the caller's filters look like, not their values), `stmt` is
    a function making a select whose values are bindparams named in `params`; the whole page query
    is then built once per shape and process, and each call only binds values. Building and hashing
    a statement cost several times the SQL of a page."""
    per_page = min(max(1, int(per_page)), MAX_PER_PAGE)
    columns = [c for c, _k in order]
    values = dict(params or {})
    if shape is None:
        base = stmt
        query = _page_query(base, columns, descending, cursor, page, per_page, values)
    else:
        key = (shape, tuple(map(str, columns)), descending, bool(cursor), page is not None)
        cached = _PREPARED.get(key)
        if cached is None:
            base = stmt()
            cached = _PREPARED[key] = (base, _page_query(base, columns, descending, cursor, page, None, None))
        base, query = cached
        _page_values(columns, cursor, page, per_page, values)
    total = None
    # Core execution (db.reading): a select of columns needs none of the ORM's per-statement work
    # (it was about a tenth of a list request), nor, in a read-only request, its session.
    with db.reading() as conn:
        if with_total:
            counted = select(func.count()).select_from(base.order_by(None).subquery())
            total = conn.execute(counted, values).scalar() or 0
        rows = conn.execute(query, values).all()
    next_cursor = None
    if len(rows) > per_page:
        rows = rows[:per_page]
        last = rows[-1]
        after = cursor_value(last) if cursor_value else [last._mapping[k] for _c, k in order]
        next_cursor = _encode_cursor(after)
    if page is not None and not cursor:
        page = min(max(1, int(page)), MAX_PAGE)
    return Window(rows, per_page, next_cursor, page=None if cursor else page, total=total)


_PREPARED: dict[tuple, tuple[Select, Select]] = {}


def _page_query(base, columns, descending, cursor, page, per_page, values):
    """The page query over `base`: order, limit, and the cursor's or page's bound. With per_page
    None it is built with bindparams (_pg_lim, _pg_off, _pg_k<i>) that _page_values fills."""
    prepared = per_page is None
    query = base.order_by(*(c.desc() if descending else c.asc() for c in columns))
    query = query.limit(bindparam("_pg_lim") if prepared else per_page + 1)
    if cursor:
        if prepared:
            bound = [bindparam(f"_pg_k{i}", type_=c.type) for i, c in enumerate(columns)]
        else:
            bound = _decode_cursor(cursor, columns)
        query = query.where(_after(columns, bound, descending))
    elif page is not None:
        if prepared:
            query = query.offset(bindparam("_pg_off"))
        else:
            query = query.offset((min(max(1, int(page)), MAX_PAGE) - 1) * per_page)
    return query


def _page_values(columns, cursor, page, per_page, values: dict) -> None:
    values["_pg_lim"] = per_page + 1
    if cursor:
        for i, v in enumerate(_decode_cursor(cursor, columns)):
            values[f"_pg_k{i}"] = v
    elif page is not None:
        values["_pg_off"] = (min(max(1, int(page)), MAX_PAGE) - 1) * per_page
