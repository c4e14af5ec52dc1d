"""Organizations (the data center, ministries, their departments) and who belongs to them."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panel.db import Base, utcnow


class OrgKind(enum.StrEnum):
    DATACENTER = "datacenter"  # the data center's own staff organization
    MINISTRY = "ministry"
    DEPARTMENT = "department"  # under a ministry; the ministry's admins manage it too


class Role(enum.StrEnum):
    WEBMASTER = "webmaster"  # ministry side: requests and manages the ministry's services
    ORG_ADMIN = "org_admin"  # ministry side: also manages the ministry's users and tokens
    OPERATOR = "operator"  # data-center side: approves, runs jobs, manages hosts
    ADMIN = "admin"  # data-center side: everything, including policies and quotas
    AUDITOR = "auditor"  # data-center side: reads everything and the audit log, changes nothing
    SOC = "soc"  # security operation center: reads everything; changes only by containment actions


MINISTRY_ROLES = frozenset({Role.WEBMASTER, Role.ORG_ADMIN})
STAFF_ROLES = frozenset({Role.OPERATOR, Role.ADMIN, Role.AUDITOR, Role.SOC})
# Who asks for a ministry's hosting objects (sites, mail, DNS, databases, WordPress): its webmasters
# and org admins, and the data center's operators and admins on its behalf (docs/security.md).
MANAGER_ROLES = MINISTRY_ROLES | {Role.OPERATOR, Role.ADMIN}


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_km: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[OrgKind] = mapped_column(Enum(OrgKind, native_enum=False, length=20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    parent: Mapped[Organization | None] = relationship(remote_side=[id])


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "org_id", name="user_org"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    org: Mapped[Organization] = relationship()
