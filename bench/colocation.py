"""Capacity check of a colocation request on a large floor: 50 rooms x 40 racks x 42 U (2,000
racks), 20,000 active reservations of 1-4 U (about 50,000 occupied units), each rack on its own
A and B three-phase feeds (4,000 feeds), a 48-port switch per room, a /16 of addresses with 20,000
allocated, bulk-inserted (then `service.summary_rebuild` fills the racks' and feeds' capacity
summaries, as an import does).

For each backend (a temporary SQLite file, and PostgreSQL at 127.0.0.1:5432 when it answers, in a
database created and dropped here) it times, median of RUNS, for requests that fit (with ports and
addresses, and with power only) and one refused for space:
  - after:  `service.capacity_check`, which reads the racks' and feeds' summaries;
  - before: `service.capacity_check_scan`, which reads every rack, reservation and feed (the check
    as it was before the summaries), both giving the same answer (asserted);
  - the bare read of every active reservation's rack and units
    (`SELECT rack_id, u_start, u_count FROM colo_reservations WHERE status = 'active'`).

Run as root with no arguments: `python bench/colocation.py`. Figures (the slowest backend and case):
  figure: colo_capacity_check_ms = N ms          (after)
  figure: colo_capacity_check_scan_ms = N ms     (before)
  figure: colo_capacity_speedup = N x            (before / after, the smallest)
"""

from __future__ import annotations

import ipaddress
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text

import panel.models  # noqa: F401  (the core's tables)
from bench._common import sqlite_then_postgres
from panel import capabilities, db
from panel.capabilities.colocation import service as svc
from panel.capabilities.colocation.models import (
    AddressAllocation,
    ColoSite,
    PowerFeed,
    PowerPanel,
    Prefix,
    Rack,
    Reservation,
    Room,
    Switch,
    SwitchPort,
    UnitClaim,
)
from panel.db import Base
from panel.errors import Conflict
from panel.models.tenants import Organization, OrgKind

capabilities.load()

ROOMS, RACKS_PER_ROOM, HEIGHT, RESERVATIONS, ORGS = 50, 40, 42, 20_000, 200
RUNS, CHUNK, GOAL_MS = 15, 5_000, 50.0


def bulk(conn, model, rows) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(model), rows[i : i + CHUNK])


def populate(conn) -> None:
    rng = random.Random(19)
    bulk(
        conn,
        Organization,
        [{"id": i, "slug": f"m{i}", "name": f"M{i}", "kind": OrgKind.MINISTRY} for i in range(1, ORGS + 1)],
    )
    bulk(conn, ColoSite, [{"id": 1, "name": "DC1"}])
    bulk(conn, Room, [{"id": r, "site_id": 1, "name": f"Hall {r}"} for r in range(1, ROOMS + 1)])
    bulk(conn, PowerPanel, [{"id": r, "site_id": 1, "name": f"PP{r}"} for r in range(1, ROOMS + 1)])
    racks = [
        {"id": (r - 1) * RACKS_PER_ROOM + k, "room_id": r, "name": f"R{k:02}", "height_u": HEIGHT, "depth_mm": 1200}
        for r in range(1, ROOMS + 1) for k in range(1, RACKS_PER_ROOM + 1)
    ]  # fmt: skip
    feeds = []
    for rack in racks:  # each rack on its own A and B circuits (400 V, 32 A, three-phase: 17.7 kW at 80 %)
        rack["feed_a_id"], rack["feed_b_id"] = 2 * rack["id"] - 1, 2 * rack["id"]
        for side in (0, 1):
            feeds.append(
                {"id": 2 * rack["id"] - 1 + side, "panel_id": rack["room_id"], "name": f"{rack['name']}-{'AB'[side]}",
                 "phase": "three", "voltage": 400, "amperage": 32, "max_utilisation": 80}
            )  # fmt: skip
    bulk(conn, PowerFeed, feeds)
    bulk(conn, Rack, racks)
    bulk(conn, Switch, [{"id": r, "room_id": r, "name": f"SW{r}"} for r in range(1, ROOMS + 1)])
    bulk(
        conn,
        SwitchPort,
        [{"switch_id": r, "name": str(p), "speed_mbps": 1000, "medium": "copper"}
         for r in range(1, ROOMS + 1) for p in range(1, 49)],
    )  # fmt: skip
    net = ipaddress.ip_network("10.128.0.0/16")
    bulk(conn, Prefix, [{"id": 1, "site_id": 1, "cidr": str(net), "family": 4, "vlan": 300}])
    # 10 reservations per rack, 1-4 U each, packed from U1 up.
    res, units, addrs = [], [], []
    rid = 0
    per_rack = RESERVATIONS // len(racks)
    for rack in racks:
        u = 1
        for _ in range(per_rack):
            size = rng.randint(1, 4)
            if u + size - 1 > HEIGHT:
                break
            rid += 1
            res.append({"id": rid, "org_id": rng.randint(1, ORGS), "rack_id": rack["id"], "u_start": u,
                        "u_count": size, "max_w": 300, "typical_w": 200, "psus": 2, "ab_feeds": True,
                        "status": "active"})  # fmt: skip
            units += [{"rack_id": rack["id"], "u": x, "reservation_id": rid} for x in range(u, u + size)]
            addrs.append({"prefix_id": 1, "address": str(net.network_address + rid + 1), "org_id": 1,
                          "reservation_id": rid})  # fmt: skip
            u += size
    bulk(conn, Reservation, res)
    bulk(conn, UnitClaim, units)
    bulk(conn, AddressAllocation, addrs)
    print(f"  {len(racks)} racks, {len(res)} reservations, {len(units)} occupied units", flush=True)


