"""User management: validation, role rules, scoping; a ministry admin of A gets 404 for B's users
on the web, the API and the CLI."""

from __future__ import annotations

import re

import pytest

from panel.errors import Forbidden, Invalid, NotFound
from panel.models.tenants import Role
from panel.services import tokens as tokens_svc
from panel.services import users as users_svc
from tests.auth.conftest import audit_rows, login, post_form, reload_user


@pytest.fixture
def admin_a(make, ministry_a):
    return make.make_user(Role.ORG_ADMIN, ministry_a, username="admina")


@pytest.fixture
def user_b(make, ministry_b):
    return make.make_user(Role.WEBMASTER, ministry_b, username="userb")


def test_create_validates_and_returns_a_one_time_password(booted, make, admin_a, ministry_a, dc):
    a = make.actor_of(admin_a)
    base = {
        "username": "clerk",
        "email": "clerk@example.gov.kh",
        "full_name": "Clerk",
        "org_id": ministry_a.id,
        "role": "webmaster",
    }
    for bad, key in (
        ({"username": "Bad Name"}, "user.username_invalid"),
        ({"username": "ab"}, "user.username_invalid"),
        ({"username": "x;id"}, "user.username_invalid"),
        ({"email": "no-at-sign"}, "user.email_invalid"),
        ({"full_name": "a\x00b"}, "user.full_name_invalid"),
        ({"role": "root"}, "user.role_invalid"),
        ({"role": "admin"}, "user.role_org_mismatch"),
    ):
        with pytest.raises(Invalid) as e:
            users_svc.user_create(a, **{**base, **bad})
        assert e.value.key == key, bad
    with pytest.raises(NotFound):  # the data center is not the ministry admin's organization
        users_svc.user_create(a, **{**base, "org_id": dc.id, "role": "operator"})
    user, otp = users_svc.user_create(a, **base)
    assert len(otp) == 20 and reload_user(user.id).must_change_password
    with pytest.raises(Invalid) as e:
        users_svc.user_create(a, **base)
    assert e.value.key == "user.username_taken"
    entry = audit_rows("user.create")[-1]
    assert entry.org_id == ministry_a.id and otp not in entry.summary


def test_staff_roles_only_in_the_datacenter(booted, make, staff_admin, ministry_a, dc):
    a = make.actor_of(staff_admin)
    with pytest.raises(Invalid) as e:
        users_svc.user_create(
            a, username="op2", email="op2@dc.gov.kh", full_name="", org_id=ministry_a.id, role="operator"
        )
    assert e.value.key == "user.role_org_mismatch"
    op, _otp = users_svc.user_create(
        a, username="op2", email="op2@dc.gov.kh", full_name="", org_id=dc.id, role="operator"
    )
    users_svc.user_set_role(a, op.id, org_id=dc.id, role="admin")
    assert [m.role for m in reload_user(op.id).memberships] == [Role.ADMIN]


@pytest.mark.parametrize(
    "password, key",
    [
        ("short1A", "user.password_too_short"),
        ("aaaaaaaaaaaaaaaa", "user.password_one_class"),
        ("1234567890123", "user.password_one_class"),
        ("xx-webmaster-99", "user.password_contains_username"),
    ],
)
def test_password_policy_names_the_broken_rule(booted, make, webmaster, password, key):
    from tests.support.factories import PASSWORD

    with pytest.raises(Invalid) as e:
        users_svc.password_change(make.actor_of(webmaster), old_password=PASSWORD, new_password=password)
    assert e.value.key == key and e.value.field == "new_password"


def test_reset_password_ends_sessions_and_is_forced_to_change(client, make, admin_a, webmaster):
    login(client, "webmaster")
    assert client.get("/").status_code == 200
    _u, otp = users_svc.user_reset_password(make.actor_of(admin_a), webmaster.id)
    assert client.get("/").status_code == 302  # the old session ended
    assert login(client, "webmaster", otp).headers["Location"] == "/password"
    assert otp not in " ".join(e.summary for e in audit_rows())


def test_webmaster_cannot_manage_users(booted, make, webmaster):
    with pytest.raises(Forbidden):
        users_svc.user_list(make.actor_of(webmaster))


def test_org_admin_cannot_take_over_an_account_shared_with_another_ministry(
    booted, make, admin_a, user_b, ministry_a, staff_admin
):
    users_svc.user_set_role(make.actor_of(staff_admin), user_b.id, org_id=ministry_a.id, role="webmaster")
    a = make.actor_of(admin_a)
    assert users_svc.user_get(a, user_b.id).username == "userb"  # visible: a member of ministry A now
    with pytest.raises(Forbidden) as e:
        users_svc.user_reset_password(a, user_b.id)
    assert e.value.key == "user.foreign"


