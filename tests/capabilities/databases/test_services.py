"""Tenant database rules and requests without hosts: names, reserved words, hostile input,
placement, isolation between ministries, verifiers, and that no password is kept."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from sqlalchemy import func, select

from panel import db
from panel.capabilities.databases import rules
from panel.capabilities.databases import service as db_svc
from panel.capabilities.databases.models import Database, DbUser
from panel.errors import Conflict, Invalid, NotFound, PanelError
from panel.models.hosts import Host
from panel.models.requests import Request
from panel.models.tenants import OrgKind, Role
from panel.services import requests


@pytest.fixture
def world(booted, make):
    host = make.make_host(
        "db1", roles={"db"}, address="192.0.2.10", facts={"db_engines": ["mariadb"]}, capacities={"databases": 2}
    )
    a, b = make.make_org("Ministry A", slug="min-a"), make.make_org("Ministry B", slug="min-b")
    ua, ub = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    dc = make.make_org("DC", kind=OrgKind.DATACENTER, slug="dc")
    op = make.make_user(Role.OPERATOR, dc)

    class W:
        pass

    w = W()
    w.a, w.b, w.host = a, b, host
    w.aa, w.ab, w.op = make.actor_of(ua), make.actor_of(ub), make.actor_of(op)
    return w


def test_prefix_never_collides_and_is_unambiguous():
    assert rules.prefix_of("min-a", 3) == "mina3_"
    assert rules.prefix_of("ab1", 23) != rules.prefix_of("ab12", 3)
    assert rules.prefix_of("2x", 5) == "x5_"


@pytest.mark.parametrize(
    "name,key",
    [
        ("mysql", "databases.name_reserved"),
        ("information_schema", "databases.name_reserved"),
        ("postgres", "databases.name_reserved"),
        ("template1", "databases.name_reserved"),
        ("a`b", "databases.name_invalid"),
        ("a'b", "databases.name_invalid"),
        ("a;drop", "databases.name_invalid"),
        ("a%", "databases.name_invalid"),
        ("a\x00b", "databases.name_invalid"),
        ("1abc", "databases.name_invalid"),
        ("", "databases.name_required"),
        ("x" * 33, "databases.name_too_long"),
    ],
)
def test_bad_names_refused_before_anything_is_filed(world, name, key):
    with pytest.raises(PanelError) as err:
        db_svc.database_create(world.aa, org_id=world.a.id, engine="mariadb", name=name)
    assert err.value.key == key and err.value.field == "name"
    with db.unit_of_work() as s:
        assert s.scalars(select(Request)).first() is None


def test_verifiers_match_the_engines():
    assert rules.mariadb_verifier("abc") == "*0D3CED9BEC10A777AEC23CCC353A8C08A633045E"  # PASSWORD('abc')
    v = rules.scram_verifier("pencil", salt=b"0123456789abcdef")
    head, keys = v.split("$", 1)[1].split("$")
    iterations, salt = head.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", base64.b64decode(salt), int(iterations))
    client = hmac.new(salted, b"Client Key", "sha256").digest()
    assert keys.split(":")[0] == base64.b64encode(hashlib.sha256(client).digest()).decode()


def test_request_keeps_no_password_and_names_are_prefixed(world):
    req = db_svc.database_create(world.aa, org_id=world.a.id, engine="mariadb", name="Blog")
    assert req.payload["name"] == f"mina{world.a.id}_blog" and req.target_host_id == world.host.id
    with pytest.raises(Conflict):
        db_svc.database_create(world.aa, org_id=world.a.id, engine="mariadb", name="blog")


def test_postgresql_needs_a_set_up_host(world):
    with pytest.raises(Conflict) as err:
        db_svc.database_create(world.aa, org_id=world.a.id, engine="postgresql", name="gis")
    assert err.value.key == "databases.no_host_ready"


def test_only_operators_choose_the_host(world):
    with pytest.raises(Invalid) as err:
        db_svc.database_create(world.aa, org_id=world.a.id, engine="mariadb", name="x", host_id=world.host.id)
    assert err.value.key == "databases.host_forbidden"


def test_ministry_b_cannot_see_or_touch_a(world):
    with db.unit_of_work() as s:
        row = Database(
            org_id=world.a.id,
            host_id=world.host.id,
            engine="mariadb",
            name="mina_x",
            size_mb=10,
            conn_limit=5,
            status="active",
        )
        s.add(row)
        s.flush()
        rid = row.id
    assert [d.id for d in db_svc.database_list(world.aa).items] == [rid]
    assert db_svc.database_list(world.ab).items == []
    for call in (
        lambda: db_svc.database_get(world.ab, rid),
        lambda: db_svc.database_delete(world.ab, database_id=rid),
        lambda: db_svc.db_user_create(world.ab, database_id=rid, name="evil"),
        lambda: db_svc.database_by_name(world.ab, "mina_x"),
    ):
        with pytest.raises(NotFound):
            call()
    # B cannot file A's database into its own request either (the kind checks the owner).
    with pytest.raises(NotFound):
        db_svc._ask(
            world.ab,
            "databases.user_create",
            world.b.id,
            {"database_id": rid, "name": "evil"},
            {"password": "Long-enough-pass-1"},
        )


def test_generated_password_shown_once_not_stored(world):
    with db.unit_of_work() as s:
        row = Database(
            org_id=world.a.id,
            host_id=world.host.id,
            engine="mariadb",
            name=f"mina{world.a.id}_y",
            size_mb=10,
            conn_limit=5,
            status="active",
        )
        s.add(row)
        s.flush()
        rid = row.id
    issued = db_svc.db_user_create(world.aa, database_id=rid, name="app")
    assert issued.password and issued.request.status.value == "provisioning"
    with db.unit_of_work() as s:
        req = s.get(Request, issued.request.id)
        assert issued.password not in repr(req.payload) and issued.password not in (req.secrets or "")
        from panel.services.requests import request_secrets

        hidden = request_secrets(req)
        assert set(hidden) == {"mariadb", "postgresql"} and issued.password not in repr(hidden)
        assert hidden["mariadb"] == rules.mariadb_verifier(issued.password)
    mine = db_svc.db_user_create(world.aa, database_id=rid, name="own", password="Correct-Horse-9")
    assert mine.password is None
    for weak in ("short", "alllowercaseletters", f"mina{world.a.id}_weakuser-Aa1"):
        with pytest.raises(Invalid) as err:
            db_svc.db_user_create(world.aa, database_id=rid, name="weakuser", password=weak)
        assert err.value.field == "password", weak


def test_a_deleted_name_may_be_used_again(world):
    name = f"mina{world.a.id}_old"
    with db.unit_of_work() as s:
        s.add(
            Database(
                org_id=world.a.id,
                host_id=world.host.id,
                engine="mariadb",
                name=name,
                size_mb=10,
                conn_limit=5,
                status="deleted",
            )
        )
    req = db_svc.database_create(world.aa, org_id=world.a.id, engine="mariadb", name="old")
    assert req.payload["name"] == name
    with db.unit_of_work() as s:  # the live-name index lets a live row share a deleted row's name
        s.add(
            Database(
                org_id=world.a.id,
                host_id=world.host.id,
                engine="mariadb",
                name=name,
                size_mb=10,
                conn_limit=5,
                status="active",
            )
        )


def test_a_user_reaches_at_most_max_grants_databases(world):
    """Its page lists every database it reaches, so the number is bounded (tests/perf checks the page)."""
    from panel.capabilities.databases.models import DbGrant, DbStatus, DbUser, Engine, Profile

    with db.unit_of_work() as s:
        common = {"org_id": world.a.id, "host_id": world.host.id, "engine": Engine.MARIADB, "status": DbStatus.ACTIVE}
        dbs = [Database(**common, name=f"mina_d{i}", size_mb=100, conn_limit=20) for i in range(rules.MAX_GRANTS + 1)]
        user = DbUser(**common, name="mina_u")
        s.add_all([*dbs, user])
        s.flush()
        user.grants = [DbGrant(database_id=d.id, profile=Profile.READ_ONLY) for d in dbs[:-1]]
        ids, user_id = [d.id for d in dbs], user.id
    with pytest.raises(Invalid) as err:
        db_svc.db_grant_set(world.aa, user_id=user_id, database_id=ids[-1], profile="readwrite")
    assert err.value.key == "databases.grants_full"
    # a database it already reaches may change profile
    db_svc.db_grant_set(world.aa, user_id=user_id, database_id=ids[0], profile="readwrite")


def test_only_linked_sites_web_hosts_reach_a_database(world, make):
    """Default access: a database accepts the web hosts of the ministry's sites that use it, each
    entry with only the grants of the databases that allow its address; no link, no address."""
    from panel.capabilities.databases.jobs import _apply_build
    from panel.capabilities.databases.models import DbGrant, DbLink, DbStatus, DbUser, Engine, Profile

    web1 = make.make_host("web1", address="192.0.2.21", roles={"web"})
    web2 = make.make_host("web2", address="192.0.2.22", roles={"web"})
    make.make_host("web3", address="192.0.2.23", roles={"web"})  # a web host no site of theirs is on
    site1 = make.make_site(world.a, host=web1)
    site2 = make.make_site(world.a, host=web2)
    other = make.make_site(world.b, host=web1)
    with db.unit_of_work() as s:
        common = {"org_id": world.a.id, "host_id": world.host.id, "engine": Engine.MARIADB, "status": DbStatus.ACTIVE}
        d1 = Database(**common, name=f"mina{world.a.id}_one", size_mb=100, conn_limit=20)
        d2 = Database(**common, name=f"mina{world.a.id}_two", size_mb=100, conn_limit=20)
        user = DbUser(**common, name=f"mina{world.a.id}_u")
        s.add_all([d1, d2, user])
        s.flush()
        user.grants = [
            DbGrant(database_id=d1.id, profile=Profile.OWNER),
            DbGrant(database_id=d2.id, profile=Profile.READ_ONLY),
        ]
        ids = (d1.id, d2.id, user.id)

    def state():
        """What the next databases.apply job for the user sends (its build, without running it)."""
        import json
        from types import SimpleNamespace

        job = SimpleNamespace(host_ids=[world.host.id], params={"database_ids": [], "user_ids": [ids[2]]}, secrets=None)
        with db.unit_of_work() as s:
            extra, _, _ = _apply_build(job, s)
            return json.loads(extra["govhost_db_objects_json"])["users"][0]

    assert state()["hosts"] == [] and state()["host_grants"] == {}  # nothing uses them: no address
    # Another ministry's site is as missing as a site that does not exist.
    with pytest.raises(NotFound):
        db_svc.database_link_set(world.aa, database_id=ids[0], workload_id=other.id)
    with pytest.raises(Invalid) as err:
        db_svc.database_link_set(world.aa, database_id=ids[0], workload_id=site1.id, kind="printer")
    assert err.value.key == "workload.kind_invalid"
    with pytest.raises(NotFound):  # B cannot link A's database either
        db_svc.database_link_set(world.ab, database_id=ids[0], workload_id=other.id)
    req = db_svc.database_link_set(world.aa, database_id=ids[0], workload_id=site1.id)
    assert req.status.value == "provisioning" and req.summary == f"{site1.fqdn} uses mina{world.a.id}_one"
    db_svc.database_link_set(world.aa, database_id=ids[1], workload_id=site2.id)
    u = state()
    assert u["hosts"] == ["192.0.2.21", "192.0.2.22"]
    assert u["host_grants"] == {
        "192.0.2.21": {f"mina{world.a.id}_one": "owner"},
        "192.0.2.22": {f"mina{world.a.id}_two": "readonly"},
    }
    assert [ln.name for ln in db_svc.database_links(world.aa, ids[0])] == [site1.fqdn]
    # A site that is deleted no longer brings its host; unlinking removes it.
    with db.unit_of_work() as s:
        from panel.capabilities.sites.models import Site

        s.get(Site, site2.id).status = "deleted"
    assert state()["hosts"] == ["192.0.2.21"]
    done = db_svc.database_link_set(world.aa, database_id=ids[0], workload_id=site1.id, linked=False)
    assert done.status.value == "provisioning" and state()["hosts"] == []
    with db.unit_of_work() as s:
        assert s.scalars(select(DbLink).where(DbLink.database_id == ids[0])).first() is None


def test_app_database_links_the_applications_site(world, make):
    """An application's database (the databases.app_database provider) is linked to its site, so
    that site's web host may connect; another ministry's site is refused and nothing is kept."""
    from panel.capabilities.databases.models import DbLink
    from panel.services import providers

    web = make.make_host("webx", address="192.0.2.31", roles={"web"})
    site, theirs = make.make_site(world.a, host=web), make.make_site(world.b, host=web)
    with db.unit_of_work() as s:
        req = Request(org_id=world.a.id, kind="cms.instance_create", payload={"site_id": site.id}, requester_name="t")
        s.add(req)
        s.flush()
        rid = req.id
    with db.unit_of_work() as s:
        got = providers.call(
            "databases.app_database", world.op, s.get(Request, rid), name="wp1", password="Wp-app-pass-12345"
        )
    with db.unit_of_work() as s:
        links = s.execute(select(DbLink.kind, DbLink.workload_id).where(DbLink.database_id == got["database_id"]))
        assert links.all() == [("site", site.id)]
    with pytest.raises(NotFound), db.unit_of_work() as s:
        providers.call(
            "databases.app_database",
            world.op,
            s.get(Request, rid),
            name="wp2",
            password="Wp-app-pass-12345",
            site_id=theirs.id,
        )
    with db.unit_of_work() as s:
        assert s.scalars(select(Database).where(Database.name == f"mina{world.a.id}_wp2")).first() is None


def test_remote_access_request_approval_tls_and_expiry_sweep(world, make):
    """Remote access: CIDR, reason and expiry checked; the data center approves (0.0.0.0/0 only a
    DC admin); the network joins the users' entries with TLS required; the sweep expires it, audits
    it and re-applies the users without it."""
    import datetime as dt
    import json
    from types import SimpleNamespace

    from panel.capabilities.databases.jobs import _apply_build
    from panel.capabilities.databases.models import DbGrant, DbRemoteAccess, DbStatus, DbUser, Engine, Profile
    from panel.capabilities.databases.sweeps import remote_access_expire
    from panel.errors import Forbidden
    from panel.models.audit import AuditEntry
    from panel.models.jobs import Job
    from panel.services import requests as req_svc
    from panel.services.actor import system_actor

    with db.unit_of_work() as s:
        common = {"org_id": world.a.id, "host_id": world.host.id, "engine": Engine.MARIADB, "status": DbStatus.ACTIVE}
        d = Database(**common, name=f"mina{world.a.id}_rem", size_mb=100, conn_limit=20)
        user = DbUser(**common, name=f"mina{world.a.id}_ru")
        s.add_all([d, user])
        s.flush()
        user.grants = [DbGrant(database_id=d.id, profile=Profile.READ_WRITE)]
        did, uid = d.id, user.id
    soon = (db.utcnow() + dt.timedelta(days=7)).date().isoformat()
    ask = {"database_id": did, "reason": "Ministry reporting office", "expires_at": soon}
    for cidr, key in (
        ("203.0.113.7/24", "databases.cidr_invalid"),  # host bits set
        ("203.0.113.0/33", "databases.cidr_invalid"),
        ("x'; DROP USER --", "databases.cidr_invalid"),
        ("2001:db8::/48", "databases.cidr_ipv6"),
    ):
        with pytest.raises(Invalid) as err:
            db_svc.db_remote_request(world.aa, **{**ask, "cidr": cidr})
        assert err.value.key == key and err.value.field == "cidr", cidr
    for bad, key in (
        ({"expires_at": "2001-01-01"}, "databases.expiry_range"),
        ({"expires_at": (db.utcnow() + dt.timedelta(days=200)).date().isoformat()}, "databases.expiry_range"),
        ({"expires_at": "next week"}, "databases.expiry_invalid"),
        ({"reason": "x"}, "databases.reason_invalid"),
    ):
        with pytest.raises(Invalid) as err:
            db_svc.db_remote_request(world.aa, **{**ask, "cidr": "203.0.113.0/24", **bad})
        assert err.value.key == key, bad
    with pytest.raises(NotFound):  # B cannot ask for A's database
        db_svc.db_remote_request(world.ab, **ask, cidr="203.0.113.0/24")
    # The whole Internet: an operator's approval is refused, a DC admin's goes through.
    everyone = db_svc.db_remote_request(world.aa, **ask, cidr="0.0.0.0/0")
    assert everyone.status.value == "submitted"
    with pytest.raises(Forbidden) as err:
        req_svc.request_approve(world.op, everyone.id)
    assert err.value.key == "databases.open_needs_admin"
    req = db_svc.db_remote_request(world.aa, **ask, cidr="203.0.113.0/24")
    assert req.status.value == "submitted"  # the data center approves
    req = req_svc.request_approve(world.op, req.id)
    assert req.status.value == "provisioning"

    def state():
        job = SimpleNamespace(host_ids=[world.host.id], params={"database_ids": [], "user_ids": [uid]}, secrets=None)
        with db.unit_of_work() as s:
            return json.loads(_apply_build(job, s)[0]["govhost_db_objects_json"])["users"][0]

    u = state()
    assert u["hosts"] == ["203.0.113.0/255.255.255.0"] and u["ssl_hosts"] == ["203.0.113.0/255.255.255.0"]
    assert u["host_grants"] == {"203.0.113.0/255.255.255.0": {f"mina{world.a.id}_rem": "readwrite"}}
    assert [r.cidr for r in db_svc.db_remote_list(world.aa, did)] == ["203.0.113.0/24"]
    with db.unit_of_work() as s:
        granted = s.scalars(select(AuditEntry).where(AuditEntry.action == "databases.remote_access_granted")).all()
        assert [(a.org_id, "203.0.113.0/24" in a.summary) for a in granted] == [(world.a.id, True)]
    # Not yet expired: the sweep leaves it; past its expiry: expired, audited, users re-applied.
    system = system_actor("worker", "scheduler")
    assert remote_access_expire(system) == []
    with db.unit_of_work() as s:
        s.scalars(select(DbRemoteAccess)).one().expires_at = db.utcnow() - dt.timedelta(minutes=1)
    assert state()["hosts"] == []  # an expired network is never sent, even before the sweep
    with db.unit_of_work() as s:
        jobs_before = len(s.scalars(select(Job)).all())
    expired = remote_access_expire(system)
    assert len(expired) == 1 and remote_access_expire(system) == []
    with db.unit_of_work() as s:
        assert s.get(DbRemoteAccess, expired[0]).status.value == "expired"
        new = s.scalars(select(Job).order_by(Job.id.desc())).all()[: len(s.scalars(select(Job)).all()) - jobs_before]
        assert [(j.kind, j.params["user_ids"], j.org_id) for j in new] == [("databases.apply", [uid], world.a.id)]
        gone = s.scalars(select(AuditEntry).where(AuditEntry.action == "databases.remote_access_expired")).one()
        assert gone.org_id == world.a.id and "203.0.113.0/24" in gone.summary


def test_usage_notice_freeze_and_lift_with_notifications_audit_and_jobs(world, make):
    """A measured size crossing 90% notifies once, 100% freezes (owner and read-write get the frozen
    profile, read-only stays), below 90% lifts; each transition an audit entry and, for a freeze or
    a lift, one databases.apply job for the database's users."""
    from types import SimpleNamespace

    from panel.capabilities.databases.jobs import _usage_done, user_state
    from panel.capabilities.databases.models import DbGrant, DbStatus, DbUser, Engine, Profile
    from panel.capabilities.databases.sweeps import usage_collect
    from panel.models.audit import AuditEntry
    from panel.models.jobs import Job
    from panel.models.notifications import Notification
    from panel.services.actor import system_actor
    from provisioners.base import Result

    with db.unit_of_work() as s:
        common = {"org_id": world.a.id, "host_id": world.host.id, "engine": Engine.MARIADB, "status": DbStatus.ACTIVE}
        d = Database(**common, name=f"mina{world.a.id}_big", size_mb=10, conn_limit=20)
        owner, reader = DbUser(**common, name=f"mina{world.a.id}_o"), DbUser(**common, name=f"mina{world.a.id}_r")
        s.add_all([d, owner, reader])
        s.flush()
        owner.grants = [DbGrant(database_id=d.id, profile=Profile.OWNER)]
        reader.grants = [DbGrant(database_id=d.id, profile=Profile.READ_ONLY)]
        did, ids = d.id, (owner.id, reader.id)
    swept = usage_collect(system_actor("worker", "scheduler"))
    want = {"host_id": world.host.id, "database_ids": [did]}
    assert [(j.kind, j.params) for j in swept] == [("databases.usage", want)]
    job = SimpleNamespace(params={"database_ids": [did]})

    def measure(mb: float):
        with db.unit_of_work() as s:
            data = {"db_usage_mariadb": {f"mina{world.a.id}_big": int(mb * 2**20)}}
            _usage_done(job, s, Result("successful", 0, data=data))
        with db.unit_of_work() as s:
            row = s.get(Database, did)
            profiles = [user_state(s.get(DbUser, u), {})["grants"][row.name] for u in ids]
            actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
            applies = [j.params["user_ids"] for j in s.scalars(select(Job).where(Job.kind == "databases.apply"))]
            notes = len(s.scalars(select(Notification)).all())
            return row, profiles, [a for a in actions if a.startswith("databases.")], applies, notes

    row, profiles, actions, applies, notes = measure(5)
    assert row.used_mb == 5 and row.frozen_at is None and profiles == ["owner", "readonly"] and not actions
    row, profiles, actions, applies, n_near = measure(9.2)
    assert row.warned_at and row.frozen_at is None and actions == ["databases.usage_notice"] and applies == []
    assert n_near > notes
    row, profiles, actions, applies, n_frozen = measure(10)
    assert row.frozen_at and profiles == ["frozen", "readonly"] and actions[-1] == "databases.write_frozen"
    assert applies == [sorted(ids)] and n_frozen > n_near
    row, profiles, actions, applies, _ = measure(9.5)  # still at 90% or more: stays frozen
    assert row.frozen_at and len(applies) == 1
    row, profiles, actions, applies, _ = measure(3)
    assert row.frozen_at is None and row.warned_at is None and profiles == ["owner", "readonly"]
    assert actions[-1] == "databases.write_unfrozen" and len(applies) == 2


