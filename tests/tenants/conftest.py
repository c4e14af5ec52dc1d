"""Two ministries with a department, their users, and data-center staff."""

from __future__ import annotations

import pytest

from panel.models.tenants import OrgKind, Role


@pytest.fixture
def world(make):
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    a = make.make_org("Ministry of Posts", slug="mptc")
    a_dept = make.make_org("MPTC IT Department", kind=OrgKind.DEPARTMENT, parent=a, slug="mptc-it")
    b = make.make_org("Ministry of Health", slug="moh")
    users = {
        "admin": make.make_user(Role.ADMIN, dc, username="dcadmin"),
        "auditor": make.make_user(Role.AUDITOR, dc, username="dcauditor"),
        "operator": make.make_user(Role.OPERATOR, dc, username="dcoperator"),
        "a_admin": make.make_user(Role.ORG_ADMIN, a, username="a_admin"),
        "a_web": make.make_user(Role.WEBMASTER, a, username="a_web"),
        "b_admin": make.make_user(Role.ORG_ADMIN, b, username="b_admin"),
    }
    return type(
        "World",
        (),
        {
            "dc": dc,
            "a": a,
            "a_dept": a_dept,
            "b": b,
            **users,
            "actor": staticmethod(lambda name, surface="web": make.actor_of(users[name], surface)),
        },
    )
