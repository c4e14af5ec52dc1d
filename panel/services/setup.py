"""First start: the data center's own organization, the first admin, and an optional demo ministry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from panel import db, security
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import User
from panel.services.actor import Actor, require_staff
from panel.services.audit import audited

DATACENTER_SLUG = "datacenter"
DEMO_SLUG = "mpt-demo"


@dataclass
class SetupResult:
    id: int | None
    admin_created: bool
    one_time_password: str | None
    demo_org_id: int | None


@audited("panel.setup", "organization", exclude=("one_time_password",))
def panel_setup(actor: Actor, *, admin_username: str = "admin", demo: bool = True) -> SetupResult:
    """Idempotent: creates only what is missing; a new admin gets a one-time password (printed once)."""
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        dc = s.scalars(select(Organization).where(Organization.kind == OrgKind.DATACENTER)).first()
        dc = dc or _org_add(s, DATACENTER_SLUG, "Government Data Center", "មជ្ឈមណ្ឌលទិន្នន័យរដ្ឋាភិបាល", OrgKind.DATACENTER)
        password = None
        admin = s.scalars(select(User).where(User.username == admin_username)).first()
        if admin is None:
            password = security.new_password()
            admin = User(
                username=admin_username,
                full_name="Data center administrator",
                password_hash=security.hash_password(password),
                must_change_password=True,
            )
            s.add(admin)
            s.flush()
            s.add(Membership(user_id=admin.id, org_id=dc.id, role=Role.ADMIN))
        demo_id = None
        if demo:
            org = s.scalars(select(Organization).where(Organization.slug == DEMO_SLUG)).first()
            org = org or _org_add(
                s,
                DEMO_SLUG,
                "Ministry of Posts and Telecommunications (demo)",
                "ក្រសួងប្រៃសណីយ៍និងទូរគមនាគមន៍ (សាកល្បង)",
                OrgKind.MINISTRY,
            )
            demo_id = org.id
        return SetupResult(dc.id, password is not None, password, demo_id)


def _org_add(s, slug: str, name: str, name_km: str, kind: OrgKind) -> Organization:
    org = Organization(slug=slug, name=name, name_km=name_km, kind=kind)
    s.add(org)
    s.flush()
    return org
