"""The monthly statement of a ministry's colocation: every reservation it held during the month
(units, contracted power, ports, addresses, cross-connects, VLANs, and the days it held them that month),
and every visit to the data center on its passes. A ministry reads its own; DC staff read any."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from panel import db
from panel.capabilities.colocation.models import ColoSite, Rack, Reservation, Room, Visit, VisitorPass
from panel.errors import Invalid
from panel.services import tenants
from panel.services.actor import Actor

MONTH = re.compile(r"^(20\d\d)-(0[1-9]|1[0-2])$")
MAX_VISITS = 1000  # listed one by one; more are counted in the totals
DAY = 86400


@dataclass(frozen=True)
class Line:
    reservation_id: int
    label: str
    site: str
    room: str
    rack: str
    u_start: int
    u_count: int
    max_w: int
    ports: int
    addresses: int
    cross_connects: int
    vlan: int | None  # the VID granted
    held_from: dt.datetime
    held_until: dt.datetime  # the month's end while still held
    days: float
    released: bool


@dataclass(frozen=True)
class VisitLine:
    pass_id: int
    full_name: str
    company: str
    checked_in_at: dt.datetime
    checked_out_at: dt.datetime | None
    hours: float | None


@dataclass(frozen=True)
class Statement:
    org_id: int
    organization: str
    month: str
    start: dt.datetime
    end: dt.datetime
    lines: list[Line]
    visits: list[VisitLine]
    visit_count: int

    @property
    def units(self) -> int:
        return sum(x.u_count for x in self.lines)

    @property
    def contracted_w(self) -> int:
        return sum(x.max_w for x in self.lines)

    @property
    def ports(self) -> int:
        return sum(x.ports for x in self.lines)

    @property
    def addresses(self) -> int:
        return sum(x.addresses for x in self.lines)

    @property
    def cross_connects(self) -> int:
        return sum(x.cross_connects for x in self.lines)

    @property
    def vlans(self) -> list[int]:
        return sorted({x.vlan for x in self.lines if x.vlan})

    @property
    def unit_days(self) -> float:
        return round(sum(x.u_count * x.days for x in self.lines), 2)

    @property
    def visitor_hours(self) -> float:
        return round(sum(v.hours or 0 for v in self.visits), 2)


def month_bounds(month: str | None) -> tuple[str, dt.datetime, dt.datetime]:
    """ "2026-12" -> its first instant and the next month's (UTC); None: the current month."""
    if not month:
        month = db.utcnow().strftime("%Y-%m")
    m = MONTH.match(str(month).strip())
    if not m:
        raise Invalid("colocation.month_invalid", "Give the month as YYYY-MM, e.g. 2026-12.", field="month")
    year, mon = int(m.group(1)), int(m.group(2))
    start = dt.datetime(year, mon, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=dt.UTC)
    return m.group(0), start, end


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def statement_get(actor: Actor, *, org_id, month: str | None = None) -> Statement:
    """The ministry's statement for the month (YYYY-MM; the current month by default)."""
    month, start, end = month_bounds(month)
    with db.unit_of_work() as s:
        org = tenants.org_get(actor, org_id)  # NotFound for another ministry
        rows = s.execute(
            select(Reservation, Rack.name, Room.name, ColoSite.name)
            .join(Rack, Rack.id == Reservation.rack_id)
            .join(Room, Room.id == Rack.room_id)
            .join(ColoSite, ColoSite.id == Room.site_id)
            .where(
                Reservation.org_id == org.id,
                Reservation.created_at < end,
                or_(Reservation.released_at.is_(None), Reservation.released_at >= start),
            )
            .order_by(Reservation.id)
        ).all()
        lines = []
        for r, rack, room, site in rows:
            held_from = max(start, _utc(r.created_at))
            held_until = min(end, _utc(r.released_at)) if r.released_at else end
            lines.append(
                Line(
                    r.id,
                    r.label,
                    site,
                    room,
                    rack,
                    r.u_start,
                    r.u_count,
                    r.max_w,
                    r.ports,
                    r.addresses,
                    r.cross_connects,
                    r.vlan_vid,
                    held_from,
                    held_until,
                    round(max(0.0, (held_until - held_from).total_seconds()) / DAY, 2),
                    r.released_at is not None and r.released_at < end,
                )
            )
        visits_q = (
            select(Visit, VisitorPass.full_name, VisitorPass.company)
            .join(VisitorPass, VisitorPass.id == Visit.pass_id)
            .where(Visit.org_id == org.id, Visit.checked_in_at >= start, Visit.checked_in_at < end)
        )
        count = s.scalar(select(func.count()).select_from(visits_q.subquery())) or 0
        visits = [
            VisitLine(
                v.pass_id,
                name,
                company,
                _utc(v.checked_in_at),
                _utc(v.checked_out_at) if v.checked_out_at else None,
                round((v.checked_out_at - v.checked_in_at).total_seconds() / 3600, 2) if v.checked_out_at else None,
            )
            for v, name, company in s.execute(visits_q.order_by(Visit.checked_in_at, Visit.id).limit(MAX_VISITS))
        ]
        return Statement(org.id, org.name, month, start, end, lines, visits, count)
