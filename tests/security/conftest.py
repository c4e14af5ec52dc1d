"""Two ministries: A owns one object of every type, B's users try to reach them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from panel import db, security
from panel.capabilities.cms.catalogue import CatalogueItem
from panel.capabilities.cms.models import AppPassword, AppPasswordStatus, Instance, InstanceStatus
from panel.capabilities.colocation.models import (
    ColoServer,
    ColoSite,
    Rack,
    Reservation,
    Room,
    Signer,
    UnitClaim,
    VisitorPass,
)
from panel.capabilities.databases.models import (
    ConsoleStatus,
    Database,
    DbConsole,
    DbGrant,
    DbRemoteAccess,
    DbStatus,
    DbUser,
    Profile,
)
from panel.capabilities.dns.models import DomainClaim, Record, Zone, ZoneStatus
from panel.capabilities.mail.models import MailAlias, Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Plan, SftpKey, Site, SiteAlias, SiteStatus
from panel.capabilities.soc.models import SocDestination, SocPendingAction, Transport
from panel.db import Base
from panel.models.bulk import BulkPlan, BulkRow
from panel.models.hosts import Host
from panel.models.jobs import Job, JobStatus
from panel.models.notifications import Notification
from panel.models.requests import Request, RequestStatus
from panel.models.tenants import OrgKind, Role
from panel.models.users import ApiToken, TokenScope

# Columns that legitimately change when B merely authenticates.
VOLATILE = {("api_tokens", "last_used_at"), ("users", "last_login_at")}


class World:
    """ids of ministry A's objects, keyed by the URL parameter that names them."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _add(s, obj):
    s.add(obj)
    s.flush()
    return obj