def median_ms(fn) -> float:
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure() -> dict[str, float]:
    s = db.session()
    cases = {
        "fits": svc.Spec(u_count=2, max_w=400, psus=2, ab_feeds=True, ports=2, ipv4=2),
        "power_only": svc.Spec(u_count=4, max_w=400, psus=2, ab_feeds=True),
        "refused_space": svc.Spec(u_count=30, max_w=400),
    }
    out = {}
    for name, spec in cases.items():
        answers = {}
        for how, fn in (("scan", svc.capacity_check_scan), ("check", svc.capacity_check)):

            def check(spec=spec, fn=fn, how=how, answers=answers):
                try:
                    place = fn(s, 1, spec)
                    answers[how] = (place.rack_id, place.u_start)
                except Conflict as e:
                    answers[how] = (e.key, e.params)
                s.rollback()

            check()  # warm the statement cache
            out[f"{how}.{name}"] = median_ms(check)
        assert answers["scan"] == answers["check"], (name, answers)  # the summary answers as the full scan

    def bare():
        s.execute(
            select(Reservation.rack_id, Reservation.u_start, Reservation.u_count).where(Reservation.status == "active")
        ).all()
        s.rollback()

    bare()
    out["bare_reservations_read"] = median_ms(bare)
    return out


def run(label: str, url: str) -> dict[str, float]:
    t0 = time.perf_counter()
    db.configure(url)
    Base.metadata.create_all(db.engine())
    with db.engine().begin() as conn:
        populate(conn)
    print(f"{label}: floor inserted in {time.perf_counter() - t0:.1f} s", flush=True)
    t1 = time.perf_counter()
    with db.unit_of_work() as s:
        svc.summary_rebuild(s)
    db.remove()
    print(f"{label}: capacity summaries built in {time.perf_counter() - t1:.1f} s", flush=True)
    with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if db.engine().dialect.name == "postgresql" else "ANALYZE"))
    print(f"{label}: analysed, {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        s = db.session()
        place = svc.capacity_check(s, 1, svc.Spec(u_count=4, max_w=400, psus=2, ab_feeds=True))
        taken = s.scalars(
            select(UnitClaim.u).where(
                UnitClaim.rack_id == place.rack_id, UnitClaim.u.between(place.u_start, place.u_start + 3)
            )
        ).all()
        assert not taken and place.u_start + 3 <= HEIGHT, (place, taken)  # the answer is a real free run
        s.rollback()
        res = measure()
    finally:
        db.remove()
        db.engine().dispose()
    print(f"{label}: measured in {time.perf_counter() - t0:.1f} s", flush=True)
    for key, ms in res.items():
        print(f"  {label:10s} {key:28s} {ms:8.2f} ms")
    return res


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-colo-"))
    try:
        results = {label: run(label, url) for label, url in sqlite_then_postgres(tmp)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    after = max(v for r in results.values() for k, v in r.items() if k.startswith("check."))
    before = max(v for r in results.values() for k, v in r.items() if k.startswith("scan."))
    cases = ("fits", "power_only", "refused_space")
    speedup = min(r[f"scan.{case}"] / r[f"check.{case}"] for r in results.values() for case in cases)
    print(f"goal: at most {GOAL_MS:.0f} ms ({'met' if after <= GOAL_MS else 'NOT met'})")
    print(f"figure: colo_capacity_check_ms = {after:.1f} ms")
    print(f"figure: colo_capacity_check_scan_ms = {before:.1f} ms")
    print(f"figure: colo_capacity_speedup = {speedup:.1f} x")


if __name__ == "__main__":
    main()
