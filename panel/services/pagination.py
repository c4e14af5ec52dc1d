"""Pages of results: one count query and one page query, whatever the size of the table."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from panel import db

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
