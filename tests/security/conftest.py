"""Two ministries: A owns one object of every type, B's users try to reach them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from panel import db, security
from panel.capabilities.dns.models import DomainClaim, Record, Zone, ZoneStatus
from panel.capabilities.mail.models import MailAlias, Mailbox, MailboxStatus, MailDomain, MailDomainStatus
from panel.capabilities.sites.models import Plan, SftpKey, Site, SiteAlias, SiteStatus
from panel.db import Base
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
        ids = {
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
        }
    return World(a=a, b=b, dc=dc, ids=ids, **users)


def snapshot() -> dict:
    """Every row of every table (minus columns that authentication itself touches)."""
    out = {}
    with db.unit_of_work() as s:
        s.expire_all()
        for table in Base.metadata.sorted_tables:
            cols = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            rows = s.execute(select(*cols)).all()
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
    return out
