"""Providers: a capability offers a service by name in its manifest and another calls it through
panel.services.providers, so capabilities never import each other (databases.app_database is the
first: the CMS capability gets its WordPress database and user from it)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from panel import capabilities, db, security
from panel.capabilities.base import Manifest, Provide
from panel.capabilities.databases.models import Database, DbStatus, DbUser, Profile
from panel.errors import Conflict, Invalid
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.requests import Request
from panel.models.tenants import OrgKind, Role
from panel.services import providers


def test_registry_names_calls_and_refuses():
    providers.register("toyp.double", lambda x: 2 * x, "toyp")
    try:
        assert "toyp.double" in providers.names()
        assert providers.call("toyp.double", 21) == 42
        with pytest.raises(ValueError, match="must start with"):
            providers.register("other.double", lambda x: x, "toyp")
        with pytest.raises(ValueError, match="already offered"):
            providers.register("toyp.double", lambda x: x, "toyp")
    finally:
        providers.unregister("toyp.double")
    with pytest.raises(Conflict) as e:
        providers.call("toyp.double", 1)
    assert e.value.key == "provider.missing" and e.value.params["provider"] == "toyp.double"


def test_every_manifest_provider_is_registered_under_its_capability(booted):
    capabilities.load()
    offered = {p.name for m in capabilities.manifests() for p in m.provides}
    assert "databases.app_database" in offered
    assert offered <= set(providers.names())
    for m in capabilities.manifests():
        for p in m.provides:
            assert p.name.startswith(f"{m.name}.") and callable(providers.get(p.name))


def test_unplug_withdraws_and_replug_restores(booted):
    capabilities.load()
    fn = providers.get("databases.app_database")
    capabilities.unplug("databases")
    try:
        assert "databases.app_database" not in providers.names()
    finally:
        capabilities.load()
    assert providers.get("databases.app_database") is fn


def test_manifest_provide_is_plain_data():
    m = Manifest(name="x", package="x", label="X", provides=(Provide("x.f", "service:f"),))
    assert m.provides[0].run == "service:f" and m.module_name(m.provides[0].run) == "x.service"


@pytest.fixture
def db_world(booted, make):
    capabilities.load()
    make.make_host("db1", roles={"db"}, address="192.0.2.10", facts={"db_engines": ["mariadb"]})
    org = make.make_org("Ministry A", slug="min-a")
    dc = make.make_org("DC", kind=OrgKind.DATACENTER, slug="dc")
    op = make.actor_of(make.make_user(Role.OPERATOR, dc))
    with db.unit_of_work() as s:
        req = Request(org_id=org.id, kind="cms.instance_create", payload={}, requester_name="t")
        s.add(req)
        s.flush()
        return org, op, req.id


def test_app_database_rows_and_one_job_with_only_the_verifier(db_world):
    org, op, request_id = db_world
    password = "Wp-app-password-123456"
    with db.unit_of_work() as s:
        got = providers.call("databases.app_database", op, s.get(Request, request_id), name="wp7", password=password)
    assert got["database"] == "mina1_wp7" and got["user"] == "mina1_wp7_app" and got["host_address"] == "192.0.2.10"
    assert got["port"] == 3306
    with db.unit_of_work() as s:
        dbrow, user = s.get(Database, got["database_id"]), s.get(DbUser, got["user_id"])
        assert dbrow.status == user.status == DbStatus.PENDING and dbrow.request_id == request_id
        assert [(g.database_id, g.profile) for g in user.grants] == [(dbrow.id, Profile.OWNER)]
        job = s.get(Job, got["job_id"])
        assert job.kind == "databases.apply" and job.request_id is None and job.org_id == org.id
        assert job.params == {"database_ids": [dbrow.id], "user_ids": [user.id], "batch": "app"}
        sealed = json.loads(security.unseal(job.secrets))
        assert list(sealed) == [str(user.id)] and password not in sealed[str(user.id)]
        assert password not in json.dumps(job.params)
    with db.unit_of_work() as s, pytest.raises(Conflict) as e:
        providers.call("databases.app_database", op, s.get(Request, request_id), name="wp7", password=password)
    assert e.value.key == "databases.name_taken"
    with db.unit_of_work() as s, pytest.raises(Invalid):
        providers.call("databases.app_database", op, s.get(Request, request_id), name="WP;drop", password=password)
    # a second application of the ministry while the first job waits for a worker joins that job
    with db.unit_of_work() as s:
        second = providers.call("databases.app_database", op, s.get(Request, request_id), name="wp8", password=password)
    with db.unit_of_work() as s:
        assert len(s.scalars(select(Job)).all()) == 1 and second["job_id"] == got["job_id"]
        job = s.get(Job, got["job_id"])
        assert job.params["database_ids"] == [got["database_id"], second["database_id"]]
        assert set(json.loads(security.unseal(job.secrets))) == {str(got["user_id"]), str(second["user_id"])}
        job.status = JobStatus.RUNNING  # a worker took it: nothing joins it any more
    with db.unit_of_work() as s:
        third = providers.call("databases.app_database", op, s.get(Request, request_id), name="wp9", password=password)
    assert third["job_id"] != got["job_id"]


def test_app_database_on_postgresql_names_its_user_apart_from_the_database(db_world):
    """On PostgreSQL a database's owner role has the database's name: the application's user must
    not (a user named like the database would be that role; deleting it would DROP OWNED BY it in
    every tenant database). Its user is the database's name + "_app", and a name whose user would
    be an existing database's is refused, nothing made."""
    org, op, request_id = db_world
    with db.unit_of_work() as s:
        s.scalars(select(Host)).one().facts = {"db_engines": ["mariadb", "postgresql"]}
        s.add(
            Database(
                org_id=org.id,
                host_id=s.scalars(select(Host.id)).one(),
                engine="postgresql",
                name="mina1_wp9_app",
                size_mb=10,
                conn_limit=5,
                status=DbStatus.ACTIVE,
            )
        )
    password = "Wp-app-password-123456"
    with db.unit_of_work() as s:
        got = providers.call(
            "databases.app_database", op, s.get(Request, request_id), name="wp8", password=password, engine="postgresql"
        )
    assert (got["database"], got["user"], got["port"]) == ("mina1_wp8", "mina1_wp8_app", 5432)
    with db.unit_of_work() as s, pytest.raises(Conflict) as e:
        providers.call(
            "databases.app_database", op, s.get(Request, request_id), name="wp9", password=password, engine="postgresql"
        )
    assert e.value.key == "databases.user_name_is_database" and e.value.params["name"] == "mina1_wp9_app"
    with db.unit_of_work() as s:
        assert s.scalars(select(Database.name).where(Database.name == "mina1_wp9")).first() is None
        assert len(s.scalars(select(Job)).all()) == 1
