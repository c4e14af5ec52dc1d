"""Rows of bulk provisioning files for databases (`databases.csv`, or `databases:` in the YAML, also
under a site): engine, name (the ministry's prefix is added, as on the form), size_mb, conn_limit.
Each create row is one databases.database_create request approved by the bundle (one database, one
job on its DB host, as the form's). Checks go through that request kind's own validation, so a name
held by a request on its way or no DB host set up for the engine is the same answer as on the form.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db
from panel.capabilities.databases import rules
from panel.capabilities.databases.models import LIVE, Database, DbStatus, Engine
from panel.errors import PanelError
from panel.models.hosts import Host
from panel.models.tenants import Organization
from panel.services import request_kinds
from panel.services.actor import Actor
from panel.services.bulk import Batch, Column, Deletion, RowKind, RowState, Verdict
from panel.services.request_kinds import N_

KIND = "databases.database_create"


def _engine(text: str) -> str:
    return rules.clean_engine(text.strip().lower()).value


def _name(text: str) -> str:
    return rules.clean_suffix(text, "name", rules.MAX_DB_SUFFIX)


def _int(field: str, lo: int, hi: int, default: int):
    def clean(text: str) -> int:
        return rules.clean_int(text.strip(), field, lo, hi) if text.strip() else default

    return clean


COLUMNS = (
    Column("engine", _engine, required=True, help="mariadb or postgresql"),
    Column("name", _name, required=True, help="letters a-z, digits and _; the ministry's prefix is added"),
    Column(
        "size_mb",
        _int("size_mb", rules.MIN_SIZE_MB, rules.MAX_SIZE_MB, rules.DEFAULT_SIZE_MB),
        help=f"size budget in MB (default {rules.DEFAULT_SIZE_MB})",
    ),
    Column(
        "conn_limit",
        _int("conn_limit", rules.MIN_CONN, rules.MAX_CONN, rules.DEFAULT_CONN),
        help=f"connections (default {rules.DEFAULT_CONN})",
    ),
)


def _key(r: dict) -> str:
    return f"{r['engine']}:{r['name']}"


def _payload(r: dict) -> dict:
    return {"engine": r["engine"], "name": r["name"], "size_mb": r["size_mb"], "conn_limit": r["conn_limit"]}


def _full(org: Organization, r: dict) -> str:
    return rules.prefix_of(org.slug, org.id) + r["name"]


def _existing(s: Session, names: set[str]) -> dict[tuple[str, str], Database]:
    stmt = select(Database).where(Database.name.in_(names), Database.status.in_([x.value for x in LIVE]))
    return {(d.engine.value, d.name): d for d in s.scalars(stmt)}


def _classify(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    s, kind = db.session(), request_kinds.get(KIND)
    found = _existing(s, {_full(org, r) for r in rows})
    out = []
    for r in rows:
        name = _full(org, r)
        d = found.get((r["engine"], name))
        if d is not None and d.org_id != org.id:
            out.append(Verdict("conflict", None, "databases.name_taken", f"{name} exists already."))
        elif d is not None and (d.size_mb, d.conn_limit) == (r["size_mb"], r["conn_limit"]):
            out.append(Verdict("noop", d.id))
        elif d is not None:
            out.append(
                Verdict(
                    "conflict",
                    d.id,
                    "bulk.object_differs",
                    f"{name} exists with size {d.size_mb} MB and {d.conn_limit} connections: "
                    "change it on its own page.",
                )
            )
        else:
            try:  # the form's own checks: a name a request on its way holds, no DB host for the engine
                kind.validate(actor, org, _payload(r))
            except PanelError as e:
                out.append(Verdict("conflict", None, e.key, e.text()))
                continue
            out.append(Verdict("create"))
    return out


def _quota(rows: list[dict]) -> dict[str, int]:
    return {"databases": len(rows), "db_storage_mb": sum(r["size_mb"] for r in rows)}


def _apply(actor: Actor, org: Organization, rows: list[dict], hidden: dict, start) -> list[Batch]:
    return [Batch((_key(r),), start(KIND, _payload(r))) for r in rows]


def _state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    org = s.get(Organization, org_id)
    wanted = {(r["engine"], _full(org, r)): _key(r) for r in rows}
    out = {}
    for (engine, name), d in _existing(s, {n for _, n in wanted}).items():
        key = wanted.get((engine, name))
        if key is None or d.org_id != org_id:
            continue
        if d.status == DbStatus.ACTIVE:
            out[key] = RowState("done", d.id)
        elif d.status == DbStatus.FAILED:
            out[key] = RowState("failed", d.id, "databases.failed", d.last_error)
        else:
            out[key] = RowState("running", d.id)
    return out


def _placement(s: Session, org: Organization, rows: list[dict]) -> list[str]:
    kind, lines = request_kinds.get(KIND), []
    for engine, n in sorted(Counter(r["engine"] for r in rows).items()):
        try:
            host = s.get(Host, kind.place(s, org, {"engine": engine}))
        except PanelError as e:
            lines.append(f"{n} {Engine(engine).value} databases: {e.text()}")
            continue
        lines.append(f"{n} {Engine(engine).value} databases on {host.name if host else '?'}")
    return lines


def _delete_find(actor: Actor, org: Organization, rows: list[dict]) -> list[Verdict]:
    """A row saying delete: the ministry's database of that engine and name is deleted (with its
    grants, as databases.database_delete does); none (gone already) is a no-op."""
    found = _existing(db.session(), {_full(org, r) for r in rows})
    out = []
    for r in rows:
        d = found.get((r["engine"], _full(org, r)))
        if d is None:
            out.append(Verdict("noop"))
        elif d.org_id != org.id:
            out.append(Verdict("conflict", key="databases.not_yours", message=f"{d.name} is not your database."))
        elif d.status not in (DbStatus.ACTIVE, DbStatus.FAILED, DbStatus.SUSPENDED):
            out.append(
                Verdict(
                    "conflict", d.id, "databases.busy", f"{d.name} is {d.status.value}: delete it once that is done."
                )
            )
        else:
            out.append(Verdict("delete", d.id))
    return out


def _delete_start(actor: Actor, org: Organization, rows: list[dict], start) -> list[Batch]:
    return [Batch((_key(r),), start("databases.database_delete", {"database_id": r["_object_id"]})) for r in rows]


def _delete_state(s: Session, org_id: int, rows: list[dict]) -> dict[str, RowState]:
    org = s.get(Organization, org_id)
    found = _existing(s, {_full(org, r) for r in rows})
    out = {}
    for r in rows:
        d = found.get((r["engine"], _full(org, r)))
        out[_key(r)] = RowState("running", d.id) if d is not None and d.org_id == org_id else RowState("done")
    return out


ROWS = (
    RowKind(
        name="databases",
        label=N_("Databases"),
        request_kind=KIND,
        columns=COLUMNS,
        key=_key,
        classify=_classify,
        quota=_quota,
        apply=_apply,
        state=_state,
        payload=_payload,
        placement=_placement,
        order=20,  # after the sites, before the mailboxes
        parents=("sites",),
        deletion=Deletion(("engine", "name"), _delete_find, _delete_start, _delete_state),
    ),
)