def test_postgresql_usage_freezes_the_database_and_keeps_its_owner(world, make):
    """PostgreSQL: the sweep measures its databases in the same job as MariaDB's (one per host,
    each engine's names apart); at 100% a read-write user gets the frozen profile while an owner
    stays an owner (DROP needs the owner role) and the apply job carries the database itself,
    write_frozen, so the server freezes it; below 90% the job carries it unfrozen. A MariaDB
    database of the same name on the host is measured apart."""
    import json
    from types import SimpleNamespace

    from panel.capabilities.databases.jobs import _apply_build, _usage_done, parse_usage, usage_command, user_state
    from panel.capabilities.databases.models import DbGrant, DbStatus, DbUser, Engine, Profile
    from panel.capabilities.databases.sweeps import usage_collect
    from panel.models.audit import AuditEntry
    from panel.models.jobs import Job
    from panel.services.actor import system_actor
    from provisioners.base import Result

    name = f"mina{world.a.id}_pg"
    with db.unit_of_work() as s:
        s.get(Host, world.host.id).facts = {"db_engines": ["mariadb", "postgresql"]}
        common = {"org_id": world.a.id, "host_id": world.host.id, "status": DbStatus.ACTIVE}
        d = Database(**common, engine=Engine.POSTGRESQL, name=name, size_mb=10, conn_limit=20)
        twin = Database(**common, engine=Engine.MARIADB, name=name, size_mb=10, conn_limit=20)
        pg = {**common, "engine": Engine.POSTGRESQL}
        owner, writer = DbUser(**pg, name=f"mina{world.a.id}_o"), DbUser(**pg, name=f"mina{world.a.id}_w")
        s.add_all([d, twin, owner, writer])
        s.flush()
        owner.grants = [DbGrant(database_id=d.id, profile=Profile.OWNER)]
        writer.grants = [DbGrant(database_id=d.id, profile=Profile.READ_WRITE)]
        did, tid, ids = d.id, twin.id, (owner.id, writer.id)
    swept = usage_collect(system_actor("worker", "scheduler"))
    assert [(j.kind, sorted(j.params["database_ids"])) for j in swept] == [("databases.usage", sorted([did, tid]))]
    job = SimpleNamespace(host_ids=[world.host.id], params={"database_ids": [did, tid]})
    # one fixed command measures both engines (no name sent); each engine's answer is read apart
    command = usage_command([Engine.MARIADB, Engine.POSTGRESQL])
    assert "== mariadb" in command and "== postgresql" in command and name not in command
    answer = f"== mariadb\n{name}\t1048576\nother\t5\n== postgresql\n{name}|{10 * 2**20}\nodd|name|7\nnoise\n"
    assert parse_usage(answer) == {
        Engine.MARIADB: {name: 1048576, "other": 5},
        Engine.POSTGRESQL: {name: 10 * 2**20, "odd|name": 7},
    }
    assert usage_command([Engine.MARIADB]).count("==") == 1

    def measure(pg_mb: float):
        data = {"db_usage_postgresql": {name: int(pg_mb * 2**20)}, "db_usage_mariadb": {name: 2**20}}
        with db.unit_of_work() as s:
            _usage_done(job, s, Result("successful", 0, data=data))
        with db.unit_of_work() as s:
            row, twin = s.get(Database, did), s.get(Database, tid)
            profiles = [user_state(s.get(DbUser, u), {})["grants"][name] for u in ids]
            applies = [j.params for j in s.scalars(select(Job).where(Job.kind == "databases.apply").order_by(Job.id))]
            return row, twin, profiles, applies

    row, twin, profiles, applies = measure(10)
    assert row.used_mb == 10 and row.frozen_at and twin.used_mb == 1 and twin.frozen_at is None
    assert profiles == ["owner", "frozen"]
    assert applies == [{"database_ids": [did], "user_ids": sorted(ids)}]
    apply = SimpleNamespace(host_ids=[world.host.id], params=applies[0], secrets=None)
    with db.unit_of_work() as s:
        sent = json.loads(_apply_build(apply, s)[0]["govhost_db_objects_json"])
    assert sent["databases"] == [
        {"name": name, "state": "present", "conn_limit": 20, "frozen": False, "write_frozen": True}
    ]
    row, twin, profiles, applies = measure(2)
    assert row.frozen_at is None and profiles == ["owner", "readwrite"] and len(applies) == 2
    with db.unit_of_work() as s:
        sent = json.loads(
            _apply_build(SimpleNamespace(host_ids=[world.host.id], params=applies[1], secrets=None), s)[0][
                "govhost_db_objects_json"
            ]
        )
        actions = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_id == str(did)))]
    assert sent["databases"][0]["write_frozen"] is False
    assert {"databases.write_frozen", "databases.write_unfrozen", "databases.usage_notice"} <= set(actions)


