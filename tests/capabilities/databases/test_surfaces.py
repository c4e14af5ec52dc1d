"""Tenant databases on each surface without the lab: web, API and CLI each file the same request
through one service function; a generated password is shown once (page not cached, API answer,
CLI output) and is nowhere else; ministry A never sees B's databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from panel import db
from panel.capabilities.databases.models import Database, DbGrant, DbStatus, DbUser, Profile
from panel.models.hosts import Host
from panel.models.requests import Request
from panel.models.tenants import Role
from tests.support.fixtures import csrf_from

SECRET = "Zq9!unique-db-secret"


@pytest.fixture
def two(make):
    a, b = make.make_org("Ministry A", slug="mina"), make.make_org("Ministry B", slug="minb")
    ua, ub = make.make_user(Role.ORG_ADMIN, a), make.make_user(Role.ORG_ADMIN, b)
    host = make.make_host("db1", roles={"db"}, address="10.77.0.250", facts={"db_engines": ["mariadb"]})
    with db.unit_of_work() as s:
        ids = {}
        for key, org in (("a", a), ("b", b)):
            row = Database(
                org_id=org.id,
                host_id=host.id,
                engine="mariadb",
                name=f"min{key}{org.id}_shop",
                size_mb=100,
                conn_limit=5,
                status=DbStatus.ACTIVE,
            )
            s.add(row)
            s.flush()
            user = DbUser(
                org_id=org.id, host_id=host.id, engine="mariadb", name=f"min{key}{org.id}_app", status=DbStatus.ACTIVE
            )
            user.grants = [DbGrant(database_id=row.id, profile=Profile.OWNER)]
            s.add(user)
            s.flush()
            ids[key], ids[f"u{key}"] = row.id, user.id
    return type("Two", (), {"a": a, "b": b, "ua": ua, "ub": ub, "ids": ids, "host": host})


def _dump() -> str:
    with db.unit_of_work() as s:
        return "\n".join(
            str(row)
            for t in ("requests", "jobs", "audit_entries", "tenant_db_users", "job_events", "notifications")
            for row in s.execute(text(f"SELECT * FROM {t}"))  # noqa: S608 (fixed names)
        )


def test_web_list_isolation_new_user_shows_password_once(login_as, two):
    c = login_as(two.ua)
    page = c.get("/databases/").get_data(as_text=True)
    assert f"mina{two.a.id}_shop" in page and "minb" not in page
    with db.unit_of_work() as s:
        s.get(Database, two.ids["a"]).used_mb = 42  # as a usage job would record it
    detail = c.get(f"/databases/{two.ids['a']}").get_data(as_text=True)
    assert "42 measured in its databases; 0 of 10,240 budgeted" in detail  # the ministry's storage
    assert c.get(f"/databases/{two.ids['b']}").status_code == 404
    assert c.get(f"/databases/users/{two.ids['ub']}").status_code == 404
    token = csrf_from(c.get(f"/databases/{two.ids['a']}").get_data(as_text=True))
    r = c.post(f"/databases/{two.ids['a']}/users", data={"csrf_token": token, "name": "a`b;", "profile": "owner"})
    assert r.status_code == 422 and "may hold only" in r.get_data(as_text=True)
    r = c.post(f"/databases/{two.ids['a']}/users", data={"csrf_token": token, "name": "x", "password": "weakweakweak"})
    assert r.status_code == 422 and "weakweakweak" not in r.get_data(as_text=True)
    r = c.post(f"/databases/{two.ids['a']}/users", data={"csrf_token": token, "name": "report", "profile": "readonly"})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    shown = html.split('id="issued-password">', 1)[1].split("<", 1)[0]
    assert len(shown) >= 20 and shown not in _dump()
    with db.unit_of_work() as s:
        assert s.scalars(select(DbUser).where(DbUser.name == f"mina{two.a.id}_report")).one().status == DbStatus.PENDING
    # A password the user chose is never echoed: the answer is a redirect to the request.
    r = c.post(
        f"/databases/{two.ids['a']}/users",
        data={"csrf_token": token, "name": "own", "profile": "owner", "password": SECRET},
    )
    assert r.status_code == 302 and SECRET not in _dump()


def test_api_isolation_limits_and_password_in_the_answer_only(client, token_for, two):
    h = token_for(two.ua)
    names = [d["name"] for d in client.get("/api/v1/databases", headers=h).json["items"]]
    assert names == [f"mina{two.a.id}_shop"]
    assert client.get(f"/api/v1/databases/{two.ids['b']}", headers=h).status_code == 404
    assert client.delete(f"/api/v1/databases/{two.ids['b']}", headers=h).status_code == 404
    assert client.post(f"/api/v1/databases/users/{two.ids['ub']}/password", headers=h, json={}).status_code == 404
    for bad in ("a'b", "a`b", "a;b", "a%b", "a\x00b", "x" * 40):
        r = client.post(f"/api/v1/databases/{two.ids['a']}/users", headers=h, json={"name": bad})
        assert r.status_code == 422, bad
    r = client.post("/api/v1/databases", headers=h, json={"org_id": two.a.id, "engine": "mariadb", "name": "mysql"})
    assert r.status_code == 422 and r.json["key"] == "databases.name_reserved"
    r = client.post(
        "/api/v1/databases", headers=h, json={"org_id": two.a.id, "engine": "mariadb", "name": "x", "size_mb": 5}
    )
    assert r.status_code == 422
    r = client.post(f"/api/v1/databases/{two.ids['a']}/users", headers=h, json={"name": "api", "profile": "readwrite"})
    assert r.status_code == 201 and len(r.json["password"]) >= 20
    assert r.json["password"] not in _dump()
    r = client.post(f"/api/v1/databases/users/{two.ids['ua']}/password", headers=h, json={"password": SECRET})
    assert r.status_code == 201 and r.json["password"] is None and SECRET not in r.get_data(as_text=True)
    ro = token_for(two.ua, scope="read")
    assert client.delete(f"/api/v1/databases/{two.ids['a']}", headers=ro).status_code == 403


def test_cli_isolation_and_password_printed_once(cli, two):
    r = cli("databases", "users", f"minb{two.b.id}_shop", "--as", two.ua.username)
    assert r.exit_code == 2 and "not_found" in r.output
    r = cli("databases", "list", "--as", two.ua.username)
    assert r.exit_code == 0 and f"mina{two.a.id}_shop" in r.output and "minb" not in r.output
    r = cli("databases", "user-add", f"mina{two.a.id}_shop", "cli", "--as", two.ua.username)
    assert r.exit_code == 0, r.output
    password = r.output.strip().splitlines()[-1]
    assert len(password) >= 20 and password not in _dump()
    r = cli("databases", "user-add", f"mina{two.a.id}_shop", "bad;name", "--as", two.ua.username)
    assert r.exit_code == 2
    r = cli(
        "databases",
        "user-password",
        f"mina{two.a.id}_app",
        "--ask-password",
        "--as",
        two.ua.username,
        input=f"{SECRET}\n{SECRET}\n",
    )
    assert r.exit_code == 0 and SECRET not in r.output and SECRET not in _dump()


def test_site_links_on_every_surface(login_as, client, token_for, cli, make, two):
    """A site of the ministry uses its database (web form, API, CLI); B's site or database is a 404."""
    web = make.make_host("web1", roles={"web"})
    sa, sb = make.make_site(two.a, "a.gov.test", host=web), make.make_site(two.b, "b.gov.test", host=web)
    c = login_as(two.ua)
    page = c.get(f"/databases/{two.ids['a']}").get_data(as_text=True)
    assert "a.gov.test" in page and "b.gov.test" not in page  # the form offers A's own sites only
    token = csrf_from(page)
    r = c.post(f"/databases/{two.ids['a']}/links", data={"csrf_token": token, "workload_id": str(sb.id)})
    assert r.status_code == 422  # not a choice
    r = c.post(f"/databases/{two.ids['a']}/links", data={"csrf_token": token, "workload_id": str(sa.id)})
    assert r.status_code == 302
    h = token_for(two.ua)
    got = client.get(f"/api/v1/databases/{two.ids['a']}/links", headers=h)
    assert got.status_code == 200 and got.json == [{"kind": "site", "workload_id": sa.id, "name": "a.gov.test"}]
    assert client.get(f"/api/v1/databases/{two.ids['b']}/links", headers=h).status_code == 404
    r = client.post(f"/api/v1/databases/{two.ids['a']}/links", headers=h, json={"workload_id": sb.id})
    assert r.status_code == 404
    r = client.post(f"/api/v1/databases/{two.ids['a']}/links", headers=h, json={"workload_id": "x"})
    assert r.status_code == 422
    r = client.post(f"/api/v1/databases/{two.ids['a']}/links", headers=h, json={"workload_id": sa.id, "linked": False})
    assert r.status_code == 201 and r.json["summary"] == f"a.gov.test no longer uses mina{two.a.id}_shop"
    r = cli("databases", "link", f"mina{two.a.id}_shop", str(sa.id), "--as", two.ua.username)
    assert r.exit_code == 0, r.output
    r = cli("databases", "links", f"mina{two.a.id}_shop", "--as", two.ua.username)
    assert r.exit_code == 0 and "a.gov.test" in r.output
    r = cli("databases", "link", f"mina{two.a.id}_shop", str(sb.id), "--as", two.ua.username)
    assert r.exit_code == 2 and "not_found" in r.output


