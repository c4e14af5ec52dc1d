"""Shared fixtures: settings, a real database (SQLite, or PostgreSQL with GOVHOST_TEST_DATABASE),
the app, clients for each surface, and actors.

Tables are created once per session and emptied after each test, because services commit their own
transactions (and workers run in other threads and processes), so a per-test rollback cannot work.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import pytest
from alembic import command
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import create_engine, text

import panel.models  # noqa: F401  (the core's tables)
from panel import capabilities, db, security
from panel.config import Settings
from panel.db import Base
from panel.services import schema
from provisioners.lab import common as lab_net
from provisioners.lab.common import lab_paths
from tests.support import factories

capabilities.load()  # every enabled capability's tables, kinds and jobs

# Passwords and recovery codes hashed with argon2id's cheapest parameters: the panel's RFC 9106
# profile costs 0.16 s of CPU per hash or login, a third of the CPU of the auth tests and 44 logins'
# worth in the hostile-input walk. Verification reads the parameters from each hash, so the same code
# paths run; tests/auth/test_password_profile.py checks the panel's own profiles and the rehash.
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
security.use_hasher(TEST_HASHER)

# Session fixtures that tests in several folders share must be defined once: a fixture imported into
# another module is a second fixture with its own session instance.
pytest_plugins = ("tests.capabilities.mail.lab_session",)

PG_URL = os.environ.get("GOVHOST_TEST_DATABASE", "")


def settings_dict(tmp: Path, db_url: str) -> dict:
    return {
        "secret_key": "test-secret-key-0123456789",
        "data_dir": str(tmp / "data"),
        "secret_keys": ["b1Zp3m3yBq0P6p0l0S8v0Qh1nE4m2g1yX9cD2z0yR5E=", "Hj3q2bE3nYh1o0k7Hn9m6rW4aQ1f5Xc8Zt2vN0pL3sA="],
        "database": {"url": db_url},
        "queue": {
            "backend": "sqlite",
            "sqlite_path": str(tmp / "queue.db"),
            "redis_url": "redis://127.0.0.1:6379/15",
            "workers": 2,
            "sweep_s": 5,
            "lease_s": 20,
            "drain_s": 60,
        },
        "web": {"session_minutes": 30, "secure_cookies": False, "default_locale": "en", "page_size": 20},
        "auth": {
            "max_failures_per_account": 5,
            "max_failures_per_address": 20,
            "failure_window_minutes": 15,
            "lockout_minutes": 15,
            "staff_require_2fa": True,
            "token_max_days": 365,
        },
        "smtp": {
            "host": "",
            "port": 25,
            "sender": "govhost@test.invalid",
            "starttls": False,
            "username": "",
            "password": "",
        },
        "ansible": {
            "timeout_s": 300,
            "forks": 10,
            "ssh_key": str(tmp / "id_ed25519"),
            "control_dir": str(lab_paths().cp),
        },
        "network": {"source_network": str(lab_net.SUBNET), "source_address": lab_net.GATEWAY},
        # The capabilities' sections (dns, sites, mail...) take their defaults; tests that need
        # other values replace them (dataclasses.replace(settings, dns=...)).
        "lab": {
            "dir": os.environ.get("GOVHOST_LAB_DIR", "/var/cache/govhost/lab"),
            "demo_host": "",
            "demo_address": "",
        },
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    if PG_URL:
        # A fresh database per session so parallel runs and earlier crashes cannot interfere.
        name = f"govhost_test_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        yield url
        db.remove()
        if db._engine is not None:
            db._engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'govhost.db'}"


@pytest.fixture(scope="session")
def _schema(database_url):
    engine = create_engine(database_url)
    Base.metadata.create_all(engine)
    # Stamped at the migrations' head, as `govhost db upgrade` leaves a real database (/readyz checks it).
    cfg = schema.alembic_config_for(engine)
    command.stamp(cfg, "head")
    engine.dispose()
    return database_url


@pytest.fixture
def settings(tmp_path, _schema) -> Settings:
    return Settings.from_dict(settings_dict(tmp_path, _schema))


@pytest.fixture
def booted(settings):
    """The process configured like a running panel (database, keys, queue); tables emptied after."""
    from panel.boot import boot

    boot(settings)
    yield settings
    db.remove()
    _truncate()


_TABLES: list[str] = []


def _truncate() -> None:
    """Empty every table. On PostgreSQL a DELETE per table and a restart of the sequences that were
    used: TRUNCATE of ~90 tables took 0.3-1.2 s per test (new files for each table), a third of the
    PostgreSQL pass; the DELETEs of mostly empty tables take milliseconds. They go straight to the
    driver's cursor, on PostgreSQL all in one round trip: 69 statements through SQLAlchemy's text()
    cost about 3 ms of CPU per test on SQLite and 7 ms (40 ms wall) on PostgreSQL; now under 1 ms and
    about 1 ms (15 ms wall)."""
    if len(_TABLES) != len(Base.metadata.tables):  # children before parents (SQLite checks the keys)
        _TABLES[:] = [t.name for t in reversed(Base.metadata.sorted_tables)]
    engine = db.engine()
    with engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        try:
            if engine.dialect.name != "postgresql":
                for t in _TABLES:
                    cur.execute(f'DELETE FROM "{t}"')  # noqa: S608  table names from our own metadata
                return
            # No FK triggers (any order), every table in one round trip.
            deletes = "".join(f'DELETE FROM "{t}";' for t in _TABLES)  # noqa: S608  (as above)
            cur.execute("SET LOCAL session_replication_role = replica;" + deletes)
            cur.execute(
                "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences "
                "WHERE last_value IS NOT NULL"
            )
            used = [row[0] for row in cur.fetchall()]
            if used:
                cur.execute("SELECT " + ", ".join(f"setval('{q}', 1, false)" for q in used))
        finally:
            cur.close()


_APPS: dict = {}


@pytest.fixture
def app(booted):
    """The app, built once per set of plugged capabilities and web settings and re-configured from
    each test's settings: building it (about 290 URL rules compiled, the OpenAPI document) took
    0.9 s of CPU, a third of a surface test. Tests that need a fresh factory run call create_app."""
    from panel.app import configure, create_app

    key = (tuple(p.manifest.name for p in capabilities.plugged()), booted.web, booted.secret_key)
    cached = _APPS.get(key)
    if cached is None:
        app = create_app(booted)
        app.config.update(TESTING=True)
        _APPS[key] = (app, dict(app.config))
        return app
    app, pristine = cached
    app.config.clear()
    app.config.update(pristine)
    configure(app, booted)
    # As the factory's boot did: rows the test's fixtures made leave this thread's session, so a
    # request's rollback (same thread in the test client) cannot expire them under the test.
    db.remove()
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def csrf_off(app):
    """For tests of form logic only; CSRF itself is tested with it on."""
    app.config["WTF_CSRF_ENABLED"] = False
    return app


def _plain(value):
    """Settings as YAML can write them: tuples (secret_keys, nameservers...) become lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


