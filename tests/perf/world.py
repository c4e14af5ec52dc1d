"""A database with N rows of every listed object, written straight through the models (fast), with
the relations real rows have: a site with aliases, certificate, SFTP key, plan, host, request and
busy job; a request with approvals, comments, quota holds and a target host; a job with hosts and
events; a zone with records; a mail domain with mailboxes and aliases...

Every seeded name carries a marker `<kind><NNNN>q` (e.g. `site0007q`), so a test can count how many
rows of each kind a page shows. `World.grow(n)` adds n more rows of each kind; the "pivot" objects
(one ministry, zone, job, mail domain...) get n more children each, so detail pages that embed a
list (members, records, events, mailboxes) grow too.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from panel import db
from panel.capabilities.cms.catalogue import CatalogueItem, ItemStatus
from panel.capabilities.cms.models import Instance, InstanceStatus
from panel.capabilities.cms.updates import PLAN_KIND, UpdateTarget
from panel.capabilities.colocation.models import (
    ColoServer,
    ColoSite,
    Rack,
    Reservation,
    Room,
    UnitClaim,
    Visit,
    VisitorPass,
)
from panel.capabilities.databases.models import (
    ConsoleStatus,
    Database,
    DbConsole,
    DbGrant,
    DbStatus,
    DbUser,
    Engine,
    Profile,
)
from panel.capabilities.dns.models import ClaimMethod, DomainClaim, Record, Zone, ZoneStatus
from panel.capabilities.mail.models import MailAlias, Mailbox, MailboxStatus, MailDomain
from panel.capabilities.sites.models import Certificate, CertSource, Plan, SftpKey, Site, SiteAlias, SiteStatus
from panel.capabilities.soc.models import SocDestination, Transport
from panel.models.audit import AuditEntry, AuditHead
from panel.models.bulk import BulkPlan, BulkRow
from panel.models.hosts import Host, HostRoleLink
from panel.models.jobs import EventStatus, Job, JobEvent, JobHost, JobStatus
from panel.models.notifications import Notification
from panel.models.quotas import QuotaLimit, QuotaLimitChange, RequestQuota
from panel.models.requests import Decision, Request, RequestApproval, RequestComment, RequestStatus
from panel.models.tenants import Membership, Organization, OrgKind, Role
from panel.models.users import ApiToken, TokenScope, User
from panel.services import hosts as hosts_svc
from panel.services.audit import GENESIS

MARKER = re.compile(r"(?<![a-z])([a-z]+)(\d{4})q(?![a-z0-9])")
HOUR = dt.timedelta(hours=1)
MAX_ALIASES = 20  # panel.capabilities.sites.service.MAX_ALIASES (importing that module first hits an import cycle)


def _item(slug: str) -> CatalogueItem:
    """An approved catalogue plugin (the catalogue and update plans' pages list them)."""
    return CatalogueItem(
        kind="plugin",
        slug=slug,
        name=slug,
        version="1.1",
        main_file=f"{slug}/{slug}.php",
        sha256="0" * 64,
        size=1,
        status=ItemStatus.APPROVED,
    )


def _instance(org_id: int, site: Site, title: str) -> Instance:
    """A WordPress instance on the site (cms)."""
    return Instance(
        org_id=org_id,
        site_id=site.id,
        fqdn=site.fqdn,
        host_id=site.host_id,
        title=title,
        admin_user="webadmin",
        admin_email="web@perf.invalid",
        status=InstanceStatus.ACTIVE,
        db_name=title[:64],
    )


def marker(kind: str, i: int) -> str:
    return f"{kind}{i:04d}q"


def shown(text: str) -> dict[str, int]:
    """How many distinct seeded rows of each kind appear in a page or a JSON body."""
    seen: dict[str, set[int]] = {}
    for kind, idx in MARKER.findall(text):
        seen.setdefault(kind, set()).add(int(idx))
    return {kind: len(idx) for kind, idx in seen.items()}


@dataclass
class World:
    admin_id: int  # the staff admin who lists everything
    size: int = 0
    ids: dict[str, int] = field(default_factory=dict)  # pivots: org_id, zone_id, job_id, domain_id...

    def grow(self, n: int) -> None:
        with db.unit_of_work() as s:
            if not self.ids:
                self._pivots(s)
            for i in range(self.size, self.size + n):
                self._row(s, i)
        self.size += n

    # ---- one-off objects the rows hang on -----------------------------------------------------

    def _pivots(self, s) -> None:
        now = db.utcnow()
        plans = [Plan(name=f"perf-{p}", disk_mb=100 * (p + 1)) for p in range(3)]
        pivot = Organization(slug="pivot", name="Pivot ministry", kind=OrgKind.MINISTRY)
        s.add_all([*plans, pivot])
        s.flush()
        host = Host(
            name="pivot-host",
            address="198.18.255.1",
            host_key_type="ssh-ed25519",
            host_key="AAAA",
            fingerprint="SHA256:pivot",
            facts={"php_versions": ["8.2"]},
        )
        host.role_links = [HostRoleLink(role=r) for r in hosts_svc.ROLES]
        s.add(host)
        s.flush()
        req = Request(
            kind="sites.site_create",
            org_id=pivot.id,
            requester_name="pivot",
            status=RequestStatus.DONE,
            summary="pivot request",
            payload={"fqdn": "pivot.gov.kh"},
            target_host_id=host.id,
        )
        s.add(req)
        s.flush()
        job = Job(
            kind="sites.site_create",
            org_id=pivot.id,
            request_id=req.id,
            status=JobStatus.SUCCESSFUL,
            created_by_id=self.admin_id,
            created_by_name="admin",
            started_at=now,
            finished_at=now,
            host_links=[JobHost(host_id=host.id, host_name=host.name)],
        )
        zone = Zone(org_id=pivot.id, name="pivot.gov.kh", status=ZoneStatus.ACTIVE, host_id=host.id, serial=1)
        dom = MailDomain(org_id=pivot.id, name="mail.pivot.gov.kh", host_id=host.id, dkim_selector="govhost")
        site = Site(
            org_id=pivot.id,
            fqdn="pivot-site.gov.kh",
            plan_id=plans[0].id,
            host_id=host.id,
            status=SiteStatus.ACTIVE,
            request_id=req.id,
        )
        s.add_all([job, zone, dom, site])
        s.flush()
        s.add(
            Mailbox(
                org_id=pivot.id, domain_id=dom.id, local_part="postmaster", quota_mb=100, status=MailboxStatus.ACTIVE
            )
        )
        dest = SocDestination(name="siem", transport=Transport.FILE, target="/var/log/govhost-soc.jsonl")
        s.add(dest)
        colo_room = Room(site_id=_added(s, ColoSite(name="pivot-dc")).id, name="pivot-hall")
        rack = _added(s, Rack(room_id=_added(s, colo_room).id, name="pivot-rack", height_u=42))
        reservation = _added(s, Reservation(org_id=pivot.id, rack_id=rack.id, u_start=1, u_count=1, max_w=100))
        s.add(UnitClaim(rack_id=rack.id, u=1, reservation_id=reservation.id))
        visitor = _added(s, _pass(pivot.id, "pivot visitor"))
        server = _added(s, _server(pivot.id, reservation.id, "pivot-srv"))
        s.flush()
        bulk = BulkPlan(org_id=pivot.id, digest="0" * 64, counts={"create": 1}, quota={"sites": 1})
        s.add(bulk)
        s.flush()
        s.add(
            BulkRow(
                plan_id=bulk.id,
                seq=1,
                kind="sites",
                key="bulk.pivot.gov.kh",
                action="create",
                data={"fqdn": "bulk.pivot.gov.kh", "plan": "perf-0"},
            )
        )
        s.flush()
        database, db_user = self._database(s, "pivot", pivot.id, host.id)
        console = _added(
            s,
            DbConsole(
                org_id=pivot.id,
                user_id=db_user.id,
                host_id=host.id,
                engine=Engine.MARIADB,
                login="govhost_console_1",
                ticket_sha256="0" * 64,
                status=ConsoleStatus.CLOSED,
                expires_at=db.utcnow(),
            ),
        )
        inst = _added(s, _instance(pivot.id, site, "pivot news"))
        item = _added(s, _item("pivot"))
        update_plan = _added(
            s,
            Request(
                kind=PLAN_KIND,
                org_id=pivot.id,
                requester_name="pivot",
                status=RequestStatus.DONE,
                summary="pivot update plan",
                payload={"item_id": item.id},
            ),
        )
        self.ids = {
            "item_id": item.id,
            "update_plan_id": update_plan.id,
            "instance_id": inst.id,
            "database_id": database.id,
            "db_user_id": db_user.id,
            "console_id": console.id,
            "plan_id": bulk.id,
            "dest_id": dest.id,
            "org_id": pivot.id,
            "rack_id": rack.id,
            "reservation_id": reservation.id,
            "colo_room_id": colo_room.id,
            "pass_id": visitor.id,
            "server_id": server.id,
            "floor_id": rack.id,  # with what=rack: the colocation floor's edit page
            "host_id": host.id,
            "request_id": req.id,
            "job_id": job.id,
            "zone_id": zone.id,
            "domain_id": dom.id,
            "site_id": site.id,
            "user_id": self.admin_id,
            "mailbox_id": s.query(Mailbox.id).filter_by(domain_id=dom.id).scalar(),
            "plan_ids": [p.id for p in plans],
        }  # type: ignore[dict-item]

    # ---- n of everything ----------------------------------------------------------------------

    def _row(self, s, i: int) -> None:
        ids, now = self.ids, db.utcnow()
        org = Organization(slug=marker("org", i), name=marker("org", i), kind=OrgKind.MINISTRY)
        s.add(org)
        s.flush()
        dep = Organization(slug=marker("dep", i), name=marker("dep", i), kind=OrgKind.DEPARTMENT, parent_id=org.id)
        user = User(
            username=marker("usr", i),
            email=f"{marker('usr', i)}@perf.invalid",
            full_name=marker("usr", i),
            password_hash="!",
        )
        host = Host(
            name=marker("hst", i),
            address=f"198.18.{i // 250}.{i % 250 + 1}",
            host_key_type="ssh-ed25519",
            host_key="AAAA",
            fingerprint=f"SHA256:{i}",
            facts={"php_versions": ["8.2"]},
            last_probe_at=now,
            last_probe_ok=True,
        )
        host.role_links = [HostRoleLink(role="web"), HostRoleLink(role="mail")]
        s.add_all([dep, user, host])
        s.flush()
        s.add_all(
            [
                Membership(user_id=user.id, org_id=org.id, role=Role.ORG_ADMIN),
                Membership(user_id=user.id, org_id=ids["org_id"], role=Role.WEBMASTER),
                QuotaLimit(org_id=org.id, resource="sites", limit=100),
            ]
        )
        req = self._request(s, i, org, user, host)
        job = self._job(s, i, org, user, host, req)
        self._site(s, i, org, host, req, job)
        self._dns(s, i, org, host)
        self._mail(s, i, org, host)
        self._misc(s, i, org, user)
        self._colo(s, i, org)
        self._database(s, marker("dbs", i), org.id, host.id)
        pivot_db = _added(s, Database(**self._db_fields(marker("pdb", i), self.ids["org_id"], host.id)))
        s.add(DbGrant(user_id=self.ids["db_user_id"], database_id=pivot_db.id, profile=Profile.READ_ONLY))

    @staticmethod
    def _db_fields(name: str, org_id: int, host_id: int) -> dict:
        fields = {"org_id": org_id, "host_id": host_id, "engine": Engine.MARIADB, "name": name[:64]}
        return {**fields, "status": DbStatus.ACTIVE, "size_mb": 100, "conn_limit": 20}

    def _database(self, s, name: str, org_id: int, host_id: int) -> tuple[Database, DbUser]:
        """A database, a user of its own and the grant between them (the lists show users and grants)."""
        database = _added(s, Database(**self._db_fields(name, org_id, host_id)))
        user = _added(
            s, DbUser(org_id=org_id, host_id=host_id, engine=Engine.MARIADB, name=name[:32], status=DbStatus.ACTIVE)
        )
        s.add(DbGrant(user_id=user.id, database_id=database.id, profile=Profile.READ_WRITE))
        return database, user

    def _request(self, s, i, org, user, host) -> Request:
        # Even rows wait in the approvals queue (one of two approvals given); odd rows are done.
        now, waiting = db.utcnow(), i % 2 == 0
        req = Request(
            kind="sites.site_create",
            org_id=org.id,
            requester_id=user.id,
            requester_name=user.username,
            status=RequestStatus.SUBMITTED if waiting else RequestStatus.DONE,
            summary=marker("req", i),
            payload={"fqdn": marker("site", i)},
            target_host_id=host.id,
            approvals_needed=2,
            submitted_at=now,
            decided_at=None if waiting else now,
            finished_at=None if waiting else now,
        )
        s.add(req)
        s.flush()
        s.add_all(
            [
                RequestApproval(
                    request_id=req.id, approver_id=self.admin_id, approver_name="admin", decision=Decision.APPROVE
                ),
                RequestComment(request_id=req.id, author_id=user.id, author_name=user.username, body="please"),
                RequestComment(
                    request_id=self.ids["request_id"],
                    author_id=user.id,
                    author_name=user.username,
                    body=marker("cmt", i),
                ),
                RequestQuota(request_id=req.id, org_id=org.id, resource="sites", amount=1),
            ]
        )
        if not waiting:
            s.add(
                RequestApproval(
                    request_id=req.id,
                    approver_id=user.id,
                    approver_name=user.username,
                    decision=Decision.APPROVE,
                    comment="ok",
                )
            )
        return req

    def _job(self, s, i, org, user, host, req) -> Job:
        now = db.utcnow()
        job = Job(
            kind="sites.site_create",
            org_id=org.id,
            request_id=req.id,
            status=JobStatus.FAILED,
            created_by_id=user.id,
            created_by_name=user.username,
            explanation=marker("job", i),
            params={"site_id": i},
            stats={host.name: {"ok": 3}},
            started_at=now,
            finished_at=now,
            rc=2,
            host_links=[
                JobHost(host_id=host.id, host_name=host.name),
                JobHost(host_id=self.ids["host_id"], host_name="pivot-host"),
            ],
        )
        s.add(job)
        s.flush()
        s.add(
            JobEvent(job_id=job.id, counter=1, event="runner_on_ok", host=host.name, task="task", status=EventStatus.OK)
        )
        s.add(
            JobEvent(
                job_id=self.ids["job_id"],
                counter=i + 1,
                event="runner_on_ok",
                host="pivot-host",
                task=marker("evt", i),
                status=EventStatus.CHANGED,
                stdout="changed",
            )
        )
        return job

    def _site(self, s, i, org, host, req, job) -> None:
        now, name = db.utcnow(), f"{marker('site', i)}.perf.gov.kh"
        site = Site(
            org_id=org.id,
            fqdn=name,
            plan_id=self.ids["plan_ids"][i % 3],
            host_id=host.id,
            status=SiteStatus.ACTIVE,
            request_id=req.id,
            busy_job_id=job.id,
            system_user=f"site{i}",
            disk_used_mb=12.5,
            disk_measured_at=now,
        )
        site.aliases = [SiteAlias(name=f"www.{name}"), SiteAlias(name=f"old.{name}")]
        site.certificates = [
            Certificate(
                source=CertSource.ACME,
                names=[name],
                fingerprint="AB:CD",
                not_before=now - HOUR,
                not_after=now + 90 * 24 * HOUR,
            )
        ]
        s.add(site)
        s.flush()
        s.add(SftpKey(site_id=site.id, org_id=org.id, public_key="ssh-ed25519 AAAA k", fingerprint=f"SHA256:k{i}"))
        inst = _added(s, _instance(org.id, site, marker("wp", i)))
        item = _added(s, _item(marker("cat", i)))
        s.add(
            UpdateTarget(
                request_id=self.ids["update_plan_id"],
                instance_id=inst.id,
                org_id=self.ids["org_id"],
                host_id=host.id,
                fqdn=site.fqdn,
                kind="plugin",
                slug=item.slug,
                from_version="1.0",
                to_version="1.1",
                item_id=item.id,
            )
        )
        if i < MAX_ALIASES:  # the pivot site's aliases, up to what a site may have
            s.add(SiteAlias(site_id=self.ids["site_id"], name=f"{marker('sal', i)}.pivot-site.gov.kh"))

    def _dns(self, s, i, org, host) -> None:
        zone = Zone(org_id=org.id, name=f"{marker('zone', i)}.gov.kh", status=ZoneStatus.ACTIVE, host_id=host.id)
        s.add_all(
            [
                zone,
                DomainClaim(
                    org_id=org.id,
                    domain=f"{marker('clm', i)}.gov.kh",
                    token="t" * 32,
                    method=ClaimMethod.TXT,
                    verified_at=db.utcnow(),
                ),
            ]
        )
        s.flush()
        s.add(Record(zone_id=zone.id, org_id=org.id, name=zone.name, rtype="A", ttl=3600, data="198.18.0.1"))
        s.add(
            Record(
                zone_id=self.ids["zone_id"],
                org_id=self.ids["org_id"],
                name=f"{marker('rec', i)}.pivot.gov.kh",
                rtype="A",
                ttl=3600,
                data=f"198.18.1.{i % 250 + 1}",
            )
        )

    def _mail(self, s, i, org, host) -> None:
        dom = MailDomain(org_id=org.id, name=f"{marker('mdom', i)}.gov.kh", host_id=host.id, dkim_selector="govhost")
        s.add(dom)
        s.flush()
        s.add(Mailbox(org_id=org.id, domain_id=dom.id, local_part="info", quota_mb=100, status=MailboxStatus.ACTIVE))
        s.add(
            Mailbox(
                org_id=self.ids["org_id"],
                domain_id=self.ids["domain_id"],
                local_part=marker("mbx", i),
                display_name=marker("mbx", i),
                quota_mb=100,
                status=MailboxStatus.ACTIVE,
            )
        )
        s.add(
            MailAlias(
                org_id=self.ids["org_id"],
                domain_id=self.ids["domain_id"],
                source=marker("als", i),
                destinations=[f"{marker('als', i)}@outside.example"],
            )
        )

    def _colo(self, s, i, org) -> None:
        """A rack of its own and the ministry's 2 U in it (the floor's and the reservations' lists)."""
        rack = _added(s, Rack(room_id=self.ids["colo_room_id"], name=marker("rck", i), height_u=42))
        res = _added(
            s, Reservation(org_id=org.id, rack_id=rack.id, u_start=1, u_count=2, max_w=200, label=marker("res", i))
        )
        s.add_all(UnitClaim(rack_id=rack.id, u=u, reservation_id=res.id) for u in (1, 2))
        _added(s, _pass(org.id, marker("vis", i)))
        _added(s, _server(org.id, res.id, marker("srv", i)))
        s.add(Visit(pass_id=self.ids["pass_id"], org_id=self.ids["org_id"], checked_in_by=marker("vit", i)))

    def _misc(self, s, i, org, user) -> None:
        s.add_all(
            [
                ApiToken(
                    user_id=self.admin_id,
                    name=marker("tok", i),
                    prefix=f"gh_{i:07d}",
                    token_hash=f"{i:064d}",
                    scope=TokenScope.READ,
                    expires_at=db.utcnow() + 24 * HOUR,
                ),
                Notification(
                    user_id=self.admin_id,
                    org_id=org.id,
                    kind="request.done",
                    subject=marker("ntf", i),
                    link="/requests/1",
                ),
                QuotaLimitChange(
                    org_id=self.ids["org_id"],
                    resource="sites",
                    old=i,
                    new=i + 1,
                    requested_by=user.username,
                    approved_by="admin",
                    reason=marker("qlc", i),
                ),
            ]
        )
        self._audit(s, i, org, user)

    def _audit(self, s, i, org, user) -> None:
        # Straight rows (the list does not verify the chain); the head moves on so later appends chain on.
        head = s.get(AuditHead, 1) or AuditHead(id=1, seq=0, hash=GENESIS)
        s.add(head)
        head.seq += 1
        s.add(
            AuditEntry(
                seq=head.seq,
                actor_id=user.id,
                actor_name=user.username,
                org_id=org.id,
                action="sites.site_create",
                object_type="site",
                object_id=marker("aud", i),
                summary="{}",
                surface="web",
                prev_hash=head.hash,
                hash=f"{head.seq:064d}",
            )
        )
        head.hash = f"{head.seq:064d}"


def _added(s, obj):
    s.add(obj)
    s.flush()
    return obj


def _server(org_id: int, reservation_id: int, name: str) -> ColoServer:
    return ColoServer(org_id=org_id, reservation_id=reservation_id, name=name, address="192.0.2.10", received_by="perf")


def _pass(org_id: int, name: str) -> VisitorPass:
    now = db.utcnow()
    return VisitorPass(
        org_id=org_id, full_name=name, id_number="X1234567", valid_from=now, valid_until=now + HOUR, signer_name="x"
    )