@pytest.fixture
def world(make) -> World:
    dc = make.make_org("Data Center", kind=OrgKind.DATACENTER, slug="dc")
    a = make.make_org("Ministry A", slug="min-a")
    b = make.make_org("Ministry B", slug="min-b")
    users = {
        "admin": make.make_user(Role.ADMIN, dc, username="dcadmin"),
        "a_admin": make.make_user(Role.ORG_ADMIN, a, username="a_admin"),
        "a_web": make.make_user(Role.WEBMASTER, a, username="a_web"),
        "b_admin": make.make_user(Role.ORG_ADMIN, b, username="b_admin"),
        "b_web": make.make_user(Role.WEBMASTER, b, username="b_web"),
    }
    with db.unit_of_work() as s:
        host = _add(
            s,
            Host(
                name="web1",
                address="10.77.0.250",
                host_key_type="ssh-ed25519",
                host_key="AAAAC3NzaC1lZDI1NTE5AAAAIA" + "x" * 43,
                fingerprint="SHA256:" + "y" * 43,
            ),
        )
        plan = _add(s, Plan(name="basic"))
        req = _add(
            s,
            Request(
                kind="sites.site_create",
                org_id=a.id,
                requester_id=users["a_web"].id,
                requester_name="a_web",
                status=RequestStatus.DRAFT,
                summary="a site",
                payload={"fqdn": "www.a.gov.kh"},
            ),
        )
        site = _add(
            s,
            Site(
                org_id=a.id,
                fqdn="www.a.gov.kh",
                plan_id=plan.id,
                host_id=host.id,
                status=SiteStatus.ACTIVE,
                system_user="site1",
            ),
        )
        _add(s, SiteAlias(site_id=site.id, name="a.gov.kh"))
        key = _add(
            s, SftpKey(site_id=site.id, org_id=a.id, public_key="ssh-ed25519 AAAA a@a", fingerprint="SHA256:abc")
        )
        zone = _add(s, Zone(org_id=a.id, name="a.gov.kh", status=ZoneStatus.ACTIVE, host_id=host.id))
        record = _add(
            s, Record(zone_id=zone.id, org_id=a.id, name="www.a.gov.kh", rtype="A", ttl=3600, data="192.0.2.1")
        )
        claim = _add(s, DomainClaim(org_id=a.id, domain="a.gov.kh", token="t" * 32))
        mdom = _add(
            s,
            MailDomain(
                org_id=a.id, name="a.gov.kh", host_id=host.id, dkim_selector="govhost", status=MailDomainStatus.ACTIVE
            ),
        )
        box = _add(
            s, Mailbox(org_id=a.id, domain_id=mdom.id, local_part="info", quota_mb=100, status=MailboxStatus.ACTIVE)
        )
        alias = _add(s, MailAlias(org_id=a.id, domain_id=mdom.id, source="contact", destinations=["info@a.gov.kh"]))
        colo_room = _add(s, Room(site_id=_add(s, ColoSite(name="DC1")).id, name="Hall A"))
        rack = _add(s, Rack(room_id=colo_room.id, name="R1", height_u=42))
        reservation = _add(s, Reservation(org_id=a.id, rack_id=rack.id, u_start=1, u_count=2, max_w=300))
        s.add_all(UnitClaim(rack_id=rack.id, u=u, reservation_id=reservation.id) for u in (1, 2))
        tdb = _add(
            s,
            Database(
                org_id=a.id,
                host_id=host.id,
                engine="mariadb",
                name="mina1_blog",
                size_mb=100,
                conn_limit=5,
                status=DbStatus.ACTIVE,
            ),
        )
        tuser = _add(
            s, DbUser(org_id=a.id, host_id=host.id, engine="mariadb", name="mina1_app", status=DbStatus.ACTIVE)
        )
        _add(s, DbGrant(user_id=tuser.id, database_id=tdb.id, profile=Profile.OWNER))
        access = _add(
            s,
            DbRemoteAccess(
                org_id=a.id,
                database_id=tdb.id,
                cidr="203.0.113.0/24",
                reason="Reporting office",
                expires_at=db.utcnow() + dt.timedelta(days=5),
            ),
        )
        dbconsole = _add(
            s,
            DbConsole(
                org_id=a.id,
                user_id=tuser.id,
                host_id=host.id,
                engine="mariadb",
                login="govhost_console_1",
                ticket_sha256="0" * 64,
                status=ConsoleStatus.OPEN,
                expires_at=db.utcnow() + dt.timedelta(minutes=5),
            ),
        )
        signer = _add(s, Signer(org_id=a.id, user_id=users["a_admin"].id, named_by="a_admin"))
        visitor = _add(
            s,
            VisitorPass(
                org_id=a.id,
                full_name="A's visitor",
                id_number="A1234567",
                valid_from=db.utcnow(),
                valid_until=db.utcnow() + dt.timedelta(hours=8),
                signer_id=users["a_admin"].id,
                signer_name="a_admin",
            ),
        )
        server = _add(
            s,
            ColoServer(
                org_id=a.id, reservation_id=reservation.id, name="a-server", address="192.0.2.20", received_by="op"
            ),
        )
        job = _add(
            s, Job(kind="noop", status=JobStatus.FAILED, org_id=a.id, request_id=req.id, created_by_name="a_web")
        )
        note = _add(
            s, Notification(user_id=users["a_admin"].id, org_id=a.id, kind="request.approved", subject="approved")
        )
        plaintext = security.new_token()
        token = _add(
            s,
            ApiToken(
                user_id=users["a_admin"].id,
                name="a's",
                prefix=plaintext[:10],
                token_hash=security.token_digest(plaintext),
                scope=TokenScope.WRITE,
                expires_at=db.utcnow() + dt.timedelta(days=5),
            ),
        )
        bulk = _add(s, BulkPlan(org_id=a.id, digest="0" * 64, counts={"create": 1}, quota={"sites": 1}))
        _add(
            s,
            BulkRow(
                plan_id=bulk.id,
                seq=1,
                kind="sites",
                key="bulk.a.gov.kh",
                action="create",
                data={"fqdn": "bulk.a.gov.kh", "plan": "basic"},
            ),
        )
        dest = _add(s, SocDestination(name="siem", transport=Transport.FILE, target="/var/log/govhost-soc.jsonl"))
        inst = _add(
            s,
            Instance(
                org_id=a.id,
                site_id=site.id,
                fqdn=site.fqdn,
                host_id=host.id,
                title="A's news",
                admin_user="aweb",
                admin_email="web@a.gov.kh",
                status=InstanceStatus.ACTIVE,
            ),
        )
        app = _add(
            s,
            AppPassword(
                org_id=a.id,
                instance_id=inst.id,
                name="A's app",
                role="author",
                wp_user="govhost-app-1",
                status=AppPasswordStatus.ACTIVE,
            ),
        )
        # a catalogue item not approved yet: only data-center staff see it (approved ones are every
        # ministry's to read, so they are not A's objects)
        item = _add(
            s,
            CatalogueItem(
                kind="plugin",
                slug="a-pending",
                name="Pending",
                version="1.0",
                main_file="a-pending/a-pending.php",
                sha256="0" * 64,
                size=1,
            ),
        )
        update_plan = _add(  # A's mass update plan (its request): its page is A's alone
            s,
            Request(
                kind="cms.update_plan",
                org_id=a.id,
                requester_id=users["a_web"].id,
                requester_name="a_web",
                status=RequestStatus.DONE,
                summary="a plan",
                payload={"item_id": item.id},
            ),
        )
        held = _add(
            s,
            SocPendingAction(
                action="address_block",
                params={"address": "203.0.113.0/24", "host_ids": [host.id], "minutes": 0},
                reason="scan",
                requested_by="soc",
            ),
        )
        ids = {
            "instance_id": inst.id,
            "app_password_id": app.id,
            "item_id": item.id,
            "update_plan_id": update_plan.id,
            "pending_id": held.id,
            "dest_id": dest.id,
            "plan_id": bulk.id,
            "org_id": a.id,
            "user_id": users["a_admin"].id,
            "token_id": token.id,
            "request_id": req.id,
            "job_id": job.id,
            "host_id": host.id,
            "site_id": site.id,
            "key_id": key.id,
            "alias": "a.gov.kh",
            "zone_id": zone.id,
            "record_id": record.id,
            "claim_id": claim.id,
            "domain_id": mdom.id,
            "mailbox_id": box.id,
            "alias_id": alias.id,
            "notification_id": note.id,
            "database_id": tdb.id,
            "db_user_id": tuser.id,
            "access_id": access.id,
            "console_id": dbconsole.id,
            "rack_id": rack.id,
            "reservation_id": reservation.id,
            "signer_id": signer.id,
            "pass_id": visitor.id,
            "server_id": server.id,
            "floor_id": rack.id,
            "what": "rack",  # /colocation/floor/<any(site, ..., rack, ...):what>/<floor_id>
        }
    return World(a=a, b=b, dc=dc, ids=ids, **users)


_SNAPSHOT_SELECTS: list = []  # (table name, SELECT of its columns but the volatile ones), built once


def snapshot() -> dict:
    """Every row of every table (minus columns that authentication itself touches). Core SELECTs on
    the session's connection, built once: the same rows and values as through the ORM's execute, for
    4 ms of CPU instead of 11 (the isolation matrix takes one after every route it calls)."""
    if len(_SNAPSHOT_SELECTS) != len(Base.metadata.tables):
        _SNAPSHOT_SELECTS[:] = [
            (table.name, select(*[c for c in table.columns if (table.name, c.name) not in VOLATILE]))
            for table in Base.metadata.sorted_tables
        ]
    out = {}
    with db.unit_of_work() as s:
        s.expire_all()
        conn = s.connection()
        for name, stmt in _SNAPSHOT_SELECTS:
            out[name] = sorted(repr(tuple(r)) for r in conn.execute(stmt))
    return out
