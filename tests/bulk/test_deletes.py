"""Deletions in bulk files happen only where a row says so (`action: delete`): sites, mailboxes, DNS
records and databases are planned as deletes (part of the plan's digest), applied as each
capability's own delete requests approved by the bundle, re-planned as no-ops once gone; a row
without it never deletes, and a file leaving an object out leaves the object alone."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from panel import db
from panel.capabilities.databases.models import Database, DbStatus
from panel.capabilities.dns.models import Record, RecordState
from panel.capabilities.mail.models import Mailbox, MailboxStatus
from panel.capabilities.sites.models import Site, SiteStatus
from panel.errors import Conflict, Invalid
from panel.models.bulk import BulkRow
from panel.models.hosts import HostState
from panel.models.requests import Request
from panel.services import bulk, requests

SITES = "fqdn,plan,action\r\nwww.a.gov.test,basic,\r\nshop.a.gov.test,basic,\r\n"
BOXES = "address,display_name,action\nsok@a.gov.test,Sok,\n"
RECORDS = "zone,name,type,data,action\na.gov.test,api,A,192.0.2.10,\n"
DBS = "engine,name,size_mb,action\nmariadb,shop,200,\n"
# the delete file: each row names its object by its natural key only, and says delete
DELETES = {
    "sites.csv": "fqdn,plan,action\r\nshop.a.gov.test,,delete\r\n",
    "mailboxes.csv": "address,action\nsok@a.gov.test,DELETE\n",
    "dns_records.csv": "zone,name,type,data,action\na.gov.test,api,A,192.0.2.10,delete\n",
    "databases.csv": "engine,name,action\nmariadb,shop,delete\n",
}


def plan(world, files, actor=None):
    return bulk.bulk_plan(actor or world.wa, org_id=world.a.id, files=list(files)).plan


def rows(plan_id) -> dict[str, BulkRow]:
    with db.unit_of_work() as s:
        return {r.key: r for r in s.scalars(select(BulkRow).where(BulkRow.plan_id == plan_id))}


@pytest.fixture
def live(world, make):
    """Ministry A's two sites, a mailbox, a DNS record and a database made from bulk files and, as
    their jobs would leave them, active (the record sent to BIND)."""
    make.make_host(
        "db1",
        roles={"db"},
        capacities={"databases": 100},
        address="10.87.0.252",
        facts={"db_engines": ["mariadb"]},
        state=HostState.ACTIVE,
    )
    p = plan(
        world,
        [("sites.csv", SITES), ("mailboxes.csv", BOXES), ("dns_records.csv", RECORDS), ("databases.csv", DBS)],
    )
    assert p.counts == {"create": 5}
    requests.request_approve(world.op, bulk.bulk_submit(world.wa, p.id).id)
    with db.unit_of_work() as s:
        s.execute(update(Site).values(status=SiteStatus.ACTIVE, busy_job_id=None))
        s.execute(update(Mailbox).values(status=MailboxStatus.ACTIVE))
        s.execute(update(Database).values(status=DbStatus.ACTIVE))
        s.execute(update(Record).where(Record.data == "192.0.2.10").values(applied_at=db.utcnow()))
    return world


def _requests_after(first_id: int) -> list[str]:
    with db.unit_of_work() as s:
        return [
            r.kind
            for r in s.scalars(
                select(Request).where(Request.id > first_id, Request.kind != "bulk.apply").order_by(Request.id)
            )
        ]


def test_the_same_files_again_and_a_partial_file_never_delete(live):
    w = live
    again = plan(
        w, [("sites.csv", SITES), ("mailboxes.csv", BOXES), ("dns_records.csv", RECORDS), ("databases.csv", DBS)]
    )
    assert again.counts == {"noop": 5}
    # a file that leaves shop, the mailbox, the record and the database out says nothing about them
    partial = plan(w, [("sites.csv", "fqdn,plan\nwww.a.gov.test,basic\n")])
    assert partial.counts == {"noop": 1}
    with pytest.raises(Invalid) as e:
        bulk.bulk_submit(w.wa, partial.id)
    assert e.value.key == "bulk.nothing_to_do"
    with db.unit_of_work() as s:
        assert s.scalar(select(Site.status).where(Site.fqdn == "shop.a.gov.test")) == SiteStatus.ACTIVE


def test_delete_rows_are_planned_hashed_applied_and_rerun_as_noops(live):
    w = live
    p = plan(w, DELETES.items())
    assert p.counts == {"delete": 4}
    got = rows(p.id)
    assert {k: r.action for k, r in got.items()} == {
        "shop.a.gov.test": "delete",
        "sok@a.gov.test": "delete",
        "a.gov.test api A 192.0.2.10": "delete",
        "mariadb:shop": "delete",
    }
    assert all(r.object_id for r in got.values()) and p.quota == {}
    # the delete is part of the plan's digest: the same rows without it plan (and hash) otherwise
    keep = plan(w, [("sites.csv", "fqdn,plan,action\r\nshop.a.gov.test,basic,\r\n")])
    only = plan(w, [("sites.csv", DELETES["sites.csv"])])
    assert keep.counts == {"noop": 1} and only.counts == {"delete": 1} and keep.digest != only.digest
    view = bulk.bulk_show(w.wa, p.id)
    assert view.submittable
    req = bulk.bulk_submit(w.wa, p.id)
    with db.unit_of_work() as s:
        before = s.scalar(select(Request.id).order_by(Request.id.desc()))
        assert s.scalar(select(Site.status).where(Site.fqdn == "shop.a.gov.test")) == SiteStatus.ACTIVE
    assert "4 to delete" in requests.request_get(w.op, req.id).summary
    requests.request_approve(w.op, req.id)
    assert sorted(_requests_after(before)) == sorted(
        ["sites.site_delete", "mail.mailbox_delete", "databases.database_delete"]
    )
    with db.unit_of_work() as s:
        assert s.scalar(select(Site.status).where(Site.fqdn == "shop.a.gov.test")) == SiteStatus.DELETING
        assert s.scalar(select(Site.status).where(Site.fqdn == "www.a.gov.test")) == SiteStatus.ACTIVE
        assert s.scalar(select(Mailbox.status)) == MailboxStatus.DELETING
        assert s.scalar(select(Database.status)) == DbStatus.DELETING
        assert s.scalar(select(Record.state).where(Record.data == "192.0.2.10")) == RecordState.ABSENT
    report = {r["key"]: r for r in bulk.bulk_report(w.wa, p.id)}
    assert {r["action"] for r in report.values()} == {"delete"}
    assert report["shop.a.gov.test"]["status"] == "running" and report["shop.a.gov.test"]["request_id"]
    # the jobs finish: the objects are gone; the report says done and the same file plans no-ops
    with db.unit_of_work() as s:
        s.execute(
            update(Site).where(Site.fqdn == "shop.a.gov.test").values(status=SiteStatus.DELETED, deleted_at=db.utcnow())
        )
        s.execute(update(Mailbox).values(status=MailboxStatus.DELETED))
        s.execute(update(Database).values(status=DbStatus.DELETED))
        s.execute(Record.__table__.delete().where(Record.data == "192.0.2.10"))
    assert {r["status"] for r in bulk.bulk_report(w.wa, p.id)} == {"done"}
    again = plan(w, DELETES.items())
    assert again.counts == {"noop": 4}
    with pytest.raises(Invalid) as e:
        bulk.bulk_submit(w.wa, again.id)
    assert e.value.key == "bulk.nothing_to_do"


def test_an_object_gone_between_plan_and_approval_refuses_it(live):
    w = live
    p = plan(w, [("sites.csv", DELETES["sites.csv"])])
    req = bulk.bulk_submit(w.wa, p.id)
    with db.unit_of_work() as s:  # deleted by hand meanwhile
        s.execute(
            update(Site).where(Site.fqdn == "shop.a.gov.test").values(status=SiteStatus.DELETED, deleted_at=db.utcnow())
        )
    with pytest.raises(Conflict) as e:
        requests.request_approve(w.op, req.id)
    assert e.value.key == "bulk.plan_changed"


def test_bad_actions_and_other_ministries_objects(live, world):
    w = live
    p = plan(w, [("sites.csv", "fqdn,plan,action\nshop.a.gov.test,,remove\nwww.b.gov.test,,delete\n")])
    got = rows(p.id)
    bad = next(r for r in got.values() if r.action == "invalid")
    assert bad.errors == [  # every error of the row at once: read as a row that is not a delete, it lacks its plan
        {"column": "action", "key": "bulk.action_invalid", "message": "action is empty or delete."},
        {"column": "plan", "key": "bulk.value_missing", "message": "plan is missing."},
    ]
    # B's objects: a delete row in A's plan is a conflict, never a delete
    b_plan = bulk.bulk_plan(w.wb, org_id=w.b.id, files=[("sites.csv", "fqdn,action\nshop.a.gov.test,delete\n")]).plan
    assert b_plan.counts == {"conflict": 1}
    (row,) = rows(b_plan.id).values()
    assert row.errors[0]["key"] == "site.not_yours" and row.object_id is None
    # a create and a delete of one object in one plan: the second is a duplicate
    dup = plan(w, [("sites.csv", "fqdn,plan,action\nshop.a.gov.test,basic,\nshop.a.gov.test,,delete\n")])
    assert dup.counts.get("invalid") == 1
    # kinds that cannot delete have no action column at all
    with pytest.raises(Invalid) as e:
        plan(w, [("aliases.csv", "address,destinations,action\ninfo@a.gov.test,sok@a.gov.test,delete\n")])
    assert e.value.key == "table.column_unknown"
    # a delete row names its object by its key columns only: a missing one is an error of that row
    miss = plan(w, [("databases.csv", "engine,name,action\nmariadb,,delete\n")])
    assert miss.counts == {"invalid": 1}


def test_templates_and_schema_offer_the_action():
    assert bulk.bulk_template("sites").lstrip("\ufeff").startswith("fqdn,aliases,plan,php_version,tls,action")
    assert "action" not in bulk.bulk_template("aliases")
    schema = bulk.bulk_json_schema()
    for kind in ("sites", "mailboxes", "dns_records", "databases"):
        assert schema["$defs"][kind]["properties"]["action"]["enum"] == ["", "delete", None]