def test_cross_ministry_404_in_services(booted, make, admin_a, user_b, ministry_a):
    a = make.actor_of(admin_a)
    for call in (
        lambda: users_svc.user_get(a, user_b.id),
        lambda: users_svc.user_reset_password(a, user_b.id),
        lambda: users_svc.user_reset_2fa(a, user_b.id),
        lambda: users_svc.user_deactivate(a, user_b.id),
        lambda: users_svc.user_set_role(a, user_b.id, org_id=ministry_a.id, role="webmaster"),
    ):
        with pytest.raises(NotFound) as e:
            call()
        assert e.value.key == "user.not_found"
    assert [u.username for u in users_svc.user_list(a).items] == ["admina"]


def test_cross_ministry_404_on_the_web(client, make, admin_a, user_b):
    login(client, "admina")
    listing = client.get("/users/").get_data(as_text=True)
    assert "admina" in listing and "userb" not in listing
    assert client.get(f"/users/{user_b.id}").status_code == 404
    for action in ("reset-password", "reset-2fa", "deactivate"):
        r = post_form(client, f"/users/{user_b.id}/{action}", {}, page="/users/")
        assert r.status_code == 404, action
    r = post_form(client, f"/users/{user_b.id}/roles", {"org_id": "1", "role": "webmaster"}, page="/users/")
    assert r.status_code == 404
    assert reload_user(user_b.id).is_active


def test_cross_ministry_404_on_the_api(client, make, admin_a, user_b, ministry_a):
    _t, token = tokens_svc.token_create(make.actor_of(admin_a), name="t", scope="write", days=1)
    h = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/users/{user_b.id}", headers=h).json["key"] == "user.not_found"
    for path, body in (
        ("reset-password", None),
        ("reset-2fa", None),
        ("roles", {"org_id": ministry_a.id, "role": "webmaster"}),
    ):
        r = client.post(f"/api/v1/users/{user_b.id}/{path}", headers=h, json=body)
        assert r.status_code == 404 and r.json["key"] == "user.not_found", path
    listed = client.get("/api/v1/users/", headers=h).json
    assert [u["username"] for u in listed["items"]] == ["admina"]


def test_cross_ministry_404_on_the_cli(cli, make, admin_a, user_b):
    for args in (
        ("reset-password", "userb"),
        ("reset-2fa", "userb"),
        ("deactivate", "userb"),
        ("set-role", "userb", "--org", "min-a", "--role", "webmaster"),
    ):
        r = cli("users", *args, "--as", "admina")
        assert r.exit_code == 2 and "Not found" in r.output, args
    assert "userb" not in cli("users", "list", "--as", "admina").output


def test_web_create_shows_the_one_time_password_once(client, make, admin_a, ministry_a):
    login(client, "admina")
    r = post_form(
        client,
        "/users/new",
        {
            "username": "newclerk",
            "email": "nc@example.gov.kh",
            "full_name": "N C",
            "org_id": str(ministry_a.id),
            "role": "webmaster",
        },
    )
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    otp = re.search(r'id="one-time-password">([A-Za-z0-9]{20})<', r.get_data(as_text=True)).group(1)
    bad = post_form(
        client, "/users/new", {"username": "{{ 7*7 }}", "email": "x", "org_id": str(ministry_a.id), "role": "admin"}
    )
    page = bad.get_data(as_text=True)
    # the value comes back as typed, escaped, never evaluated (a bare "49" could be inside a CSRF token)
    assert bad.status_code == 422 and 'value="{{ 7*7 }}"' in page and 'value="49"' not in page
    client.post("/logout", data={})  # no token: refused, still logged in
    detail = client.get("/users/").get_data(as_text=True)
    assert "newclerk" in detail and otp not in detail


def test_cli_users_create_list_reset(cli, make, dc):
    r = cli("users", "create", "ops1", "--email", "ops1@dc.gov.kh", "--org", "dc", "--role", "operator")
    assert r.exit_code == 0, r.output
    otp = re.search(r"one-time password: (\S+)", r.output).group(1)
    assert len(otp) == 20
    assert "ops1" in cli("users", "list").output
    again = cli("users", "reset-password", "ops1")
    assert again.exit_code == 0 and otp not in again.output
    bad = cli("users", "create", "Bad;Name", "--email", "x@y.kh", "--org", "dc", "--role", "operator")
    assert bad.exit_code == 2


def test_hostile_ids_and_search_never_500(client, make, admin_a):
    _t, token = tokens_svc.token_create(make.actor_of(admin_a), name="t", scope="write", days=1)
    h = {"Authorization": f"Bearer {token}"}
    for path in ("/api/v1/users/99999999999999999999", "/api/v1/users/2147483648"):
        assert client.get(path, headers=h).status_code == 404
    assert client.delete("/api/v1/tokens/99999999999999999999", headers=h).status_code == 404
    for q in ("a\x00b", "{{ 7*7 }}", "; id", "../", "ក្រសួង", "%_\\", "x" * 300):
        r = client.get("/api/v1/users/", headers=h, query_string={"q": q})
        assert r.status_code in (200, 422), (q, r.status_code)
    login(client, "admina")
    assert client.get("/users/?q=a%00b").status_code == 200
    assert client.get("/users/99999999999999999999").status_code == 404