def test_remote_access_revoked_before_expiry_audited_and_off_the_server(world, make):
    """A ministry ends its remote access early (automatic: access only shrinks): the row is revoked,
    an audit entry names it, one apply job re-sends the users without the network; another
    ministry gets 404, an access that ended cannot end again, the sweep leaves it alone."""
    import datetime as dt
    import json
    from types import SimpleNamespace

    from panel.capabilities.databases.jobs import _apply_build
    from panel.capabilities.databases.models import DbGrant, DbRemoteAccess, DbStatus, DbUser, Engine, Profile
    from panel.capabilities.databases.sweeps import remote_access_expire
    from panel.errors import Conflict
    from panel.models.audit import AuditEntry
    from panel.models.jobs import Job
    from panel.services import requests as req_svc
    from panel.services.actor import system_actor

    with db.unit_of_work() as s:
        common = {"org_id": world.a.id, "host_id": world.host.id, "engine": Engine.MARIADB, "status": DbStatus.ACTIVE}
        d = Database(**common, name=f"mina{world.a.id}_early", size_mb=100, conn_limit=20)
        user = DbUser(**common, name=f"mina{world.a.id}_eu")
        s.add_all([d, user])
        s.flush()
        user.grants = [DbGrant(database_id=d.id, profile=Profile.READ_WRITE)]
        did, uid = d.id, user.id
    soon = (db.utcnow() + dt.timedelta(days=7)).date().isoformat()
    req = db_svc.db_remote_request(
        world.aa, database_id=did, cidr="198.51.100.0/24", reason="Auditors' office", expires_at=soon
    )
    req_svc.request_approve(world.op, req.id)
    with db.unit_of_work() as s:
        access_id = s.scalars(select(DbRemoteAccess.id)).one()

    def hosts():
        job = SimpleNamespace(host_ids=[world.host.id], params={"database_ids": [], "user_ids": [uid]}, secrets=None)
        with db.unit_of_work() as s:
            return json.loads(_apply_build(job, s)[0]["govhost_db_objects_json"])["users"][0]["hosts"]

    assert hosts() == ["198.51.100.0/255.255.255.0"]
    with pytest.raises(NotFound):  # B cannot end A's access
        db_svc.db_remote_revoke(world.ab, database_id=did, access_id=access_id)
    with pytest.raises(NotFound):  # nor name it under another database
        db_svc.db_remote_revoke(world.aa, database_id=did, access_id=access_id + 1000)
    with db.unit_of_work() as s:
        jobs_before = s.scalars(select(func.count(Job.id))).one()
    done = db_svc.db_remote_revoke(world.aa, database_id=did, access_id=access_id)
    assert (
        done.status.value == "provisioning"
        and done.summary == f"end access to mina{world.a.id}_early from 198.51.100.0/24"
    )
    assert hosts() == []
    with db.unit_of_work() as s:
        row = s.get(DbRemoteAccess, access_id)
        assert row.status.value == "revoked" and row.ended_at is not None
        new = s.scalars(select(Job).order_by(Job.id).offset(jobs_before)).all()
        assert [(j.kind, j.params["user_ids"], j.request_id) for j in new] == [("databases.apply", [uid], done.id)]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "databases.remote_access_revoked")).one()
        assert entry.org_id == world.a.id and entry.object_id == str(access_id) and "198.51.100.0/24" in entry.summary
    with pytest.raises(Conflict) as err:
        db_svc.db_remote_revoke(world.aa, database_id=did, access_id=access_id)
    assert err.value.key == "databases.access_ended"
    with db.unit_of_work() as s:
        s.get(DbRemoteAccess, access_id).expires_at = db.utcnow() - dt.timedelta(minutes=1)
    assert remote_access_expire(system_actor("worker", "scheduler")) == []  # revoked stays revoked


