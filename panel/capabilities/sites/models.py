"""Web hosting: sites (fqdn, aliases, PHP, plan, host), plans, SFTP keys and certificates.

A site row is the panel's desired state; the host is converged to it by site jobs. Certificates
keep public facts only (names, dates, fingerprint): private keys stay on the host.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from panel.db import Base, utcnow
from panel.models.hosts import HostOS
from panel.models.moves import Move
from panel.models.state import StateMachine


class SiteStatus(enum.StrEnum):
    REQUESTED = "requested"  # approved, its create job not yet finished
    PROVISIONING = "provisioning"  # the create job runs
    ACTIVE = "active"  # serving (a change job may be running: see busy_job_id)
    SUSPENDED = "suspended"  # shows the suspended page; its PHP pool is stopped
    DELETING = "deleting"  # the delete job runs
    DELETED = "deleted"  # gone from the host (docroot archived); the name is free again
    FAILED = "failed"  # the create job failed; retry the request or delete


S = SiteStatus
TRANSITIONS: dict[SiteStatus, frozenset[SiteStatus]] = {
    S.REQUESTED: frozenset({S.PROVISIONING, S.ACTIVE, S.FAILED, S.DELETING}),
    S.PROVISIONING: frozenset({S.ACTIVE, S.FAILED}),
    S.ACTIVE: frozenset({S.SUSPENDED, S.DELETING}),
    S.SUSPENDED: frozenset({S.ACTIVE, S.DELETING}),
    S.FAILED: frozenset({S.PROVISIONING, S.ACTIVE, S.DELETING}),
    S.DELETING: frozenset({S.DELETED, S.ACTIVE, S.SUSPENDED, S.FAILED}),  # back if the delete job failed
    S.DELETED: frozenset(),
}
LIVE = frozenset({S.REQUESTED, S.PROVISIONING, S.ACTIVE, S.SUSPENDED, S.DELETING, S.FAILED})


class TlsMode(enum.StrEnum):
    NONE = "none"  # HTTP only
    ACME = "acme"  # certificate by ACME HTTP-01, renewed by the panel's schedule
    CUSTOM = "custom"  # uploaded by the ministry (checked: key, chain, dates, names)


class CertSource(enum.StrEnum):
    ACME = "acme"
    CUSTOM = "custom"


class Plan(Base):
    """Limits of a hosting plan: what one site may use on its host."""

    __tablename__ = "site_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    disk_mb: Mapped[int] = mapped_column(default=1024)
    memory_mb: Mapped[int] = mapped_column(default=128)  # php memory_limit
    max_children: Mapped[int] = mapped_column(default=5)  # php-fpm pm.max_children
    upload_mb: Mapped[int] = mapped_column(default=32)  # upload_max_filesize, post_max_size, nginx body
    max_execution_s: Mapped[int] = mapped_column(default=30)
    is_active: Mapped[bool] = mapped_column(default=True)
    # The OS its sites are placed on: nginx + PHP-FPM on Linux, IIS on Windows (docs/windows.md).
    os: Mapped[HostOS] = mapped_column(Enum(HostOS, native_enum=False, length=10), default=HostOS.LINUX)
    # IIS only: the application pool's .NET CLR ("v4.0"), or "" for No Managed Code.
    managed_runtime: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def limits(self) -> dict:
        return {
            "disk_mb": self.disk_mb,
            "memory_mb": self.memory_mb,
            "max_children": self.max_children,
            "upload_mb": self.upload_mb,
            "max_execution_s": self.max_execution_s,
        }


class Site(StateMachine, Base):
    TRANSITIONS = TRANSITIONS
    STATE_KIND = "site"
    SAME_STATE_OK = True  # converging to the state it has (a repeated unsuspend) is no error
    __tablename__ = "sites"
    __table_args__ = (
        # A name is unique among sites that exist; a deleted site's name may be used again.
        Index(
            "uq_sites_fqdn_live",
            "fqdn",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_sites_org_status", "org_id", "status"),
        # Lists sort by name while filtering on status, which the partial unique index cannot serve.
        Index("ix_sites_fqdn", "fqdn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    fqdn: Mapped[str] = mapped_column(String(253))  # ASCII (IDNA) form, lower case
    php_version: Mapped[str] = mapped_column(String(8), default="8.2")
    plan_id: Mapped[int] = mapped_column(ForeignKey("site_plans.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"), index=True)
    system_user: Mapped[str] = mapped_column(String(32), default="")  # site<id>, set once the id exists
    status: Mapped[SiteStatus] = mapped_column(
        Enum(SiteStatus, native_enum=False, length=12), default=SiteStatus.REQUESTED
    )
    tls_mode: Mapped[TlsMode] = mapped_column(Enum(TlsMode, native_enum=False, length=8), default=TlsMode.ACME)
    custom_nginx: Mapped[str] = mapped_column(Text, default="")  # set by data-center operators only
    # The application another capability installed on the site ("wordpress": the cms capability);
    # the vhost and pool templates serve it. Empty: plain files and PHP under public/.
    app: Mapped[str] = mapped_column(String(16), default="", server_default="")
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))  # the create request
    quota_request_ids: Mapped[list] = mapped_column(JSON, default=list)  # released when the site is deleted
    busy_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    last_error: Mapped[str] = mapped_column(Text, default="")
    disk_used_mb: Mapped[float] = mapped_column(Float, default=0.0)
    disk_measured_at: Mapped[dt.datetime | None]
    over_limit_since: Mapped[dt.datetime | None]  # set when usage first exceeded the plan (notified once)
    archive_path: Mapped[str] = mapped_column(String(400), default="")  # on the host, after delete
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[dt.datetime | None]

    plan: Mapped[Plan] = relationship(lazy="joined")
    aliases: Mapped[list[SiteAlias]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SiteAlias.name"
    )
    certificates: Mapped[list[Certificate]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="Certificate.id.desc()"
    )
    sftp_keys: Mapped[list[SftpKey]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="SftpKey.id"
    )

    @property
    def alias_names(self) -> list[str]:
        return [a.name for a in self.aliases]

    @property
    def names(self) -> list[str]:
        return [self.fqdn, *self.alias_names]

    @property
    def certificate(self) -> Certificate | None:
        return next((c for c in self.certificates if c.is_current), None)


class SiteAlias(Base):
    """Another name the site answers to; names are unique across the panel (with site fqdns)."""

    __tablename__ = "site_aliases"
    __table_args__ = (UniqueConstraint("name", name="name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253))


class SiteNameHold(Base):
    """A name asked for by an open request (create or alias add), held until the request leaves the
    open states: then the site or alias row holds it, or it is free again. Checking a name is one
    indexed lookup here, never a scan of open requests' payloads, and the unique name makes two
    requests racing for one name end with one Conflict."""

    __tablename__ = "site_name_holds"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)  # IDNA form, as in the payload
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)


class SftpKey(Base):
    """A webmaster's SSH public key for the site's chrooted SFTP account."""

    __tablename__ = "site_sftp_keys"
    __table_args__ = (UniqueConstraint("site_id", "fingerprint", name="site_fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)  # for scoping
    public_key: Mapped[str] = mapped_column(Text)  # "ssh-ed25519 AAAA... comment", one line
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA256:base64
    comment: Mapped[str] = mapped_column(String(100), default="")
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Certificate(Base):
    """A certificate a site serves or served: public facts only, never the private key."""

    __tablename__ = "site_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    source: Mapped[CertSource] = mapped_column(Enum(CertSource, native_enum=False, length=8))
    names: Mapped[list] = mapped_column(JSON, default=list)
    issuer: Mapped[str] = mapped_column(String(300), default="")
    serial: Mapped[str] = mapped_column(String(80), default="")
    fingerprint: Mapped[str] = mapped_column(String(95))  # SHA-256 of the DER, hex with colons
    # SHA-1 of the DER, upper-case hex: what Windows calls the thumbprint and IIS binds by (docs/windows.md)
    thumbprint: Mapped[str] = mapped_column(String(40), default="", server_default="")
    not_before: Mapped[dt.datetime]
    not_after: Mapped[dt.datetime] = mapped_column(index=True)
    is_current: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SiteMove(Move):
    """One move of a site from a host to another (docs/sites.md, "Moving a site"): a core move
    (panel.models.moves) of kind "site"."""

    STATE_KIND = "site_move"
    __mapper_args__ = {"polymorphic_identity": "site"}

    site_id: Mapped[int] = synonym("object_id")
