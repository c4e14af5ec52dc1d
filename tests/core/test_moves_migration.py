"""One moves table for every capability: the migration keeps the site and mail moves it finds
(ids, states, the jobs of a move under way) and splits them back on a downgrade."""

from __future__ import annotations

from alembic import command
from sqlalchemy import select, text

from panel import db
from panel.capabilities.mail.models import MailMove
from panel.capabilities.sites.models import SiteMove
from panel.models.jobs import Job
from panel.models.moves import Move, MoveStatus
from panel.services import schema
from tests.support.databases import empty_database  # noqa: F401 - fixture
from tests.support.factories import make_host, make_mail_domain, make_org, make_site

BEFORE = "b3f9ea5ac379"  # the last revision with site_moves and mail_moves
ROW = (
    "INSERT INTO {table} (id, {column}, org_id, from_host_id, to_host_id, status, job_id, dns_job_id, error,"
    " created_by_name, created_at) VALUES (:id, :object_id, :org, :a, :b, :status, :job, NULL, :error, 'op',"
    " '2026-12-01 10:00:00')"
)


def _old_rows(c, table: str, column: str) -> list[tuple]:
    return [tuple(r) for r in c.execute(text(f"SELECT id, {column}, status FROM {table} ORDER BY id"))]  # noqa: S608


def test_site_and_mail_moves_are_kept_across_the_migration_and_back(empty_database):
    db.configure(empty_database)
    try:
        schema.schema_upgrade("head")
        org, a, b = make_org(), make_host(), make_host()
        site, dom = make_site(org, host=a), make_mail_domain(org, host=a)
        with db.unit_of_work() as s:  # the copy job of mail move 1, under way during the upgrade
            job = Job(kind="mail.domain_move", params={"domain_id": dom.id, "move_id": 1}, org_id=org.id)
            s.add(job)
            s.flush()
            job_id = job.id
        db.remove()
        command.downgrade(schema.alembic_config(), BEFORE)
        with db.engine().begin() as c:
            common = {"org": org.id, "a": a.id, "b": b.id}
            for table, column, oid, rows in (
                ("site_moves", "site_id", site.id, ((1, "DONE", None, ""), (2, "FAILED", None, "boom"))),
                ("mail_moves", "domain_id", dom.id, ((1, "COPYING", job_id, ""),)),
            ):
                for i, status, job_ref, error in rows:
                    params = {"id": i, "object_id": oid, "status": status, "job": job_ref, "error": error}
                    c.execute(text(ROW.format(table=table, column=column)), {**common, **params})
        schema.schema_upgrade("head")
        with db.unit_of_work() as s:
            rows = [(type(m), m.id, m.object_id, m.status, m.error) for m in s.scalars(select(Move).order_by(Move.id))]
            assert rows == [
                (SiteMove, 1, site.id, MoveStatus.DONE, ""),
                (SiteMove, 2, site.id, MoveStatus.FAILED, "boom"),
                (MailMove, 3, dom.id, MoveStatus.COPYING, ""),  # numbered after the site moves
            ]
            assert s.get(Job, job_id).params == {"domain_id": dom.id, "move_id": 3}  # its job follows it
            assert [m.id for m in s.scalars(select(MailMove))] == [3]  # each capability sees its own
            new = SiteMove(object_id=site.id, org_id=org.id, from_host_id=a.id, to_host_id=b.id)
            s.add(new)
            s.flush()
            assert new.id == 4  # the id sequence starts after the copied rows (PostgreSQL too)
        db.remove()
        command.downgrade(schema.alembic_config(), BEFORE)
        with db.engine().connect() as c:
            assert _old_rows(c, "site_moves", "site_id") == [
                (1, site.id, "DONE"),
                (2, site.id, "FAILED"),
                (4, site.id, "COPYING"),
            ]
            assert _old_rows(c, "mail_moves", "domain_id") == [(3, dom.id, "COPYING")]
    finally:
        db.remove()
        db.engine().dispose()