def test_remote_access_on_every_surface(login_as, client, token_for, cli, two):
    """Web form, API and CLI file the same remote-access request; errors name the field."""
    import datetime as dt

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=5)).date().isoformat()
    c = login_as(two.ua)
    token = csrf_from(c.get(f"/databases/{two.ids['a']}").get_data(as_text=True))
    form = {"csrf_token": token, "cidr": "198.51.100.0/24", "reason": "Reporting office", "expires_at": until}
    r = c.post(f"/databases/{two.ids['a']}/remote", data={**form, "cidr": "198.51.100.9/24"})
    assert r.status_code == 422 and "host bits zero" in r.get_data(as_text=True)
    r = c.post(f"/databases/{two.ids['a']}/remote", data=form)
    assert r.status_code == 302
    h = token_for(two.ua)
    body = {"cidr": "192.0.2.0/28", "reason": "Auditors' laptop", "expires_at": until}
    assert client.post(f"/api/v1/databases/{two.ids['b']}/remote", headers=h, json=body).status_code == 404
    r = client.post(f"/api/v1/databases/{two.ids['a']}/remote", headers=h, json={**body, "expires_at": "2001-01-01"})
    assert r.status_code == 422 and r.json["key"] == "databases.expiry_range"
    r = client.post(f"/api/v1/databases/{two.ids['a']}/remote", headers=h, json=body)
    assert r.status_code == 201 and r.json["status"] == "submitted"
    assert client.get(f"/api/v1/databases/{two.ids['a']}/remote", headers=h).json == []  # none approved yet
    r = cli(
        "databases", "remote-add", f"mina{two.a.id}_shop", "10.0.0.0/8", "--reason", "Branch office",
        "--until", until, "--as", two.ua.username,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = cli(
        "databases", "remote-add", f"mina{two.a.id}_shop", "10.0.0.1/8", "--reason", "Branch office",
        "--until", until, "--as", two.ua.username,
    )  # fmt: skip
    assert r.exit_code == 2 and "cidr_invalid" in r.output
    assert cli("databases", "remote", f"mina{two.a.id}_shop", "--as", two.ua.username).exit_code == 0


def test_drift_on_every_surface_staff_only(login_as, client, token_for, cli, make, two):
    """The drift page, API and CLI show each DB host's last check to DC staff; admins and operators
    submit checks and repairs (jobs); a ministry is refused everywhere, an auditor only reads."""
    import pyotp

    from panel.models.jobs import Job
    from panel.models.tenants import OrgKind

    dc = make.make_org("DC", kind=OrgKind.DATACENTER, slug="dc")
    secret = pyotp.random_base32()  # staff sign in with TOTP
    op = make.make_user(Role.OPERATOR, dc, totp_secret=secret)
    op.plain_secret = secret
    auditor = make.make_user(Role.AUDITOR, dc)
    item = {
        "kind": "grant_extra",
        "name": f"mina{two.a.id}_app",
        "where": "192.0.2.5 appx_keep",
        "detail": "Select_priv",
    }
    with db.unit_of_work() as s:
        h = s.get(Host, two.host.id)
        h.facts = {
            **h.facts,
            "db_drift": {
                "checked_at": "2026-12-07T01:00:00",
                "job_id": 7,
                "repair": False,
                "engines": {"mariadb": {"count": 1, "items": [item], "before": 1}},
            },
        }
    c = login_as(op)
    page = c.get("/databases/drift")
    assert page.status_code == 200
    text_ = page.get_data(as_text=True)
    assert "grant_extra" in text_ and "192.0.2.5 appx_keep" in text_
    token = csrf_from(text_)
    r = c.post(f"/databases/drift/{two.host.id}/repair", data={"csrf_token": token})
    assert r.status_code == 302 and "/jobs/" in r.headers["Location"]
    assert c.post("/databases/drift/999999/repair", data={"csrf_token": token}).status_code == 404
    with db.unit_of_work() as s:
        jobs = [(j.kind, j.params) for j in s.scalars(select(Job).where(Job.kind == "databases.drift"))]
    assert jobs == [("databases.drift", {"repair": True})]
    assert login_as(two.ua).get("/databases/drift").status_code in (403, 404)
    ha, hs, hr = token_for(two.ua), token_for(op), token_for(auditor, scope="read")
    got = client.get("/api/v1/databases/drift", headers=hs)
    assert got.status_code == 200 and got.json[0]["found"]["mariadb"]["items"] == [item] and got.json[0]["count"] == 1
    assert client.get("/api/v1/databases/drift", headers=hr).status_code == 200
    assert client.get("/api/v1/databases/drift", headers=ha).status_code in (403, 404)
    assert client.post("/api/v1/databases/drift/check", headers=hr).status_code == 403
    assert client.post(f"/api/v1/databases/drift/{two.host.id}/repair", headers=ha).status_code in (403, 404)
    r = client.post("/api/v1/databases/drift/check", headers=hs)
    assert r.status_code == 202 and [j["kind"] for j in r.json] == ["databases.drift"]
    r = cli("databases", "drift", "--as", op.username)
    assert r.exit_code == 0 and "grant_extra" in r.output and "1 difference" in r.output
    assert cli("databases", "drift", "--as", two.ua.username).exit_code == 2
    r = cli("databases", "drift-repair", str(two.host.id), "--as", op.username)
    assert r.exit_code == 0 and "databases.drift" in r.output
    assert cli("databases", "drift-repair", "999999", "--as", op.username).exit_code == 2


def test_remote_access_revoke_on_every_surface(login_as, client, token_for, cli, two):
    """The database page's button, DELETE /api/v1/databases/{id}/remote/{access_id} and
    'databases remote-revoke' file the same automatic revoke; B's access or database is a 404."""
    import datetime as dt

    from panel.capabilities.databases.models import DbRemoteAccess

    with db.unit_of_work() as s:
        rows = [
            DbRemoteAccess(
                org_id=org.id,
                database_id=two.ids[key],
                cidr=cidr,
                reason="Reporting office",
                expires_at=db.utcnow() + dt.timedelta(days=5),
            )
            for org, key, cidr in (
                (two.a, "a", "198.51.100.0/24"),
                (two.a, "a", "192.0.2.0/28"),
                (two.a, "a", "203.0.113.0/24"),
                (two.b, "b", "198.51.100.0/24"),
            )
        ]
        s.add_all(rows)
        s.flush()
        web_id, api_id, cli_id, theirs = (r.id for r in rows)
    c = login_as(two.ua)
    page = c.get(f"/databases/{two.ids['a']}").get_data(as_text=True)
    assert f"/databases/{two.ids['a']}/remote/{web_id}/revoke" in page
    token = csrf_from(page)
    r = c.post(f"/databases/{two.ids['a']}/remote/{theirs}/revoke", data={"csrf_token": token})
    assert r.status_code == 404
    r = c.post(f"/databases/{two.ids['a']}/remote/{web_id}/revoke", data={"csrf_token": token})
    assert r.status_code == 302
    h = token_for(two.ua)
    assert client.delete(f"/api/v1/databases/{two.ids['b']}/remote/{theirs}", headers=h).status_code == 404
    assert client.delete(f"/api/v1/databases/{two.ids['a']}/remote/{theirs}", headers=h).status_code == 404
    r = client.delete(f"/api/v1/databases/{two.ids['a']}/remote/{api_id}", headers=h)
    assert r.status_code == 201 and r.json["kind"] == "databases.remote_revoke"
    r = client.delete(f"/api/v1/databases/{two.ids['a']}/remote/{api_id}", headers=h)
    assert r.status_code == 409 and r.json["key"] == "databases.access_ended"
    ro = token_for(two.ua, scope="read")
    assert client.delete(f"/api/v1/databases/{two.ids['a']}/remote/{cli_id}", headers=ro).status_code == 403
    r = cli("databases", "remote-revoke", f"mina{two.a.id}_shop", str(theirs), "--as", two.ua.username)
    assert r.exit_code == 2 and "not_found" in r.output
    r = cli("databases", "remote-revoke", f"mina{two.a.id}_shop", str(cli_id), "--as", two.ua.username)
    assert r.exit_code == 0 and "databases.remote_revoke" in r.output, r.output
    with db.unit_of_work() as s:
        states = {r.id: r.status.value for r in s.scalars(select(DbRemoteAccess))}
    assert states == {web_id: "revoked", api_id: "revoked", cli_id: "revoked", theirs: "active"}


def test_postgresql_user_named_like_a_database_refused_on_every_surface(login_as, client, token_for, cli, two):
    """On PostgreSQL a database's owner role bears its name: a user of that name (it would be that
    role; deleting it would DROP OWNED BY it in every tenant database) is refused with the rule's
    key on the form, the API (problem+json 409) and the CLI (exit 2), and so is a database named
    like a user; nothing is filed."""
    pre = f"mina{two.a.id}_"
    with db.unit_of_work() as s:
        s.get(Host, two.host.id).facts = {"db_engines": ["mariadb", "postgresql"]}
        row = Database(
            org_id=two.a.id,
            host_id=two.host.id,
            engine="postgresql",
            name=pre + "ledger",
            size_mb=100,
            conn_limit=5,
            status=DbStatus.ACTIVE,
        )
        s.add(row)
        s.add(DbUser(org_id=two.a.id, host_id=two.host.id, engine="postgresql", name=pre + "clerk", status="active"))
        s.flush()
        ledger = row.id
    user_rule = "is the name of a PostgreSQL database"
    c = login_as(two.ua)
    token = csrf_from(c.get(f"/databases/{ledger}").get_data(as_text=True))
    r = c.post(f"/databases/{ledger}/users", data={"csrf_token": token, "name": "ledger", "profile": "owner"})
    assert r.status_code == 409 and user_rule in r.get_data(as_text=True)
    token = csrf_from(c.get("/databases/new").get_data(as_text=True))
    r = c.post(
        "/databases/new",
        data={
            "csrf_token": token,
            "org_id": two.a.id,
            "engine": "postgresql",
            "name": "clerk",
            "size_mb": 100,
            "conn_limit": 5,
        },
    )
    assert r.status_code == 409 and "is the name of a PostgreSQL user" in r.get_data(as_text=True)

    h = token_for(two.ua)
    r = client.post(f"/api/v1/databases/{ledger}/users", headers=h, json={"name": "ledger"})
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    assert r.json["key"] == "databases.user_name_is_database" and r.json["field"] == "name"
    r = client.post("/api/v1/databases", headers=h, json={"org_id": two.a.id, "engine": "postgresql", "name": "clerk"})
    assert r.status_code == 409 and r.json["key"] == "databases.database_name_is_user"
    spec = client.get("/api/v1/openapi.json").get_data(as_text=True)
    assert "databases.user_name_is_database" in spec and "databases.database_name_is_user" in spec

    r = cli("databases", "user-add", pre + "ledger", "ledger", "--as", two.ua.username)
    assert r.exit_code == 2 and "user_name_is_database" in r.output, r.output
    r = cli("databases", "create", "clerk", "--org", str(two.a.id), "--engine", "postgresql", "--as", two.ua.username)
    assert r.exit_code == 2 and "database_name_is_user" in r.output, r.output
    with db.unit_of_work() as s:
        assert s.scalars(select(Request)).first() is None
