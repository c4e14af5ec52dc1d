"""The SOC feed's two figures (issue 20), against a real rsyslog (rsyslog-gnutls, RFC 5425 TLS with
client certificates) on loopback, on the embedded default (SQLite), in one run:

1. Delivery latency from the action to the receiver: N successful logins through the web login
   page (Flask test client, the real view), each an `auth.login` audit entry; the latency of one is
   rsyslog's receive time (`timegenerated`, microseconds, same clock) minus the entry's
   `@timestamp` (taken inside the login's transaction, before its commit). The shipper is the
   product's own process, `govhost soc ship`. Baseline in the same run: the transport alone (one
   event sent straight over TLS by the same code, timed the same way), so the figure's overhead
   over the wire is visible. Goal: p99 <= 1 s.
2. Login latency with the SIEM unreachable vs reachable: rounds alternate between rsyslog running
   and stopped (the shipper then fails to connect and backs off while the backlog grows; after a
   down round the SIEM comes back and the backlog drains before the next up round). The figure is
   the median login time while down over the median while up. Goal: ratio <= 1.05.
Afterwards every event must have arrived, in order after dropping repeats (the run fails otherwise).

Run as root with no arguments: `python bench/soc.py`. Figures:
  figure: soc_delivery_p99_s = N s
  figure: soc_siem_down_latency_ratio = N x
"""

from __future__ import annotations

import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT))

import yaml

from panel import capabilities, db

capabilities.load()

from bench._common import boot_fresh
from panel.capabilities.soc import catalogue, ship, transports
from panel.capabilities.soc import service as soc_svc
from panel.config import Settings
from panel.models.tenants import OrgKind, Role
from panel.services.actor import system_actor
from tests.capabilities.soc.siem import Rsyslog, available, make_pki
from tests.conftest import settings_dict
from tests.support import factories

N_DELIVERY = 120
N_BASELINE = 30
ROUNDS, PER_ROUND = 3, 12
T0 = time.perf_counter()


def stage(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", flush=True)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop rsyslogd and the shipper
    missing = available()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-soc-"))
    url = f"sqlite:///{tmp / 'govhost.db'}"
    raw = settings_dict(tmp, url)
    raw["web"]["secure_cookies"] = False
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    settings = boot_fresh(Settings.load(config))
    stage(f"database {url}, config {config}")

    pki = make_pki(tmp / "pki")
    siem = Rsyslog(tmp / "siem", pki)
    siem.start()
    stage(f"rsyslogd (gtls, x509/certvalid) on {siem.target}")

    dc = factories.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    factories.make_user(Role.ADMIN, dc, username="socadmin")
    ministry = factories.make_org("Ministry of Posts", slug="mpt")
    factories.make_user(Role.WEBMASTER, ministry, username="alice")
    admin = system_actor("cli", "bench")
    dest = soc_svc.destination_create(
        admin,
        data=soc_svc.DestinationIn(
            "siem",
            "syslog_tls",
            siem.target,
            ca_file=str(pki.ca),
            client_cert=str(pki.client_cert),
            client_key=str(pki.client_key),
            server_name="localhost",
            start="all",
        ),
    )
    dest_id = dest.id
    log = open(tmp / "ship.log", "w")  # noqa: SIM115 (the shipper writes to it until the end)
    shipper = subprocess.Popen(
        [sys.executable, "-m", "panel.cli.main", "--config", str(config), "soc", "ship"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    try:
        siem.wait_for(ship.head_seq(), timeout=60)
        stage("shipper (govhost soc ship) delivering")
        from panel.app import create_app

        app = create_app(settings)
        app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)

        def login() -> float:
            client = app.test_client()  # a new browser: no session yet
            t = time.perf_counter()
            r = client.post("/login", data={"username": "alice", "password": factories.PASSWORD})
            elapsed = time.perf_counter() - t
            assert r.status_code == 302 and "/login" not in r.headers["Location"], r.status_code
            return elapsed

        for _ in range(5):
            login()  # warm up (imports, argon2, caches)

        # ---- 1. delivery latency -------------------------------------------------------------
        baseline = []
        target = ship.next_batch(dest_id)[0]
        siem.wait_for(ship.head_seq(), timeout=60)  # the warm-up logins are delivered first
        latest = soc_svc.events_recent(admin, limit=1)[0]
        # A copy marked as the baseline's (sequence -1), so the completeness check below skips it.
        event = {
            **latest,
            "event": {**latest["event"], "code": "govhost.bench.baseline", "sequence": -1},
            "govhost": {**latest["govhost"], "audit": {**latest["govhost"]["audit"], "seq": -1}},
        }
        for _ in range(N_BASELINE):
            before = len(siem.received())
            sent_at = time.time()
            transports.send_syslog_tls(target, [event])
            while len(got := siem.received()) <= before:
                time.sleep(0.002)
            baseline.append(got[-1].received_at - sent_at)
            time.sleep(random.uniform(0, 0.05))
        stage(f"baseline: the transport alone, {N_BASELINE} events: p99 {p99(baseline):.4f} s")

        latencies = []
        for _ in range(N_DELIVERY):
            login()
            seq = ship.head_seq()
            got = siem.wait_for(seq, timeout=30)
            r = next(r for r in reversed(got) if r.event["event"]["sequence"] == seq)
            created = catalogue_time(r.event["@timestamp"])
            latencies.append(r.received_at - created)
            time.sleep(random.uniform(0, 0.1))
        stage(
            f"delivery of {N_DELIVERY} logins: p50 {statistics.median(latencies):.3f} s, "
            f"p99 {p99(latencies):.3f} s, max {max(latencies):.3f} s"
        )

        # ---- 2. login latency, SIEM up vs down ------------------------------------------------
        up, down = [], []
        for rnd in range(ROUNDS):
            up += [login() for _ in range(PER_ROUND)]
            siem.stop()
            time.sleep(0.5)
            down += [login() for _ in range(PER_ROUND)]
            h = soc_svc.destination_get(admin, dest_id)
            stage(f"round {rnd + 1}: SIEM down, destination {h.state}, backlog {h.backlog}")
            siem.start()
            siem.wait_for(ship.head_seq(), timeout=60)
            stage(f"round {rnd + 1}: SIEM back, backlog delivered")
        ratio = statistics.median(down) / statistics.median(up)
        stage(
            f"login median: reachable {statistics.median(up) * 1000:.1f} ms, "
            f"unreachable {statistics.median(down) * 1000:.1f} ms ({len(up)} + {len(down)} logins)"
        )

        # ---- completeness ----------------------------------------------------------------------
        last = ship.head_seq()
        got = siem.wait_for(last, timeout=60)
        seen, events = set(), []
        for r in got:
            s = r.event["event"]["sequence"]
            if s > 0 and s not in seen:
                seen.add(s)
                events.append(r.event)
        first = events[0]["event"]["sequence"]
        if [e["event"]["sequence"] for e in events] != list(range(first, last + 1)):
            raise SystemExit("events were lost or reordered")
        problems = catalogue.check_sequence(events)
        if problems:
            raise SystemExit("; ".join(problems))
        repeats = sum(1 for r in got if r.event["event"]["sequence"] > 0) - len(events)
        stage(f"all {len(events)} events arrived in order ({repeats} repeats dropped)")
    finally:
        shipper.send_signal(signal.SIGTERM)
        shipper.wait(30)
        log.close()
        siem.stop()
        db.remove()
    print(f"figure: soc_delivery_p99_s = {p99(latencies):.3f} s")
    print(f"figure: soc_siem_down_latency_ratio = {ratio:.3f} x")
    return 0


def catalogue_time(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    sys.exit(main())
