"""The host inventory: managed machines with their pinned SSH host keys, roles and capacities.

Hosts are data-center objects (no org_id). Ministries only ever see the name of the host their own
objects live on, through those objects' services. Roles ("web") and capacities ("sites": the most a
host holds) are names that capabilities declare in their manifests (panel.services.hosts keeps the
registry); the core stores them as rows and never names one.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from panel.db import Base, utcnow

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"


class HostOS(enum.StrEnum):
    LINUX = "linux"
    WINDOWS = "windows"


class HostTransport(enum.StrEnum):
    SSH = "ssh"  # every Linux host, and Windows Server 2022+ (OpenSSH)
    WINRM = "winrm"  # Windows Server 2019's fallback: WinRM over HTTPS only (docs/windows.md)


class HostState(enum.StrEnum):
    ACTIVE = "active"  # takes new objects and runs jobs
    DRAINING = "draining"  # keeps serving what it has and runs jobs for it; no new placements
    DOWN = "down"  # unreachable, or its host key is not trusted: no jobs at all (refused)
    MAINTENANCE = "maintenance"  # being worked on: no new placements; its jobs wait until it is back


class HostRoleLink(Base):
    """One row per (host, role): placement asks "active hosts with role web", answered by the index."""

    __tablename__ = "host_roles"
    __table_args__ = (Index("ix_host_roles_role_host", "role", "host_id"),)

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(30), primary_key=True)


class HostCapacity(Base):
    """One row per (host, resource): the most of `resource` (a name a capability declares, e.g.
    "sites") this host may hold. A host with no row for a resource has the declared default."""

    __tablename__ = "host_capacities"

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True)
    resource: Mapped[str] = mapped_column(String(40), primary_key=True)
    maximum: Mapped[int]


class Host(Base):
    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("address", "port", name="address_port"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    address: Mapped[str] = mapped_column(String(45))  # IPv4 or IPv6, normalised (compressed) form
    port: Mapped[int] = mapped_column(default=22)
    ssh_user: Mapped[str] = mapped_column(String(32), default="root")
    os: Mapped[HostOS] = mapped_column(Enum(HostOS, native_enum=False, length=10), default=HostOS.LINUX)
    transport: Mapped[HostTransport] = mapped_column(
        Enum(HostTransport, native_enum=False, length=8), default=HostTransport.SSH, server_default="SSH"
    )
    # WinRM only: "certificate" or "kerberos", and its credentials sealed (panel.security.seal) as JSON:
    # {"cert_pem", "key_pem"} or {"user" (user@REALM), "password"}.
    winrm_auth: Mapped[str] = mapped_column(String(16), default="", server_default="")
    winrm_secret: Mapped[str | None] = mapped_column(Text)  # None: SSH (rotation skips it)
    state: Mapped[HostState] = mapped_column(
        Enum(HostState, native_enum=False, length=12), default=HostState.ACTIVE, index=True
    )
    # The pinned host key: OpenSSH type name, base64 of the public key blob, and its SHA256 fingerprint.
    host_key_type: Mapped[str] = mapped_column(String(40))
    host_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(60))
    # Set when a probe saw another key; only host_rekey (an admin, after checking) clears it, and
    # the host cannot be made active meanwhile.
    key_mismatch_at: Mapped[dt.datetime | None]
    facts: Mapped[dict] = mapped_column(JSON, default=dict)  # os_release, kernel, python, php_versions...
    last_probe_at: Mapped[dt.datetime | None]
    last_probe_ok: Mapped[bool | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    role_links: Mapped[list[HostRoleLink]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    capacity_rows: Mapped[list[HostCapacity]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(link.role for link in self.role_links)

    @roles.setter
    def roles(self, wanted) -> None:
        wanted = {str(r) for r in wanted}
        self.role_links = [link for link in self.role_links if link.role in wanted] + [
            HostRoleLink(role=r) for r in sorted(wanted - self.roles)
        ]

    @property
    def capacities(self) -> dict[str, int]:
        """The stored capacities, {resource: maximum} (see panel.services.hosts.capacity for defaults)."""
        return {row.resource: row.maximum for row in self.capacity_rows}

    @capacities.setter
    def capacities(self, values: dict[str, int]) -> None:
        """Set the given resources' maxima; resources not given keep their rows."""
        rows = {row.resource: row for row in self.capacity_rows}
        for resource, maximum in values.items():
            if resource in rows:
                rows[resource].maximum = maximum
            else:
                self.capacity_rows.append(HostCapacity(resource=resource, maximum=maximum))

    @property
    def known_hosts_line(self) -> str:
        """The pinned key as a known_hosts line (`[addr]:port` when the port is not 22)."""
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {self.host_key_type} {self.host_key}"

    @property
    def trusted(self) -> bool:
        """Jobs may run here: not down and no unresolved key change."""
        return self.state != HostState.DOWN and self.key_mismatch_at is None


def with_role(role: str) -> ColumnElement[bool]:
    """WHERE clause: the host has `role` (an indexed EXISTS, no per-row work)."""
    return select(HostRoleLink.host_id).where(HostRoleLink.host_id == Host.id, HostRoleLink.role == role).exists()
