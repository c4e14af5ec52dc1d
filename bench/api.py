"""The API's big lists against a bare Flask endpoint on the same stack, in one run.

PostgreSQL (127.0.0.1:5432, a throwaway database made and dropped here) with 10,000 sites, 50,000
mailboxes (20,000 in one domain) and 100,000 audit entries (bench/lists.py's data). `govhost serve
--workers 4` (the product: gunicorn, 4 sync workers, access log on) answers
`GET /api/v1/sites?per_page=50` and `GET /api/v1/mail/domains/1/mailboxes?per_page=50` with a read
token of a staff admin; a bare Flask app (bench/baselines/bare_flask.py) under the same gunicorn settings
answers the very SELECT the API sent for the same page, with one psycopg2 connection per worker.
`wrk -t2 -c16` loads each in turn, alternating in ABBA order, ROUNDS rounds of SECONDS each; every
response must be a 200. The ratio is the API's requests over the bare app's, summed over the rounds
of this run (the machine is shared: absolute numbers are noisy, the ratio within one run is the
figure; the median CPU-ms per request of each side is printed beside it as a check).

Also measured in-process: the statements one request sends once its token is cached (a
before_cursor_execute hook; reads run in autocommit, so the driver adds no BEGIN/COMMIT), the page
query against its serialization (marshmallow with the documented schema vs the plain dump the
endpoint uses), and the CPU time of each server's processes per request.

Run as root with no arguments: `python bench/api.py`. Figures:
  figure: api_vs_bare_flask_ratio = N %
  figure: api_sites_roundtrips = N
  figure: api_mailboxes_vs_bare_flask_ratio = N %
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The bench folder holds dns.py, which would shadow dnspython: the repository root goes first instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT))

import psycopg2
import yaml
from sqlalchemy import create_engine, event, text

from bench._common import PG_ADMIN, scratch_postgres
from panel import db, security
from panel.config import Settings
from panel.db import Base
from panel.models.users import ApiToken, TokenScope
from tests.conftest import settings_dict

WORKERS, THREADS, CONNECTIONS = 4, 2, 16
# Short slices, many of them, in ABBA order (API first in odd rounds, the bare app first in even
# ones): the machine is shared, and another person's load that lasts a 10 s round fell on one side
# only (per-round ratios of 66-142 % in one run); 3 s slices alternated 10 times put it on both.
ROUNDS, SECONDS, WARM_SECONDS = 10, 3, 2
PER_PAGE = 50
LISTS = {  # name -> API path (page 1)
    "sites": f"/api/v1/sites?per_page={PER_PAGE}",
    "mailboxes": f"/api/v1/mail/domains/1/mailboxes?per_page={PER_PAGE}",
}
T0 = time.perf_counter()


def stage(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f} s] {msg}", flush=True)


def _lists_module():
    spec = importlib.util.spec_from_file_location("bench_lists", BENCH / "lists.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, headers: dict, proc: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            req = urllib.request.Request(url, headers=headers)  # noqa: S310  http://127.0.0.1 only
            with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310
                assert r.status == 200, r.status
                return json.loads(r.read())
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server for {url} exited ({proc.returncode})") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.3)


def tree(pid: int) -> set[int]:
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def cpu_ms(pids: set[int]) -> float:
    ticks = 0
    for p in pids:
        try:
            f = (Path(f"/proc/{p}/stat")).read_text().rsplit(")", 1)[1].split()
            ticks += int(f[11]) + int(f[12])  # utime + stime
        except (OSError, IndexError):
            pass
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def wrk(url: str, headers: dict, seconds: int) -> dict:
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    if bad or errors:
        raise SystemExit(f"{url}: not all answers were 200\n{out}")
    return {"rps": rps, "requests": total, "p50": p50}


def in_process(settings: Settings, token: str) -> tuple[dict, dict]:
    """Statements per request (token cached) and the SQL of each page; query vs dump timings."""
    from panel.api.common import plain_dumper
    from panel.app import create_app
    from panel.capabilities.sites.api import SiteListItemSchema
    from panel.capabilities.sites.service import site_window
    from panel.models.users import User
    from panel.services.actor import actor_for_user

    app = create_app(settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    counts, sql = {}, {}
    for name, path in LISTS.items():
        for _ in range(3):
            r = client.get(path, headers=headers)
            assert r.status_code == 200 and len(r.get_json()["items"]) == PER_PAGE, r.get_data()[:300]
        sent = []

        def hook(conn, cursor, statement, parameters, context, executemany, sent=sent):
            sent.append((statement, parameters))

        event.listen(db.engine(), "before_cursor_execute", hook)
        try:
            client.get(path, headers=headers)
        finally:
            event.remove(db.engine(), "before_cursor_execute", hook)
        counts[name] = len(sent)
        for statement, _p in sent:
            stage(f"  {name}: {' '.join(statement.split())[:160]}")
        raw = psycopg2.connect(settings.database.url.replace("postgresql+psycopg2", "postgresql"))
        with raw.cursor() as cur:
            # The page query with its values; the API asks one row more (is there a next page?).
            sql[name] = re.sub(rf"LIMIT {PER_PAGE + 1}\b", f"LIMIT {PER_PAGE}", cur.mogrify(*sent[-1]).decode())
        raw.close()

    # Query vs serialization, 50 sites, median of 200.
    with app.app_context():
        with db.unit_of_work() as s:
            actor = actor_for_user(s.get(User, 1), surface="api")
        db.read_only_session()

        def median_us(fn, n=200):
            fn()
            times = []
            for _ in range(n):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            return sorted(times)[n // 2] * 1e6

        win = site_window(actor, per_page=PER_PAGE)
        mapped = [r._mapping for r in win.items]
        schema, plain = SiteListItemSchema(many=True), plain_dumper(SiteListItemSchema)
        assert schema.dump(mapped) == plain(win.items)
        query_us = median_us(lambda: site_window(actor, per_page=PER_PAGE))
        mm_us = median_us(lambda: schema.dump(mapped))
        plain_us = median_us(lambda: plain(win.items))
        json_us = median_us(lambda: json.dumps({"items": plain(win.items)}, separators=(",", ":")))
        db.remove()
    stage(
        f"  50 sites in-process: page query {query_us:.0f} us; marshmallow dump {mm_us:.0f} us; "
        f"plain dump {plain_us:.0f} us ({mm_us / plain_us:.1f}x less); plain dump + JSON {json_us:.0f} us"
    )
    return counts, sql


def serve_api(cfg: Path, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "panel.cli.main", "--config", str(cfg), "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", str(WORKERS)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, port


def serve_bare(env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    gunicorn = shutil.which("gunicorn", path=env["PATH"]) or "gunicorn"
    # The same gunicorn settings as `govhost serve` (panel/cli/serve.py).
    proc = subprocess.Popen(
        [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "--access-logfile", "-",
         "--no-control-socket", "--chdir", str(BENCH / "baselines"), "bare_flask:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            for p in tree(proc.pid):
                os.kill(p, signal.SIGKILL)
            proc.wait()


def run(url: str, tmp: Path) -> dict:
    raw = settings_dict(tmp, url)
    raw["web"]["page_size"] = PER_PAGE
    settings = Settings.from_dict(raw)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    stage("schema created; inserting 10,000 sites, 50,000 mailboxes, 100,000 audit entries")
    with engine.begin() as conn:
        _lists_module().populate(conn)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    token = security.new_token()
    with engine.begin() as conn:
        conn.execute(
            ApiToken.__table__.insert().values(
                user_id=1, name="bench", prefix=token[:10], token_hash=security.token_digest(token),
                scope=TokenScope.READ, expires_at=db.utcnow() + dt.timedelta(days=1),
            )
        )  # fmt: skip
    engine.dispose()
    stage("data in; counting statements in-process")
    from panel.boot import boot

    boot(settings)
    counts, sql = in_process(settings, token)
    db.remove()
    db.engine().dispose()

    cfg = tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT))
    env["BARE_DSN"] = url.replace("postgresql+psycopg2", "postgresql")
    for name, q in sql.items():
        env[f"BARE_SQL_{name.upper()}"] = q
    headers = {"Authorization": f"Bearer {token}"}
    api, api_port = serve_api(cfg, env)
    bare, bare_port = serve_bare(env)
    results: dict = {}
    try:
        urls = {}
        for name, path in LISTS.items():
            urls[("api", name)] = f"http://127.0.0.1:{api_port}{path}"
            urls[("bare", name)] = f"http://127.0.0.1:{bare_port}/bare/{name}"
        for (who, _name), u in urls.items():
            body = wait_http(u, headers, api if who == "api" else bare)
            assert len(body["items"]) == PER_PAGE, (u, len(body["items"]))
        stage(f"govhost serve (pid {api.pid}) and the bare app (pid {bare.pid}) answer 50 items each")
        pids = {"api": tree(api.pid), "bare": tree(bare.pid)}
        for u in urls.values():
            wrk(u, headers, WARM_SECONDS)
        for rnd in range(1, ROUNDS + 1):
            for name in LISTS:
                for who in ("api", "bare") if rnd % 2 else ("bare", "api"):
                    before = cpu_ms(pids[who])
                    r = wrk(urls[(who, name)], headers, SECONDS)
                    r["cpu_ms_per_req"] = (cpu_ms(pids[who]) - before) / max(1, r["requests"])
                    results.setdefault((who, name), []).append(r)
                    stage(
                        f"round {rnd} {name:9s} {who:4s}: {r['rps']:8.1f} req/s, p50 {r['p50']:>8s}, "
                        f"{r['cpu_ms_per_req']:.2f} CPU-ms/req ({1 / max(r['cpu_ms_per_req'], 1e-9):.2f} req/CPU-ms)"
                    )
    finally:
        stop(api)
        stop(bare)
    stage("servers stopped")
    return {"counts": counts, "results": results}


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk; scripts/setup installs it)")
    tmp = Path(tempfile.mkdtemp(prefix="govhost-bench-api-"))
    try:
        with scratch_postgres(PG_ADMIN, "govhost_bench_api") as url:
            stage(f"database {url.rsplit('/', 1)[1]} created")
            out = run(url, tmp)
        stage("database dropped")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = out["results"]
    ratio = {}
    for name in LISTS:
        api = sum(r["requests"] for r in res[("api", name)])
        bare = sum(r["requests"] for r in res[("bare", name)])
        per_round = [a["rps"] / b["rps"] * 100 for a, b in zip(res[("api", name)], res[("bare", name)], strict=True)]
        ratio[name] = api / bare * 100
        stage(f"{name}: API {api} vs bare {bare} requests; per round " + ", ".join(f"{p:.0f} %" for p in per_round))
        # CPU per request moves far less with the machine's load than throughput: the check on the ratio.
        cpu = {w: sorted(r["cpu_ms_per_req"] for r in res[(w, name)])[ROUNDS // 2] for w in ("api", "bare")}
        stage(
            f"{name}: median CPU per request API {cpu['api']:.2f} ms, bare {cpu['bare']:.2f} ms "
            f"(bare/API {cpu['bare'] / cpu['api'] * 100:.0f} %)"
        )
    print(f"figure: api_vs_bare_flask_ratio = {ratio['sites']:.0f} %")
    print(f"figure: api_sites_roundtrips = {out['counts']['sites']}")
    print(f"figure: api_mailboxes_vs_bare_flask_ratio = {ratio['mailboxes']:.0f} %")


if __name__ == "__main__":
    main()