@pytest.fixture
def cli(booted, tmp_path):
    """Invoke `govhost ...` in-process against the test database (the config file is written out)."""
    import yaml

    from panel.cli.main import cli as root

    cfg = tmp_path / "config.yaml"
    # The test's own settings (lab key, queue backend...), so the CLI boots the process the same way.
    raw = _plain(dataclasses.asdict(booted))
    raw.pop("source")
    cfg.write_text(yaml.safe_dump(raw))
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(root, ["--config", str(cfg), *args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def make(booted):
    return factories


# ---- the rule: no network I/O while a database transaction is open -------------------------------


class NetworkInTransaction(AssertionError):
    """A socket was used while this thread's panel session held a database transaction."""


def _literal_address(host) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return str(host).lower() in ("localhost", "")
    return True


@pytest.fixture(autouse=True)
def fresh_log_context():
    """Every test starts with no request or trace id in the log context: a test that claims a job
    directly (runner.claim, outside a worker's job_context) leaves the job's trace id set, and a later
    test of the log lines would read it as its own."""
    from panel import logs

    token = logs.request_id.set("")
    yield
    logs.request_id.reset(token)


@pytest.fixture(autouse=True)
def no_network_in_transaction(monkeypatch):
    """Every test: connecting, sending a datagram or resolving a name while the panel's session has a
    transaction open fails the test (a DNS, SSH, HTTP or SMTP call would hold the database, and on
    SQLite the write lock, for as long as the network takes). Unix sockets are local and allowed."""
    import socket
    import traceback

    seen: list[str] = []

    def check(what: str, family=None) -> None:
        if family == socket.AF_UNIX or not db.transaction_open():
            return
        where = "".join(traceback.format_stack(limit=12)[:-2])
        message = f"{what} while a database transaction is open:\n{where}"
        if message not in seen:
            seen.append(message)
        raise NetworkInTransaction(message)

    def wrap(name):
        original = getattr(socket.socket, name)

        def guarded(sock, *args, **kwargs):
            check(f"socket.{name}{args[-1:]!r}", sock.family)
            return original(sock, *args, **kwargs)

        monkeypatch.setattr(socket.socket, name, guarded)

    for name in ("connect", "connect_ex", "sendto", "sendmsg"):
        wrap(name)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if not _literal_address(host):
            check(f"getaddrinfo({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    if seen:
        pytest.fail("network I/O inside a database transaction:\n" + "\n".join(seen), pytrace=False)


# ---- the gate: in CI nothing may skip ------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """Tests marked `windows_host` need a real Windows Server (docs/windows.md, ladder rung 4). Without
    GOVHOST_WINDOWS_HOST they are deselected here, not skipped: the gate fails on any skip, and CI has
    no Windows host, so CI never runs them (README)."""
    if os.environ.get("GOVHOST_WINDOWS_HOST"):
        return
    gated = [item for item in items if item.get_closest_marker("windows_host")]
    if gated:
        config.hook.pytest_deselected(items=gated)
        items[:] = [item for item in items if not item.get_closest_marker("windows_host")]


# ---- markers: a test that starts lab hosts or Chromium says so ----------------------------------
# The gate's SQLite pass runs `-m "not lab and not browser"`: a test that starts lab hosts or
# Chromium without its marker would run there (twice the cost) or be missed. So the start itself
# checks the marker of the test it runs for (session fixtures start for the first test that asks).

_running: list[pytest.Item] = []


_cpu: list[tuple[float, str]] = []  # (CPU seconds, test id): the costliest are listed at the end


def _cpu_now() -> float:
    t = os.times()  # this process and its waited-for children (ansible-playbook, ssh, the CLI...)
    return t.user + t.system + t.children_user + t.children_system


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running.append(item)
    start = _cpu_now()
    try:
        return (yield)
    finally:
        _running.pop()
        _cpu.append((_cpu_now() - start, item.nodeid))


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session, shared by tests/browser and the newcomer test:
    Playwright's sync API runs one instance per thread, so a second sync_playwright() while this one
    lives fails ("using Playwright Sync API inside the asyncio loop")."""
    from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS

    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    require_marker("browser", "starts Chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


def require_marker(marker: str, what: str) -> None:
    """Fail the running test unless it carries `marker` (call where lab hosts / Chromium start)."""
    item = _running[-1] if _running else None
    if item is not None and item.get_closest_marker(marker) is None:
        pytest.fail(
            f"{item.nodeid} {what} but is not marked `{marker}` (add `pytestmark = pytest.mark.{marker}`)",
            pytrace=False,
        )


def _check_lab_starts() -> None:
    """Every way to start lab hosts (hosts_up, and host_reset through it) checks the marker first."""
    import provisioners.lab
    from provisioners.lab import hosts

    hosts_up = hosts.hosts_up

    def checked(*args, **kwargs):
        require_marker("lab", "starts lab hosts")
        return hosts_up(*args, **kwargs)

    hosts.hosts_up = provisioners.lab.hosts_up = checked


_check_lab_starts()


def pytest_collection_finish(session):
    """A clear start: when a lab address a suite needs is held by another running lab host (someone
    else's session, the demo), stop now with one line, not with errors deep in every fixture."""
    lab_paths = {Path(item.nodeid.split("::")[0]).parts for item in session.items if item.get_closest_marker("lab")}
    if not lab_paths:
        return
    from provisioners import lab as L
    from tests.lab.conftest import lab_unavailable
    from tests.lab.suites import SUITES, suite_hosts

    if lab_unavailable():
        return  # the lab fixtures skip with the reason (and GOVHOST_TEST_REQUIRE_ALL fails the run)
    # The suites selected (a folder of the test's path names it; all of them if none does).
    suites = {suite for parts in lab_paths for suite in SUITES if suite in parts} or set(SUITES)
    wanted = {name: ip for suite in sorted(suites) for name, ip in suite_hosts(suite).items()}
    for ip, name, holder in L.address_holders(wanted):
        pytest.exit(
            f"lab address {ip} (test host {name}) is held by running lab host {holder}: "
            f"stop it (`lab down {holder}`) or test on another block (GOVHOST_LAB_NET, docs/lab.md)",
            returncode=3,
        )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The tests that cost the most CPU (the gate shares 2 cores: CPU, not wall time, sets its length;
    lab hosts' own processes are not counted). With GOVHOST_TEST_REQUIRE_ALL=1 (scripts/test, CI) a
    skipped test fails the run: lab, browser and PostgreSQL tests must really run there, not quietly skip."""
    if len(_cpu) > 1:
        terminalreporter.write_sep("=", "most CPU (this process and its children, setup to teardown)")
        for seconds, nodeid in sorted(_cpu, reverse=True)[:10]:
            terminalreporter.write_line(f"{seconds:7.2f}s cpu {nodeid}")
        terminalreporter.write_line(f"{sum(c for c, _ in _cpu):7.2f}s cpu in {len(_cpu)} tests")
    if os.environ.get("GOVHOST_TEST_REQUIRE_ALL") != "1":
        return
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"GOVHOST_TEST_REQUIRE_ALL: {len(skipped)} test(s) skipped; failing the run:", red=True
        )
        for rep in skipped[:20]:
            terminalreporter.write_line(f"  {rep.nodeid}: {rep.longrepr[-1] if rep.longrepr else ''}")
        config._govhost_skipped = True


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("GOVHOST_TEST_REQUIRE_ALL") == "1" and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and reporter.stats.get("skipped"):
            session.exitstatus = 1
