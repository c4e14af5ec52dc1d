"""Which hosted zone a name belongs to: the longest match among the organization's zones and its
ministry's (a department's site lives in its ministry's zone); never another ministry's."""

from panel import db
from panel.capabilities.dns.models import Zone, ZoneStatus
from panel.capabilities.dns.service import zone_for
from panel.models.tenants import OrgKind


def test_department_names_fall_in_the_ministrys_zone(make):
    ministry = make.make_org("Ministry A", slug="min-a")
    dept = make.make_org("Dept A1", kind=OrgKind.DEPARTMENT, parent=ministry, slug="dept-a1")
    other = make.make_org("Ministry B", slug="min-b")
    with db.unit_of_work() as s:
        s.add_all(
            [
                Zone(org_id=ministry.id, name="a.gov.test", status=ZoneStatus.ACTIVE),
                Zone(org_id=dept.id, name="x.a.gov.test", status=ZoneStatus.ACTIVE),
                Zone(org_id=other.id, name="b.gov.test", status=ZoneStatus.ACTIVE),
            ]
        )
    with db.unit_of_work() as s:
        assert zone_for(s, dept.id, "www.a.gov.test").name == "a.gov.test"
        assert zone_for(s, dept.id, "www.x.a.gov.test").name == "x.a.gov.test"  # the longest match
        assert zone_for(s, ministry.id, "www.x.a.gov.test").name == "a.gov.test"  # not its department's
        assert zone_for(s, dept.id, "www.b.gov.test") is None
        assert zone_for(s, other.id, "www.a.gov.test") is None
