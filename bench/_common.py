"""Setup the benchmarks share; not a benchmark itself (it measures nothing and prints no figure).

A bench imports it as `from bench._common import ...` once its own folder is off sys.path (the
folder holds dns.py, which would shadow dnspython) and the repository root is first.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, select, text

from panel import db
from panel.boot import boot
from panel.config import Settings
from panel.db import Base
from panel.models.tenants import Organization, OrgKind
from panel.models.users import User
from provisioners import lab as L
from tests.conftest import settings_dict

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"  # the machine's own server


def lab_settings(tmp: Path, url: str | None = None, **sections) -> Settings:
    """The tests' settings on `url` (default: a SQLite file in tmp), jobs reaching the lab with its SSH
    key; `sections` replace whole config sections (e.g. sites={...})."""
    raw = settings_dict(tmp, url or f"sqlite:///{tmp / 'bench.db'}")
    raw["ansible"]["ssh_key"] = str(L.lab_key_path())
    raw.update(sections)
    return Settings.from_dict(raw)


def boot_fresh(settings: Settings) -> Settings:
    """Every table created on the settings' (empty) database, then the panel booted on it."""
    engine = create_engine(settings.database.url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return boot(settings)


@contextlib.contextmanager
def scratch_postgres(admin_url: str, prefix: str = "govhost_bench") -> Iterator[str]:
    """A new PostgreSQL database for one run (its URL), dropped afterwards with whatever still uses it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        db.remove()
        with contextlib.suppress(Exception):
            db.engine().dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sqlite_then_postgres(tmp: Path) -> Iterator[tuple[str, str]]:
    """The databases a bench compares, as (label, URL): a SQLite file in tmp, then a scratch database
    on PG_ADMIN's server if it answers (if not, that is said and the bench has SQLite only)."""
    yield "sqlite", f"sqlite:///{tmp / 'bench.db'}"
    try:
        admin = create_engine(PG_ADMIN, connect_args={"connect_timeout": 3})
        with admin.connect() as c:
            c.execute(select(1))
        admin.dispose()
    except Exception as e:
        print(f"PostgreSQL not reachable ({type(e).__name__}); SQLite only")
        return
    with scratch_postgres(PG_ADMIN) as url:
        yield "postgresql", url


def dc_ministry_users(s, *usernames: str) -> tuple[Organization, Organization, list[User]]:
    """The data center ("dc"), a ministry ("m") and users by these names, flushed; no memberships."""
    dc = Organization(slug="dc", name="DC", kind=OrgKind.DATACENTER)
    org = Organization(slug="m", name="M", kind=OrgKind.MINISTRY)
    # No one logs in here: the password hash is a placeholder that matches nothing.
    users = [User(username=n, email=f"{n}@bench.invalid", full_name=n, password_hash="!") for n in usernames]  # noqa: S106
    s.add_all([dc, org, *users])
    s.flush()
    return dc, org, users
