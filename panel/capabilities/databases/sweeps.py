"""Sweeps of tenant databases: remote access that expired comes off the servers."""

from __future__ import annotations

from sqlalchemy import select

from panel import db
from panel.capabilities.databases import DB_ROLE
from panel.capabilities.databases.jobs import database_users
from panel.capabilities.databases.models import (
    AccessStatus,
    ConsoleStatus,
    Database,
    DbConsole,
    DbRemoteAccess,
    DbStatus,
)
from panel.models.hosts import Host, with_role
from panel.models.jobs import FINISHED, Job
from panel.models.tenants import Role
from panel.services import audit, jobs
from panel.services.actor import Actor, require_staff
from panel.services.sweeps import Swept, sweep_hosts

BATCH = 1000  # expiries per run; the next run takes the rest


def remote_access_expire(actor: Actor) -> list[int]:
    """Every remote access past its expiry becomes expired (one audit entry each) and one
    databases.apply job per ministry, host and engine re-applies its users without the network.
    Returns the expired ids."""
    require_staff(actor, Role.ADMIN)
    now = db.utcnow()
    with db.unit_of_work() as s:
        rows = s.scalars(
            select(DbRemoteAccess)
            .where(DbRemoteAccess.status == AccessStatus.ACTIVE, DbRemoteAccess.expires_at <= now)
            .order_by(DbRemoteAccess.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        batches: dict[tuple, set[int]] = {}
        for r in rows:
            r.move_to(AccessStatus.EXPIRED)
            r.ended_at = now
            dbrow = s.get(Database, r.database_id)
            audit.append(
                actor,
                "databases.remote_access_expired",
                object_type="db_remote_access",
                object_id=r.id,
                org_id=r.org_id,
                summary={"database": dbrow.name, "cidr": r.cidr, "expired_at": r.expires_at.isoformat()},
            )
            users = database_users(s, dbrow.id)
            if users and dbrow.host_id is not None:
                batches.setdefault((r.org_id, dbrow.host_id, dbrow.engine), set()).update(users)
        s.flush()
        for (org_id, host_id, _engine), users in sorted(batches.items(), key=lambda kv: kv[0][:2]):
            jobs.job_submit(
                actor,
                kind="databases.apply",
                org_id=org_id,
                host_ids=[host_id],
                params={"database_ids": [], "user_ids": sorted(users)},
            )
        return [r.id for r in rows]


__all__ = ["remote_access_expire"]


def usage_collect(actor: Actor) -> Swept:
    """One databases.usage job per usable DB host with active databases: ONE query per engine
    there measures them all."""
    require_staff(actor)
    with db.unit_of_work() as s:
        rows = s.execute(
            select(Database.host_id, Database.org_id, Database.id)
            .where(Database.status == DbStatus.ACTIVE)
            .order_by(Database.host_id, Database.id)
        ).all()
        by_host: dict[int, list[int]] = {}
        for host_id, _org, dbid in rows:
            if host_id is not None:
                by_host.setdefault(host_id, []).append(dbid)
        found = sweep_hosts(s, list(by_host), "databases.usage")
        submitted = [
            jobs.job_submit(
                actor, kind="databases.usage", org_id=None, host_ids=[h], params={"host_id": h, "database_ids": ids}
            )
            for h, ids in by_host.items()
            if h in found.ids
        ]
        return Swept(submitted, found.skipped)


def drift_check(actor: Actor) -> Swept:
    """Daily: one databases.drift check job per usable DB host with an engine set up; what it finds
    is on the drift page (docs/databases.md, Drift)."""
    require_staff(actor)
    with db.unit_of_work() as s:
        hosts = [h for h in s.scalars(select(Host).where(with_role(DB_ROLE))) if (h.facts or {}).get("db_engines")]
        found = sweep_hosts(s, [h.id for h in hosts], "databases.drift")
        submitted = [
            jobs.job_submit(actor, kind="databases.drift", org_id=None, host_ids=[h], params={"repair": False})
            for h in found.ids
        ]
        return Swept(submitted, found.skipped)


def console_expire(actor: Actor) -> Swept:
    """Every minute: the web console sessions past their time lose their login and ticket, by one
    databases.console job (op close) per DB host and engine; the job's end marks them closed and
    audits each. A session whose open job has not finished waits for it (closing first would let
    it make a login after the close); one already being closed waits for that job."""
    require_staff(actor, Role.ADMIN)
    now = db.utcnow()
    with db.unit_of_work() as s:
        rows = s.scalars(
            select(DbConsole)
            .where(
                DbConsole.status.in_([ConsoleStatus.PENDING, ConsoleStatus.OPEN, ConsoleStatus.FAILED]),
                DbConsole.expires_at <= now,
            )
            .order_by(DbConsole.id)
            .limit(BATCH)
        ).all()
        busy = {r.job_id for r in rows} | {r.close_job_id for r in rows}
        unfinished = set(s.scalars(select(Job.id).where(Job.id.in_(busy - {None}), Job.status.not_in(FINISHED))))
        groups: dict[tuple, list[int]] = {}
        for r in rows:
            if r.host_id is not None and not ({r.job_id, r.close_job_id} & unfinished):
                groups.setdefault((r.host_id, r.engine), []).append(r.id)
        found = sweep_hosts(s, {h for h, _ in groups}, "databases.console_expiry")
        submitted = []
        for (host_id, _engine), ids in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
            if host_id not in found.ids:
                continue
            params = {"op": "close", "console_ids": ids}
            job = jobs.job_submit(actor, kind="databases.console", org_id=None, host_ids=[host_id], params=params)
            for r in rows:
                if r.id in ids:
                    r.close_job_id = job.id
            submitted.append(job)
        return Swept(submitted, found.skipped)
