"""WordPress instances: one per site, its database on a DB host, its code shared from Debian's package.

Rows are desired state. An instance is created (pending) when its request is approved, its database
job runs first, then the install job that renders the site's vhost and pool for WordPress, writes
the config and installs it; success makes it active. Suspend, unsuspend and delete are requests
whose jobs move it (cms.lifecycle); a deleted row stays for history (its archive's path) and frees
the site for another instance. No password or salt is ever stored here.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from panel.db import Base, utcnow
from panel.models.state import StateMachine


class InstanceStatus(enum.StrEnum):
    PENDING = "pending"  # approved; database and install jobs on their way
    ACTIVE = "active"  # installed and served
    SUSPENDED = "suspended"  # the site answers its suspended page; PHP and WP-cron stopped
    DELETING = "deleting"  # the delete job runs (archive, then the database is dropped)
    DELETED = "deleted"  # files and a database dump archived on the host; the site serves plain files
    FAILED = "failed"  # a job failed; the reason is in last_error (retry the request, or delete)


S = InstanceStatus
TRANSITIONS: dict[InstanceStatus, frozenset[InstanceStatus]] = {
    S.PENDING: frozenset({S.ACTIVE, S.FAILED}),
    S.FAILED: frozenset({S.PENDING, S.DELETING}),  # pending again: the request is retried
    S.ACTIVE: frozenset({S.SUSPENDED, S.DELETING}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.DELETING}),
    S.DELETING: frozenset({S.DELETED, S.ACTIVE, S.SUSPENDED, S.FAILED}),  # back if the delete job failed
    S.DELETED: frozenset(),
}
LIVE = (S.PENDING, S.ACTIVE, S.SUSPENDED, S.DELETING, S.FAILED)


class Instance(StateMachine, Base):
    TRANSITIONS = TRANSITIONS
    STATE_KIND = "cms_instance"
    __tablename__ = "cms_instances"
    __table_args__ = (
        Index("ix_cms_instances_org_id_id", "org_id", "id"),
        # One live instance per site (ids of the sites capability's rows: no foreign key across
        # capabilities, the provider checked the site); a deleted one no longer holds it.
        Index(
            "uq_cms_instances_site",
            "site_id",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    site_id: Mapped[int]
    fqdn: Mapped[str] = mapped_column(String(253))  # the site's name, copied for lists
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"), index=True)
    db_host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id", ondelete="SET NULL"))
    database_id: Mapped[int | None]  # the databases capability's rows
    db_user_id: Mapped[int | None]
    db_name: Mapped[str] = mapped_column(String(64), default="")
    # its user on the DB server: the database's name + "_app" (databases.app_database); "" on instances
    # made before, whose user had the database's name
    db_user: Mapped[str] = mapped_column(String(64), default="", server_default="")
    title: Mapped[str] = mapped_column(String(200))
    admin_user: Mapped[str] = mapped_column(String(60))
    admin_email: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[InstanceStatus] = mapped_column(
        Enum(InstanceStatus, native_enum=False, length=10), default=InstanceStatus.PENDING
    )
    wp_version: Mapped[str] = mapped_column(String(20), default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    # a staging copy (cms.staging): the live instance it was copied from and is pushed to
    staging_of_id: Mapped[int | None] = mapped_column(ForeignKey("cms_instances.id", ondelete="SET NULL"), index=True)
    db_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # the suspend, unsuspend or delete job under way: no other change is asked for meanwhile
    busy_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    archive_path: Mapped[str] = mapped_column(String(400), default="", server_default="")  # on the web host
    # The last hardening check (cms.hardening_check): item -> {"ok": bool, "detail": str}, see
    # hardening.ITEMS; empty until the first check.
    hardening: Mapped[dict] = mapped_column(JSON, default=dict, server_default="{}")
    hardening_checked_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def hardening_drift(self) -> list[str]:
        """The items the last check found changed (empty: none, or never checked)."""
        return sorted(k for k, v in (self.hardening or {}).items() if not v.get("ok"))


class AppPasswordStatus(enum.StrEnum):
    PENDING = "pending"  # approved; the issue job on its way
    ACTIVE = "active"  # on the site: the app authenticates with it
    FAILED = "failed"  # the issue job failed (last_error); retrying the request runs it again
    REVOKING = "revoking"  # the revoke job runs
    REVOKED = "revoked"  # gone from the site: the app gets 401


A = AppPasswordStatus
APP_TRANSITIONS: dict[AppPasswordStatus, frozenset[AppPasswordStatus]] = {
    A.PENDING: frozenset({A.ACTIVE, A.FAILED}),
    A.FAILED: frozenset({A.ACTIVE, A.FAILED, A.REVOKED}),  # a retried job ends either way
    A.ACTIVE: frozenset({A.REVOKING, A.REVOKED}),  # revoked at once when its instance is deleted
    A.REVOKING: frozenset({A.REVOKED, A.ACTIVE}),  # back if the revoke job failed
    A.REVOKED: frozenset(),
}


class AppPassword(StateMachine, Base):
    """A WordPress application password of an instance for one named app (the Mobile App
    Platform): the panel keeps who it is for, never the password (generated by the panel, shown
    once to the requester, sealed only until the job has set it on the site, then dropped)."""

    TRANSITIONS = APP_TRANSITIONS
    STATE_KIND = "cms_app_password"
    __tablename__ = "cms_app_passwords"
    __table_args__ = (Index("ix_cms_app_passwords_instance_id_id", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("cms_instances.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))  # the app's name, as WordPress lists it
    role: Mapped[str] = mapped_column(String(20))  # the WordPress role of the app's own user
    wp_user: Mapped[str] = mapped_column(String(60))  # that user's login (govhost-app-<id>)
    uuid: Mapped[str] = mapped_column(String(36), default="")  # WordPress's id of the password
    status: Mapped[AppPasswordStatus] = mapped_column(
        Enum(AppPasswordStatus, native_enum=False, length=10), default=AppPasswordStatus.PENDING
    )
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    busy_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]


class ItemState(enum.StrEnum):
    PENDING = "pending"  # its job is on its way
    INSTALLED = "installed"
    FAILED = "failed"


class InstanceItem(Base):
    """A catalogue plugin, theme or language pack on one instance: which version is there, and whether
    it is active (a language pack: the site's language)."""

    __tablename__ = "cms_instance_items"
    __table_args__ = (
        UniqueConstraint("instance_id", "kind", "slug", name="uq_cms_instance_item"),
        Index("ix_cms_instance_items_slug", "slug", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("cms_instances.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    kind: Mapped[str] = mapped_column(String(10))
    slug: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("cms_catalogue_items.id", ondelete="SET NULL"))
    version: Mapped[str] = mapped_column(String(40), default="")  # what the host reported
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[ItemState] = mapped_column(Enum(ItemState, native_enum=False, length=10), default=ItemState.PENDING)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