def test_postgresql_users_and_databases_never_share_a_name(world):
    """On PostgreSQL a database is owned by a role of its own name, and roles are one namespace per
    server: a user of that name would BE that role, and deleting the user would run DROP OWNED BY
    it in every tenant database (the database's tables gone). Refused both ways, against live rows
    and against requests on their way, at filing and again at approval, with nothing filed;
    MariaDB keeps users and databases apart, so there the same names are fine."""
    pre = f"mina{world.a.id}_"
    with db.unit_of_work() as s:
        host = s.get(Host, world.host.id)
        host.facts = {"db_engines": ["mariadb", "postgresql"]}
        host.capacities = {"databases": 20}
        rows = {}
        for engine, name in (("postgresql", "ledger"), ("mariadb", "shop")):
            row = Database(
                org_id=world.a.id,
                host_id=host.id,
                engine=engine,
                name=pre + name,
                size_mb=10,
                conn_limit=5,
                status="active",
            )
            s.add(row)
            s.flush()
            rows[name] = row.id
        s.add(DbUser(org_id=world.a.id, host_id=host.id, engine="postgresql", name=pre + "clerk", status="active"))

    def refused(fn, key, clash, **kw):
        with db.unit_of_work() as s:
            before = s.scalar(select(func.count()).select_from(Request))
        with pytest.raises(Conflict) as err:
            fn(world.aa, **kw)
        assert (err.value.key, err.value.field, err.value.status) == (key, "name", 409), err.value
        assert err.value.params["name"] == pre + clash
        with db.unit_of_work() as s:
            assert s.scalar(select(func.count()).select_from(Request)) == before  # nothing filed

    user_clash, db_clash = "databases.user_name_is_database", "databases.database_name_is_user"
    # a user named like a live database (its own, or another of the ministry's)
    refused(db_svc.db_user_create, user_clash, "ledger", database_id=rows["ledger"], name="ledger")
    # a database named like a live user
    refused(db_svc.database_create, db_clash, "clerk", org_id=world.a.id, engine="postgresql", name="clerk")
    # ... and like names still on their way: a database asked for, a user filed
    asked = db_svc.database_create(world.aa, org_id=world.a.id, engine="postgresql", name="books")
    assert asked.status.value == "submitted"
    refused(db_svc.db_user_create, user_clash, "books", database_id=rows["ledger"], name="books")
    teller = db_svc.db_user_create(world.aa, database_id=rows["ledger"], name="teller")
    refused(db_svc.database_create, db_clash, "teller", org_id=world.a.id, engine="postgresql", name="teller")
    # at approval too: a user of the asked database's name that appeared meanwhile stops it
    with db.unit_of_work() as s:
        s.add(DbUser(org_id=world.a.id, host_id=world.host.id, engine="postgresql", name=pre + "books"))
    with pytest.raises(Conflict) as err:
        requests.request_approve(world.op, asked.id)
    assert err.value.key == db_clash
    with db.unit_of_work() as s:
        assert s.scalars(select(Database).where(Database.name == pre + "books")).first() is None
    # MariaDB: a user may bear its database's name
    assert db_svc.db_user_create(world.aa, database_id=rows["shop"], name="shop").request.status.value != "failed"
    assert teller.request.payload["name"] == pre + "teller"
