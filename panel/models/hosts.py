"""The host inventory: managed machines with their pinned SSH host keys, roles and capacity.

Hosts are data-center objects (no org_id). Ministries only ever see the name of the host their own
objects live on, through those objects' services.
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


class HostState(enum.StrEnum):
    ACTIVE = "active"  # takes new objects and runs jobs
    DRAINING = "draining"  # keeps serving what it has and runs jobs for it; no new placements
    DOWN = "down"  # unreachable, in maintenance, or its host key is not trusted: no jobs at all


class HostRole(enum.StrEnum):
    WEB = "web"  # nginx + php-fpm sites
    MAIL = "mail"  # postfix + dovecot
    DNS = "dns"  # BIND primary/secondary
    DB = "db"  # MariaDB


class HostRoleLink(Base):
    """One row per (host, role): placement asks "active hosts with role web", answered by the index."""

    __tablename__ = "host_roles"
    __table_args__ = (Index("ix_host_roles_role_host", "role", "host_id"),)

    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[HostRole] = mapped_column(Enum(HostRole, native_enum=False, length=10), primary_key=True)


class Host(Base):
    __tablename__ = "hosts"
    __table_args__ = (UniqueConstraint("address", "port", name="address_port"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    address: Mapped[str] = mapped_column(String(45))  # IPv4 or IPv6, normalised (compressed) form
    port: Mapped[int] = mapped_column(default=22)
    ssh_user: Mapped[str] = mapped_column(String(32), default="root")
    os: Mapped[HostOS] = mapped_column(Enum(HostOS, native_enum=False, length=10), default=HostOS.LINUX)
    state: Mapped[HostState] = mapped_column(
        Enum(HostState, native_enum=False, length=10), default=HostState.ACTIVE, index=True
    )
    max_sites: Mapped[int] = mapped_column(default=100)
    max_mailboxes: Mapped[int] = mapped_column(default=1000)
    max_databases: Mapped[int] = mapped_column(default=100)
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

    @property
    def roles(self) -> frozenset[HostRole]:
        return frozenset(link.role for link in self.role_links)

    @roles.setter
    def roles(self, wanted) -> None:
        wanted = {HostRole(r) for r in wanted}
        self.role_links = [link for link in self.role_links if link.role in wanted] + [
            HostRoleLink(role=r) for r in sorted(wanted - self.roles)
        ]

    @property
    def known_hosts_line(self) -> str:
        """The pinned key as a known_hosts line (`[addr]:port` when the port is not 22)."""
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {self.host_key_type} {self.host_key}"

    @property
    def trusted(self) -> bool:
        """Jobs may run here: not down and no unresolved key change."""
        return self.state != HostState.DOWN and self.key_mismatch_at is None


def with_role(role: HostRole | str) -> ColumnElement[bool]:
    """WHERE clause: the host has `role` (an indexed EXISTS, no per-row work)."""
    return (
        select(HostRoleLink.host_id)
        .where(HostRoleLink.host_id == Host.id, HostRoleLink.role == HostRole(role))
        .exists()
    )
