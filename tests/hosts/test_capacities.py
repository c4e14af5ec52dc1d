"""Host roles and capacities are names capabilities declare: stored in host_roles / host_capacities
rows, shown and set on the host pages, API and CLI, and carried over from the old max_* columns."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from panel import capabilities, db
from panel.capabilities import HostCapacity, HostRole, Manifest
from panel.errors import Invalid
from panel.models.hosts import Host
from panel.services import hosts as svc
from panel.services import schema
from tests.hosts.conftest import post_form
from tests.support.databases import empty_database  # noqa: F401 - fixture

BEFORE = "db0499e7e8e7"  # the last revision with hosts.max_* columns


def test_the_migration_carries_capacities_and_roles_over_and_back(empty_database):
    db.configure(empty_database)
    try:
        schema.schema_upgrade(BEFORE)
        with db.engine().begin() as c:
            c.execute(
                text(
                    "INSERT INTO hosts (id, name, address, port, ssh_user, os, state, max_sites, max_mailboxes,"
                    " max_databases, host_key_type, host_key, fingerprint, facts, created_at, updated_at)"
                    " VALUES (7, 'old1', '10.9.0.7', 22, 'root', 'LINUX', 'ACTIVE', 12, 3400, 56, 'ssh-ed25519',"
                    " 'AAAA', 'SHA256:x', '{}', '2026-01-01', '2026-01-01')"
                )
            )
            c.execute(text("INSERT INTO host_roles (host_id, role) VALUES (7, 'WEB'), (7, 'DB')"))
        schema.schema_upgrade("head")
        with db.engine().connect() as c:
            rows = c.execute(text("SELECT resource, maximum FROM host_capacities WHERE host_id = 7")).all()
            roles = c.execute(text("SELECT role FROM host_roles WHERE host_id = 7")).scalars().all()
        assert dict(rows) == {"sites": 12, "mailboxes": 3400, "databases": 56}
        assert sorted(roles) == ["db", "web"]
        with db.session() as s:  # the model reads them: declared defaults only where no row is stored
            host = s.get(Host, 7)
            assert host.roles == {"web", "db"} and svc.capacity(host, "sites") == 12
        db.remove()
        command.downgrade(schema.alembic_config(), BEFORE)
        with db.engine().connect() as c:
            old = c.execute(text("SELECT max_sites, max_mailboxes, max_databases FROM hosts WHERE id = 7")).one()
            roles = c.execute(text("SELECT role FROM host_roles WHERE host_id = 7")).scalars().all()
        assert tuple(old) == (12, 3400, 56) and sorted(roles) == ["DB", "WEB"]
    finally:
        db.remove()
        db.engine().dispose()


def _host(**kw) -> int:
    with db.unit_of_work() as s:
        host = Host(name="cap1", address="10.9.0.8", host_key_type="ssh-ed25519", host_key="AA", fingerprint="x", **kw)
        s.add(host)
        s.flush()
        return host.id


def test_defaults_update_and_undeclared_roles_kept(booted, make, operator):
    a = make.actor_of(operator, "cli")
    host_id = _host()
    with db.unit_of_work() as s:
        s.get(Host, host_id).roles = {"web", "gone"}  # "gone": a role no enabled capability declares
    host = svc.host_get(a, host_id)
    assert svc.capacity(host, "sites") == svc.CAPACITIES["sites"].default  # no row yet: the default
    assert svc.capacity(host, "nothing-declares-this") == 0
    host = svc.host_update(a, host_id, roles=["mail"], capacities={"sites": 4})
    assert host.roles == {"mail", "gone"} and host.capacities == {"sites": 4}
    host = svc.host_update(a, host_id, capacities="mailboxes=9")
    assert host.capacities == {"sites": 4, "mailboxes": 9}
    with pytest.raises(Invalid) as e:
        svc.host_update(a, host_id, capacities={"sites": 1, "ftp": 2})
    assert e.value.key == "host.capacity_unknown"
    assert svc.host_get(a, host_id).capacities == {"sites": 4, "mailboxes": 9}  # nothing half-applied


def test_register_stores_every_declared_capacity(booted, make, operator, monkeypatch):
    # The key fetch is the network part (lab tests cover it); here only what is stored matters.
    monkeypatch.setattr(svc, "_fetch_key", lambda address, port, expected: ("ssh-ed25519", "AAAA", "SHA256:k"))
    a = make.actor_of(operator, "cli")
    host = svc.host_register(a, name="reg1", address="10.9.0.9", roles="web,dns", capacities={"sites": 9})
    stored = svc.host_get(a, host.id)
    assert stored.roles == {"web", "dns"}
    assert stored.capacities == {c.resource: c.default for c in svc.capacities()} | {"sites": 9}
    with pytest.raises(Invalid) as e:
        svc.host_register(a, name="reg2", address="10.9.0.10", capacities={"ftp": 1})
    assert e.value.key == "host.capacity_unknown"


@pytest.fixture
def toy_declared():
    """A capability that only declares a host role and a capacity, plugged in by its manifest alone."""
    m = Manifest(
        name="toyhost",
        package="tests.hosts",
        label="Toy hosts",
        host_roles=(HostRole("toyrole", "Toy role"),),
        host_capacities=(HostCapacity("toys", "Most toys", 7, role="toyrole"),),
    )
    capabilities.plug(m)
    yield m
    capabilities.unplug(m.name)
    assert "toyrole" not in svc.ROLES and "toys" not in svc.CAPACITIES


def test_a_declared_role_and_capacity_reach_every_surface(toy_declared, client, cli, operator, web_login, api_token):
    host_id = _host()
    h = api_token(operator)
    r = client.patch(f"/api/v1/hosts/{host_id}", json={"roles": ["toyrole"], "capacities": {"toys": 3}}, headers=h)
    assert r.status_code == 200, r.json
    assert r.json["roles"] == ["toyrole"] and r.json["capacities"]["toys"] == 3
    assert r.json["capacities"]["sites"] == svc.CAPACITIES["sites"].default
    r = client.patch(f"/api/v1/hosts/{host_id}", json={"capacities": {"toys": -1}}, headers=h)
    assert r.status_code == 422
    assert client.get("/api/v1/hosts/?role=toyrole", headers=h).json["total"] == 1
    web_login(operator)
    page = client.get(f"/hosts/{host_id}").get_data(as_text=True)
    assert "Most toys" in page and 'name="capacity_toys"' in page and 'value="toyrole"' in page
    form = {"state": "active", "roles": ["toyrole", "web"], "capacity_toys": "11", "capacity_sites": "5"}
    form |= {f"capacity_{c.resource}": "6" for c in svc.capacities() if c.resource not in ("toys", "sites")}
    r = post_form(client, f"/hosts/{host_id}/edit", form, page=f"/hosts/{host_id}")
    assert r.status_code == 302, r.get_data(as_text=True)
    out = cli("hosts", "set", "cap1", "--capacity", "toys=12")
    assert out.exit_code == 0, out.output
    assert "toys 12" in out.output and "sites 5" in out.output and "mailboxes 6" in out.output
    out = cli("hosts", "set", "cap1", "--capacity", "ftp=1")
    assert out.exit_code == 2 and "host.capacity_unknown" in out.output
    out = cli("hosts", "roles")
    assert out.exit_code == 0 and "toyrole" in out.output and "toys (7)" in out.output
