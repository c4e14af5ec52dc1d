"""Organizations through the service: rules, scoping, permissions, one audit entry per change."""

from __future__ import annotations

import pytest

from panel.errors import Conflict, Forbidden, Invalid, NotFound
from panel.models.tenants import OrgKind
from panel.services import tenants
from tests.support.surfaces import audit_count


def test_admin_creates_ministry_and_department(world):
    admin = world.actor("admin")
    m = tenants.org_create(admin, slug="moe", name="Ministry of Education", name_km="ក្រសួងអប់រំ", kind="ministry")
    d = tenants.org_create(admin, slug="moe-it", name="MoE IT", kind="department", parent_id=m.id)
    assert (m.kind, d.kind, d.parent_id) == (OrgKind.MINISTRY, OrgKind.DEPARTMENT, m.id)
    assert tenants.org_get(admin, d.id).name == "MoE IT"


@pytest.mark.parametrize(
    "slug", ["", "A", "1abc", "a", "ab_c", "moe; id", "../x", "{{7*7}}", "a" * 64, "mo\x00e", "ក្រសួង"]
)
def test_bad_slugs_are_refused(world, slug):
    with pytest.raises(Invalid) as e:
        tenants.org_create(world.actor("admin"), slug=slug, name="X", kind="ministry")
    assert e.value.key == "organization.slug_invalid" and e.value.field == "slug"


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "line\nbreak", "x" * 201])
def test_bad_names_are_refused(world, name):
    with pytest.raises(Invalid) as e:
        tenants.org_create(world.actor("admin"), slug="okslug", name=name, kind="ministry")
    assert e.value.field == "name"


def test_department_rules(world):
    admin = world.actor("admin")
    with pytest.raises(Invalid, match="needs its ministry"):
        tenants.org_create(admin, slug="d1", name="D", kind="department")
    with pytest.raises(Invalid) as e:
        tenants.org_create(admin, slug="d2", name="D", kind="department", parent_id=world.a_dept.id)
    assert e.value.key == "organization.parent_invalid"
    with pytest.raises(Invalid) as e:
        tenants.org_create(admin, slug="m2", name="M", kind="ministry", parent_id=world.a.id)
    assert e.value.key == "organization.parent_not_allowed"
    with pytest.raises(Conflict) as e:
        tenants.org_create(admin, slug="dc2", name="Second DC", kind="datacenter")
    assert e.value.key == "organization.datacenter_exists"
    with pytest.raises(Conflict) as e:
        tenants.org_create(admin, slug="mptc", name="Dup", kind="ministry")
    assert e.value.key == "organization.slug_taken"


@pytest.mark.parametrize("who", ["auditor", "operator", "a_admin", "a_web"])
def test_only_staff_admins_create(world, who):
    before = audit_count()
    with pytest.raises(Forbidden):
        tenants.org_create(world.actor(who), slug="newmin", name="New", kind="ministry")
    assert audit_count() == before


def test_ministry_users_see_their_ministry_and_departments_only(world):
    seen = {o.slug for o in tenants.org_list(world.actor("a_web"), 1, 50).items}
    assert seen == {"mptc", "mptc-it"}
    assert {o.slug for o in tenants.org_list(world.actor("auditor"), 1, 50).items} >= {"dc", "mptc", "mptc-it", "moh"}
    with pytest.raises(NotFound):
        tenants.org_get(world.actor("a_admin"), world.b.id)
    with pytest.raises(NotFound):
        tenants.org_members(world.actor("a_admin"), world.b.id)
    with pytest.raises(NotFound):
        tenants.org_find(world.actor("a_admin"), "moh")
    for bad in (0, -1, 2**64, "x; id", None):
        with pytest.raises(NotFound):
            tenants.org_get(world.actor("admin"), bad)


def test_search_is_literal(world):
    admin = world.actor("admin")
    assert [o.slug for o in tenants.org_list(admin, 1, 50, q="health").items] == ["moh"]
    assert tenants.org_list(admin, 1, 50, q="%").total == 0
    with pytest.raises(Invalid):
        tenants.org_list(admin, 1, 50, q="a\x00")


def test_org_admin_renames_own_ministry_not_others(world):
    a_admin = world.actor("a_admin")
    assert tenants.org_update(a_admin, id=world.a.id, name="MPTC", name_km="ក្រសួងប្រៃសណីយ៍").name == "MPTC"
    assert tenants.org_update(a_admin, id=world.a_dept.id, name="IT").name == "IT"
    with pytest.raises(NotFound):
        tenants.org_update(a_admin, id=world.b.id, name="Mine now")
    with pytest.raises(Forbidden):
        tenants.org_update(world.actor("a_web"), id=world.a.id, name="Webmaster was here")
    with pytest.raises(Forbidden):
        tenants.org_update(world.actor("auditor"), id=world.a.id, name="Auditor was here")


def test_deactivate_rules(world):
    admin = world.actor("admin")
    with pytest.raises(Conflict, match="departments first"):
        tenants.org_deactivate(admin, id=world.a.id)
    tenants.org_deactivate(admin, id=world.a_dept.id)
    assert tenants.org_deactivate(admin, id=world.a.id).is_active is False
    with pytest.raises(Conflict):
        tenants.org_deactivate(admin, id=world.a.id)
    with pytest.raises(Conflict):
        tenants.org_deactivate(admin, id=world.dc.id)
    with pytest.raises(Forbidden):
        tenants.org_deactivate(world.actor("b_admin"), id=world.b.id)


def test_members(world):
    page = tenants.org_members(world.actor("a_web"), world.a.id)
    assert {u.username for u in page.items} == {"a_admin", "a_web"}
    assert {tuple(tenants.roles_in(u, world.a.id)) for u in page.items} == {("org_admin",), ("webmaster",)}


def test_every_change_writes_exactly_one_audit_entry(world):
    admin = world.actor("admin")
    calls = [
        ("org.create", lambda: tenants.org_create(admin, slug="moe", name="MoE", kind="ministry")),
        ("org.update", lambda: tenants.org_update(admin, id=world.b.id, name="MoH")),
        ("org.deactivate", lambda: tenants.org_deactivate(admin, id=world.b.id)),
    ]
    for action, call in calls:
        before, before_action = audit_count(), audit_count(action)
        obj = call()
        assert (audit_count(), audit_count(action)) == (before + 1, before_action + 1), action
        from_list = tenants.org_get(admin, obj.id)
        assert from_list.id == obj.id
    before = audit_count()
    tenants.org_list(admin, 1, 50)
    tenants.org_get(admin, world.a.id)
    tenants.org_members(admin, world.a.id)
    assert audit_count() == before
