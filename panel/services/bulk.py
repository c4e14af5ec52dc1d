"""Bulk provisioning: files -> a plan (nothing applied) -> one request, one approval -> apply -> report.

The core reads the files (services.tabular), checks every row column by column (and through the
request kind's marshmallow schema when it has one), so every error of every row is reported at once
with its file, line and column; capabilities say what rows they accept with `RowKind`s named in
their manifest (`Manifest.bulk`), and the core never imports them. A plan is stored with a digest
over its rows, their actions and the budget they were checked against; `bulk.apply` is one request
for the whole plan whose payload holds that digest, so the approval (audited with the request) is of
exactly those rows, and approving re-plans the rows first and refuses if the digest differs (a row
of the plan, a quota limit, or an object someone made since). Approval starts the work: each row
kind turns its create rows into requests of its own kinds (one per batch and host, so one job and
one playbook run per batch), approved by the bundle. A failed batch is resumed by retrying it alone.
Running the same files again plans no-ops only. Nothing is ever deleted unless a row says so: a row
kind that can delete declares a `Deletion`, its files get an `action` column (key), and a row whose
action is `delete` is planned as a delete (its object found by the row's natural key; already gone:
a no-op), carried in the digest like every row, and applied as the capability's own delete requests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from panel import db, security
from panel.errors import Conflict, Forbidden, Invalid, NotFound, PanelError
from panel.models.bulk import BulkPlan, BulkRow
from panel.models.jobs import Job
from panel.models.requests import ApprovalMode, Request, RequestStatus
from panel.models.tenants import MINISTRY_ROLES, Organization, Role
from panel.services import request_kinds, requests
from panel.services.actor import Actor, get_scoped, require_write
from panel.services.audit import append, audited
from panel.services.quotas import budget_org_id, limits_map, quota_check, quota_impact
from panel.services.request_kinds import N_, RequestKind
from panel.services.tabular import MAX_FILE_BYTES, decode_upload, is_utf16, read_records, read_tree
from panel.services.tenants import valid_id

MAX_ROWS = 10_000  # rows in one plan, all files together
MAX_FILES = 20
MAX_UPLOAD = MAX_FILE_BYTES  # bytes of one file
MAX_ERRORS_SHOWN = 1000  # errors kept per plan beyond which the rest are counted, not listed
_CLOSED = (RequestStatus.REJECTED, RequestStatus.CANCELLED)
ACTIONS = ("create", "update", "delete", "noop", "conflict", "invalid")
WORK = ("create", "update", "delete")  # the actions an apply carries out
ACTION_COLUMN = "action"  # a row's own action: empty (create, update or no-op as found) or "delete"
DELETE = "delete"


@dataclass(frozen=True)
class Column:
    """One column of a row kind: its API field name and how its text becomes a clean value
    (raise PanelError to refuse it). secret: never stored in the plan, kept sealed apart."""

    name: str
    clean: Callable[[str], object] = lambda text: text.strip()
    required: bool = False
    secret: bool = False
    generate: Callable[[], str] | None = None  # a secret left empty is generated (and delivered once)
    help: str = ""  # English, for the template and the JSON Schema


@dataclass(frozen=True)
class Verdict:
    action: str  # create | update | noop | conflict | invalid
    object_id: int | None = None
    key: str = ""  # error key of a conflict
    message: str = ""  # its English text


@dataclass(frozen=True)
class Batch:
    """What a row kind started for some of its rows: the request (None when the work was done at
    once, as DNS records are), and the keys of its rows."""

    keys: tuple[str, ...]
    request: Request | None = None


@dataclass(frozen=True)
class RowState:
    status: str  # running | done | failed
    object_id: int | None = None
    error_key: str = ""
    message: str = ""


@dataclass(frozen=True)
class Deletion:
    """How a row kind deletes its objects, for rows whose `action` column says delete.

    columns: the columns a delete row needs (its natural key); the others are not read.
    find(actor, org, rows) -> one Verdict per row: delete (object_id), noop (already gone), conflict.
    start(actor, org, rows, start) -> [Batch]: rows carry "_object_id"; start(kind, payload) files the
        capability's own delete request, approved by the bundle (inside the approval: no network).
    state(session, org_id, rows) -> {key: RowState}: done once the object is gone.
    """

    columns: tuple[str, ...]
    find: Callable[[Actor, Organization, list[dict]], list[Verdict]]
    start: Callable[..., list[Batch]]
    state: Callable[[Session, int, list[dict]], dict[str, RowState]]


@dataclass(frozen=True)
class RowKind:
    """A kind of row in bulk files, declared by a capability.

    columns: API field names (the CSV header, the YAML keys) with their cleaning.
    key(clean) -> the natural key (site name, mailbox address ...), unique in a plan.
    classify(actor, org, rows) -> one Verdict per clean row, in one pass (a few queries, not one per row).
    quota(rows) -> {resource: amount} the create rows ask.
    payload(row) -> one row as a payload of `request_kind` (checked by that kind's schema, if any).
    apply(actor, org, rows, secrets, start) -> [Batch]: start(kind, payload, secrets) files a request
        approved by the bundle. Called inside the approval's transaction: no network here.
    state(session, org_id, rows) -> {key: RowState} of rows applied (for progress and the report).
    update(actor, org, rows, start) -> [Batch] for "update" rows, if the kind can change its objects.
    placement(session, org, rows) -> lines for the preview ("120 sites on web1").
    order: kinds apply in this order (a record after the site it names).
    """

    name: str
    label: str
    request_kind: str
    columns: tuple[Column, ...]
    key: Callable[[dict], str]
    classify: Callable[[Actor, Organization, list[dict]], list[Verdict]]
    quota: Callable[[list[dict]], dict[str, int]]
    apply: Callable[..., list[Batch]]
    state: Callable[[Session, int, list[dict]], dict[str, RowState]]
    payload: Callable[[dict], dict] | None = None
    placement: Callable[[Session, Organization, list[dict]], list[str]] = field(default=lambda s, o, rows: [])
    order: int = 50
    # Rows whose object exists with other settings this kind can change (classify says "update");
    # each update row carries "_object_id". update_quota: what the changes ask of the budget.
    update: Callable[..., list[Batch]] | None = None
    update_quota: Callable[[list[dict]], dict[str, int]] = field(default=lambda rows: {})
    # Hierarchical files: the kinds whose rows may hold rows of this kind (a site holds its mailboxes,
    # databases and records), and what a nested row takes from its parent:
    # nest(parent_kind, parent_values, values) -> values (the file's own text values, before cleaning).
    # domain(values) -> the DNS domain a row stands for, offered to the rows nested in it (parent_domain).
    parents: tuple[str, ...] = ()
    nest: Callable[[str, dict, dict], dict] = field(default=lambda parent_kind, parent, values: values)
    domain: Callable[[dict], str] | None = None
    deletion: Deletion | None = None  # rows saying `action: delete` delete their object (None: never)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns) + ((ACTION_COLUMN,) if self.deletion else ())

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


_KINDS: dict[str, RowKind] = {}


def register(kind: RowKind) -> RowKind:
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def row_kinds() -> list[RowKind]:
    return sorted(_KINDS.values(), key=lambda k: (k.order, k.name))


def row_kind(name: str) -> RowKind:
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise NotFound(
            "bulk.kind_unknown",
            "Unknown kind of rows: {kind}; known are {kinds}.",
            field="kind",
            kind=str(name)[:64],
            kinds=", ".join(sorted(_KINDS)),
        ) from None


def parent_domain(parent_kind: str, parent: dict) -> str:
    """The domain a parent row stands for (a site www.mptc.gov.kh: mptc.gov.kh), or "" (for nest())."""
    rk = _KINDS.get(parent_kind)
    return (rk.domain(parent) if rk and rk.domain else "").strip().lower()


# ---- templates and the JSON Schema ----------------------------------------------------------------


def bulk_template(kind: str) -> str:
    """The CSV template of a row kind: its header (API field names), UTF-8 with a byte-order mark so
    that Excel opens Khmer text correctly."""
    rk = row_kind(kind)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(rk.column_names)
    return "\ufeff" + out.getvalue()


def bulk_json_schema() -> dict:
    """The published JSON Schema of the hierarchical file (YAML or JSON): a ministry and, per row
    kind, a list of rows whose fields are the API field names; a row may hold lists of the kinds
    that name its kind among their parents (a site: its mailboxes, databases, DNS records)."""
    defs: dict = {}
    for rk in row_kinds():
        props: dict = {
            c.name: {"type": ["string", "integer", "boolean", "null"], "description": c.help} for c in rk.columns
        }
        if rk.deletion:
            props[ACTION_COLUMN] = {
                "type": ["string", "null"],
                "enum": ["", DELETE, None],
                "description": f"delete: delete the object named by {', '.join(rk.deletion.columns)}; "
                "empty: create it (or leave it) as the row says",
            }
        for child in row_kinds():
            if rk.name in child.parents:
                props[child.name] = {
                    "type": "array",
                    "maxItems": MAX_ROWS,
                    "description": f"{child.label} of this row",
                    "items": {"$ref": f"#/$defs/{child.name}"},
                }
        # a kind that may nest takes required values from its parent: the plan checks them per row
        defs[rk.name] = {
            "type": "object",
            "additionalProperties": False,
            "required": [] if rk.parents else list(rk.required),
            "properties": props,
        }
    props = {"ministry": {"type": "string", "description": "the ministry's slug; must be the plan's ministry"}}
    for rk in row_kinds():
        props[rk.name] = {
            "type": "array",
            "maxItems": MAX_ROWS,
            "description": rk.label,
            "items": {"$ref": f"#/$defs/{rk.name}"},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:govhost:bulk:2",
        "title": "govhost bulk provisioning file",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "$defs": defs,
    }


# ---- reading files ------------------------------------------------------------------------------


@dataclass
class RawRow:
    kind: str
    file: str
    line: int
    values: dict[str, str]


def _text_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def read_files(files: Sequence[tuple[str, bytes | str]], org_slug: str) -> list[RawRow]:
    """[(file name, content)] -> raw rows. A CSV file's kind is its name's stem (sites.csv,
    mailboxes-2.csv), as the templates are named; a .yaml/.yml/.json file holds any kinds."""
    if not files:
        raise Invalid("bulk.no_files", "Give at least one file.", field="files")
    if len(files) > MAX_FILES:
        raise Invalid("bulk.too_many_files", "At most {max} files at a time.", field="files", max=MAX_FILES)
    rows: list[RawRow] = []
    for name, content in files:
        name = (str(name or "file").replace("\\", "/").rsplit("/", 1)[-1] or "file")[:200]
        text = decode_upload(content, field=name)
        lower = name.lower()
        if lower.endswith((".yaml", ".yml", ".json")):
            rows += _read_tree(name, text, org_slug, room=MAX_ROWS - len(rows))
        elif lower.endswith((".csv", ".txt")):
            rk = row_kind(_kind_of(name))
            # a kind that deletes needs only its key columns in the header (a file of delete rows
            # has no plan column); each create row is still checked for every required value
            needed = tuple(c for c in rk.required if rk.deletion is None or c in rk.deletion.columns)
            records = read_records(
                text, rk.column_names, required=needed, field=name, max_rows=MAX_ROWS, tabs=is_utf16(content)
            )
            for line, values in records:
                rows.append(RawRow(rk.name, name, line, values))
        else:
            raise Invalid("bulk.file_type", "{file}: give a .csv, .yaml or .json file.", field="files", file=name)
        if len(rows) > MAX_ROWS:
            raise Invalid("bulk.too_many_rows", "At most {max} rows in one plan.", field="files", max=MAX_ROWS)
    return rows


def _kind_of(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0].lower()
    for rk in _KINDS:
        if stem == rk or stem.startswith((f"{rk}-", f"{rk}_", f"{rk}.")):
            return rk
    raise Invalid(
        "bulk.file_kind",
        "{file}: name a CSV file after its kind of rows ({kinds}), as the templates are.",
        field="files",
        file=filename,
        kinds=", ".join(f"{k}.csv" for k in sorted(_KINDS)),
    )


def _read_tree(name: str, text: str, org_slug: str, room: int = MAX_ROWS) -> list[RawRow]:
    data, lines = read_tree(text, field=name)
    if not isinstance(data, dict):
        raise Invalid(
            "bulk.tree_invalid", "{file}: the file must be a mapping of kinds to rows.", field=name, file=name
        )
    unknown = [k for k in data if k != "ministry" and k not in _KINDS]
    if unknown:
        raise Invalid(
            "bulk.tree_key_unknown",
            "{file}: unknown key {name}; the keys are ministry, {kinds}.",
            field=name,
            file=name,
            name=str(unknown[0])[:64],
            kinds=", ".join(sorted(_KINDS)),
        )
    ministry = data.get("ministry")
    if ministry not in (None, "") and str(ministry) != org_slug:
        raise Forbidden(
            "bulk.other_ministry",
            "{file} is for ministry {ministry}, not {org}: nothing of it is planned.",
            field=name,
            file=name,
            ministry=str(ministry)[:64],
            org=org_slug,
        )
    rows: list[RawRow] = []
    for kind, items in data.items():
        if kind != "ministry":
            _read_items(name, lines, _KINDS[kind], items, None, rows, room=room)
    return rows


MAX_DEPTH = 4  # ministry -> sites -> databases / mailboxes / records: deeper nesting is refused


def _read_items(
    name: str,
    lines: dict,
    rk: RowKind,
    items,
    parent: tuple[RowKind, dict, int] | None,
    rows: list[RawRow],
    depth=1,
    room: int = MAX_ROWS,
) -> None:
    """Rows of kind RK from a list in the tree; a row's own lists of other kinds are read as rows of
    those kinds, nested in it (each kind says under which kinds it may stand and what it takes from
    its parent's values). More than ROOM rows is refused as soon as it is reached: YAML aliases
    (`- *site` repeated) make a small file hold millions of rows, never all built."""
    if not isinstance(items, list):
        raise Invalid(
            "bulk.tree_invalid", "{file}: {kind} must be a list of rows.", field=name, file=name, kind=rk.name
        )
    for item in items:
        line = lines.get(id(item), parent[2] if parent else 0)
        if not isinstance(item, dict):
            raise Invalid(
                "bulk.tree_row_invalid",
                "{file} line {line}: a row is a mapping of fields.",
                field=name,
                file=name,
                line=line,
            )
        nested = {k: v for k, v in item.items() if k in _KINDS and k not in rk.column_names}
        for k in nested:
            if rk.name not in _KINDS[k].parents:
                raise Invalid(
                    "bulk.tree_nesting",
                    "{file} line {line}: {child} cannot stand under {kind}; put them at the top or under {parents}.",
                    field=name,
                    file=name,
                    line=line,
                    child=k,
                    kind=rk.name,
                    parents=", ".join(_KINDS[k].parents) or "nothing",
                )
        extra = [k for k in item if k not in rk.column_names and k not in nested]
        if extra:
            raise Invalid(
                "table.column_unknown",
                "Line {line}: unknown column {column}; the columns are {columns}.",
                field=name,
                line=line,
                column=str(extra[0])[:64],
                columns=", ".join(rk.column_names),
            )
        values = {str(k): _text_value(v) for k, v in item.items() if k not in nested}
        if parent is not None:
            values = rk.nest(parent[0].name, parent[1], values)
        rows.append(RawRow(rk.name, name, line, values))
        if len(rows) > room:
            raise Invalid("bulk.too_many_rows", "At most {max} rows in one plan.", field="files", max=MAX_ROWS)
        if nested and depth >= MAX_DEPTH:
            raise Invalid(
                "bulk.tree_too_deep", "{file} line {line}: nested too deep.", field=name, file=name, line=line
            )
        for k, children in nested.items():
            _read_items(name, lines, _KINDS[k], children, (rk, values, line), rows, depth + 1, room)


# ---- planning -----------------------------------------------------------------------------------


@dataclass
class PlannedRow:
    kind: str
    file: str
    line: int
    key: str
    action: str
    data: dict
    errors: list[dict]
    object_id: int | None = None
    secrets: dict = field(default_factory=dict)


def _error(column: str, e: PanelError) -> dict:
    return {"column": column, "key": e.key, "message": e.text()}


def _row_action(rk: RowKind, raw: RawRow) -> tuple[str, list[dict]]:
    """The row's own action: "" or "delete" (only where the kind declares a Deletion)."""
    text = raw.values.get(ACTION_COLUMN, "").strip().lower() if rk.deletion else ""
    if text in ("", DELETE):
        return text, []
    return "", [{"column": ACTION_COLUMN, "key": "bulk.action_invalid", "message": "action is empty or delete."}]


def _clean_row(rk: RowKind, raw: RawRow, delete: bool = False) -> tuple[dict, dict, list[dict]]:
    clean, hidden, errors = {}, {}, []
    for col in rk.columns:
        if delete and col.name not in rk.deletion.columns:
            continue  # a delete row is read by its natural key only
        text = raw.values.get(col.name, "")
        if col.required and not text.strip():
            errors.append({"column": col.name, "key": "bulk.value_missing", "message": f"{col.name} is missing."})
            continue
        try:
            value = col.clean(text)
        except PanelError as e:
            errors.append(_error(col.name, e))
            continue
        (hidden if col.secret else clean)[col.name] = value
    return clean, hidden, errors


def _schema_errors(kind: RequestKind | None, payload: dict) -> list[dict]:
    """Every error the request kind's schema finds in the row's payload, at once."""
    if kind is None or kind.schema is None:
        return []
    try:
        kind.schema(unknown=RAISE).load(payload)
    except ValidationError as e:
        out = []
        for name, messages in sorted(e.messages.items(), key=lambda kv: str(kv[0])):
            text = messages[0] if isinstance(messages, list) and messages else str(messages)
            out.append({"column": str(name), "key": "bulk.schema", "message": f"{name}: {text}"})
        return out
    return []


def _plan_rows(actor: Actor, org: Organization, raws: list[RawRow]) -> list[PlannedRow]:
    planned: list[PlannedRow] = []
    by_kind: dict[str, list[PlannedRow]] = {}
    seen: dict[tuple[str, str], PlannedRow] = {}
    deletes: dict[str, list[PlannedRow]] = {}
    for raw in raws:
        rk = _KINDS[raw.kind]
        wanted, errors = _row_action(rk, raw)
        clean, hidden, more = _clean_row(rk, raw, delete=wanted == DELETE)
        errors += more
        key = ""
        if not errors and wanted == DELETE:
            key = rk.key(clean)
            clean[ACTION_COLUMN] = DELETE  # kept in the plan's row (and its digest): re-planned as a delete
        elif not errors:
            try:
                request_kind = request_kinds.get(rk.request_kind)
            except NotFound:
                request_kind = None
            if rk.payload is not None:
                errors += _schema_errors(request_kind, rk.payload(clean))
            key = rk.key(clean)
        first = seen.get((rk.name, key)) if key else None
        if first is not None:  # a create and a delete of one object in one plan are duplicates too
            errors.append(
                {
                    "column": rk.column_names[0],
                    "key": "bulk.row_duplicate",
                    "message": f"{key} is also on line {first.line} of {first.file}.",
                }
            )
        row = PlannedRow(rk.name, raw.file, raw.line, key, "invalid" if errors else "", clean, errors, secrets=hidden)
        if not errors:
            seen[(rk.name, key)] = row
            (deletes if wanted == DELETE else by_kind).setdefault(rk.name, []).append(row)
        planned.append(row)
    for name, rows in by_kind.items():
        _classify(actor, org, _KINDS[name], rows)
    for name, rows in deletes.items():
        _classify_deletes(actor, org, _KINDS[name], rows)
    return planned


def _classify(actor: Actor, org: Organization, rk: RowKind, rows: list[PlannedRow]) -> None:
    verdicts = rk.classify(actor, org, [r.data for r in rows])
    for row, v in zip(rows, verdicts, strict=True):
        row.action, row.object_id = v.action, v.object_id
        if v.action in ("conflict", "invalid"):
            row.errors = [{"column": rk.column_names[0], "key": v.key, "message": v.message}]


def _classify_deletes(actor: Actor, org: Organization, rk: RowKind, rows: list[PlannedRow]) -> None:
    verdicts = rk.deletion.find(actor, org, [r.data for r in rows])
    for row, v in zip(rows, verdicts, strict=True):
        row.action, row.object_id = v.action, v.object_id
        if v.action in ("conflict", "invalid"):
            row.errors = [{"column": rk.deletion.columns[0], "key": v.key, "message": v.message}]


def _is_delete(data: dict) -> bool:
    return data.get(ACTION_COLUMN) == DELETE


def _plan_quota(rows: list[PlannedRow]) -> dict[str, int]:
    total: Counter = Counter()
    by_kind: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        if r.action in WORK and r.action != DELETE:  # a delete frees its budget when its object is gone
            by_kind.setdefault((r.kind, r.action), []).append({**r.data, "_object_id": r.object_id})
    for (kind, action), datas in by_kind.items():
        rk = _KINDS[kind]
        total.update((rk.quota if action == "create" else rk.update_quota)(datas))
    return {k: int(v) for k, v in sorted(total.items()) if v}


def _digest(org_id: int, rows: list[tuple[str, str, str, dict]], quota: dict, limits: dict) -> str:
    body = json.dumps(
        {"org": org_id, "rows": rows, "quota": quota, "limits": limits}, sort_keys=True, ensure_ascii=True, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _limits(s: Session, org_id: int, quota: dict) -> dict:
    limits = limits_map(s, budget_org_id(s, org_id))
    return {r: limits.get(r) for r in sorted(quota)}


@dataclass(frozen=True)
class PlanResult:
    plan: BulkPlan
    passwords: dict[str, str]  # generated ones, for their one delivery (empty if none)


def _org_for(actor: Actor, org_id) -> Organization:
    org_id = valid_id(org_id)
    org = db.session().get(Organization, org_id)
    if org is None or not (actor.sees_all or org_id in actor.org_ids):
        raise NotFound("organization.not_found", "Not found.", field="org_id", id=str(org_id))
    require_write(actor)
    if not request_kinds.get("bulk.apply").may_request(actor, requests.org_roles_up(actor, org)):
        raise Forbidden("bulk.forbidden", "You may not provision in bulk for this ministry.")
    return org


@audited("bulk.plan", "bulk_plan", exclude=("files",))
def bulk_plan(actor: Actor, *, org_id: int, files: Sequence[tuple[str, bytes | str]], file_names=()) -> PlanResult:
    """Read and check the files and store the plan (nothing is applied). Rows with errors are
    kept with all their errors; a plan with any invalid or conflicting row cannot be submitted.
    Mailbox rows without a password get a generated one, returned here once."""
    with db.unit_of_work() as s:
        org = _org_for(actor, org_id)
        raws = read_files(files, org.slug)
        rows = _plan_rows(actor, org, raws)
        generated = _generate_secrets(rows)
        quota = _plan_quota(rows)
        digest = _digest(org.id, _digest_rows(rows), quota, _limits(s, org.id, quota))
        per_file = Counter((r.file, r.kind) for r in rows)
        plan = BulkPlan(
            org_id=org.id,
            created_by_id=actor.user_id,
            created_by_name=actor.username,
            files=[{"name": f, "kind": k, "rows": n} for (f, k), n in per_file.items()],
            digest=digest,
            counts=dict(Counter(r.action for r in rows)),
            quota=quota,
            secrets=_seal({f"{r.kind}:{r.key}": r.secrets for r in rows if r.secrets and r.action in WORK}),
            delivery=_seal(generated),
        )
        s.add(plan)
        s.flush()
        s.execute(
            BulkRow.__table__.insert(),
            [
                {
                    "plan_id": plan.id,
                    "seq": i,
                    "kind": r.kind,
                    "file": r.file,
                    "line": r.line,
                    "key": r.key[:300],
                    "action": r.action,
                    "data": r.data,
                    "errors": r.errors,
                    "status": "planned" if r.action in WORK else "skipped",
                    "object_id": r.object_id,
                    "error_key": "",
                    "error_message": "",
                }
                for i, r in enumerate(rows, start=1)
            ],
        )
        return PlanResult(plan, generated)


def _seal(value: dict) -> str | None:
    return security.seal(json.dumps(value)) if value else None


def _unseal(value: str | None) -> dict:
    return json.loads(security.unseal(value)) if value else {}


def _digest_rows(rows) -> list:
    return [[r.kind, r.key, r.action, r.data, r.object_id if r.action in ("update", DELETE) else None] for r in rows]


def _generate_secrets(rows: list[PlannedRow]) -> dict[str, str]:
    """A password for each new row whose kind has a secret column left empty ({key: password})."""
    out = {}
    for r in rows:
        if r.action != "create":
            continue
        for col in _KINDS[r.kind].columns:
            if col.secret and col.generate is not None and not r.secrets.get(col.name):
                r.secrets[col.name] = out[r.key] = col.generate()
    return out


# ---- reading a plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanView:
    plan: BulkPlan
    rows: list[BulkRow]
    total_rows: int
    impact: list  # quota_impact rows of the whole plan
    placement: list[str]
    request: Request | None
    progress: dict[str, int]  # {status: n} of the create rows

    @property
    def submittable(self) -> bool:
        return self.plan.request_id is None and not (
            self.plan.counts.get("invalid") or self.plan.counts.get("conflict")
        )

    @property
    def within_budget(self) -> bool:
        return all(row.ok for row in self.impact)


def _plan_scoped(actor: Actor, plan_id) -> BulkPlan:
    return get_scoped(BulkPlan, valid_id(plan_id, "bulk_plan"), actor, "bulk_plan")


def bulk_show(actor: Actor, plan_id, *, rows_limit: int = 200, only: str | None = None) -> PlanView:
    """The plan, its first rows (the invalid and conflicting ones first), the budget impact, the
    placement preview and the progress of its work."""
    with db.unit_of_work() as s:
        plan = _plan_scoped(actor, plan_id)
        live = _live(s, plan)
        stmt = select(BulkRow).where(BulkRow.plan_id == plan.id)
        if only:
            stmt = stmt.where(BulkRow.action == only)
        rank = BulkRow.action.in_(("invalid", "conflict"))
        rows = list(s.scalars(stmt.order_by(rank.desc(), BulkRow.seq).limit(max(1, min(rows_limit, 1000)))))
        total = sum(plan.counts.values())
        impact = quota_impact(s, plan.org_id, plan.quota) if plan.request_id is None else []
        org = s.get(Organization, plan.org_id)
        creates: dict[str, list[dict]] = {}
        if plan.request_id is None:
            for kind, data in s.execute(
                select(BulkRow.kind, BulkRow.data).where(BulkRow.plan_id == plan.id, BulkRow.action == "create")
            ):
                creates.setdefault(kind, []).append(data)
        placement = []
        for kind, datas in creates.items():
            if kind in _KINDS:
                try:
                    placement += _KINDS[kind].placement(s, org, datas)
                except PanelError as e:
                    placement.append(f"{kind}: {e.text()}")
        req = s.get(Request, plan.request_id) if plan.request_id else None
        progress = Counter(
            dict(
                s.execute(
                    select(BulkRow.status, db_count()).where(BulkRow.plan_id == plan.id).group_by(BulkRow.status)
                ).all()
            )
        )
        for state in live.values():  # started rows count by what became of them
            progress["running"] -= 1
            progress[state["status"]] += 1
        for r in rows:
            s.expunge(r)  # shown with their live state, never written back
            for name, value in live.get(r.id, {}).items():
                setattr(r, name, value if value is not None else getattr(r, name))
        progress = {k: v for k, v in progress.items() if v}
        return PlanView(plan, rows, total, impact, placement, req, progress)


def db_count():
    from sqlalchemy import func

    return func.count()


def bulk_list(actor: Actor, *, page: int = 1, per_page: int = 50):
    from panel.services.actor import scoped
    from panel.services.pagination import paginate

    with db.unit_of_work():
        return paginate(
            scoped(select(BulkPlan), actor, BulkPlan).order_by(BulkPlan.id.desc()), page=page, per_page=per_page
        )


REPORT_COLUMNS = (
    "row",
    "file",
    "line",
    "kind",
    "key",
    "action",
    "status",
    "object_id",
    "request_id",
    "job_id",
    "error_key",
    "error_message",
)


def bulk_report(actor: Actor, plan_id) -> list[dict]:
    """One line per row: where it came from, what was planned, what happened (never a secret)."""
    with db.unit_of_work() as s:
        plan = _plan_scoped(actor, plan_id)
        live = _live(s, plan)
        out = []
        for r in s.scalars(select(BulkRow).where(BulkRow.plan_id == plan.id).order_by(BulkRow.seq)):
            now = live.get(r.id, {})
            err_key, err_msg = now.get("error_key", r.error_key), now.get("error_message", r.error_message)
            if not err_key and r.errors:
                err_key = r.errors[0]["key"]
                err_msg = "; ".join(f"{e['column']}: {e['message']}" for e in r.errors)
            out.append(
                {
                    "row": r.seq,
                    "file": r.file,
                    "line": r.line,
                    "kind": r.kind,
                    "key": r.key,
                    "action": r.action,
                    "status": now.get("status", r.status),
                    "object_id": now.get("object_id") or r.object_id,
                    "request_id": r.request_id,
                    "job_id": now.get("job_id") or r.job_id,
                    "error_key": err_key,
                    "error_message": err_msg,
                }
            )
        return out


def report_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if r[k] is None else r[k] for k in REPORT_COLUMNS})
    return out.getvalue()


@audited("bulk.passwords_delivered", "bulk_plan")
def bulk_passwords_take(actor: Actor, *, plan_id: int) -> tuple[BulkPlan, dict[str, str]]:
    """The generated passwords of a plan, once, to the person who made it; then they are gone from
    the plan's delivery (the sealed copy used by the apply is kept until the apply)."""
    with db.unit_of_work():
        plan = _plan_scoped(actor, plan_id)
        db.session().refresh(plan, with_for_update=True)
        mine = plan.created_by_id == actor.user_id and (
            plan.created_by_id is not None or plan.created_by_name == actor.username
        )
        if not mine:
            raise Forbidden("bulk.passwords_not_yours", "Only the person who made the plan receives its passwords.")
        if plan.delivery is None:
            raise Conflict(
                "bulk.passwords_delivered",
                "The passwords of this plan were delivered already (or none were generated).",
            )
        passwords = _unseal(plan.delivery)
        plan.delivery = None
        return plan, passwords


# ---- submit, approve, apply ----------------------------------------------------------------------


def bulk_submit(actor: Actor, plan_id) -> Request:
    """One request for the whole plan; its payload holds the plan's digest."""
    with db.unit_of_work():
        plan = _plan_scoped(actor, plan_id)
        req = requests.request_create(
            actor, kind="bulk.apply", org_id=plan.org_id, payload={"plan_id": plan.id, "digest": plan.digest}
        )
        plan.request_id = plan.request_id or req.id
        return req


def _replan_digest(actor: Actor, s: Session, plan: BulkPlan) -> str:
    """The digest the plan's rows get when classified now: equal only if nothing changed since."""
    org = s.get(Organization, plan.org_id)
    rows = [
        PlannedRow(r.kind, r.file, r.line, r.key, r.action, r.data, r.errors, r.object_id)
        for r in s.scalars(select(BulkRow).where(BulkRow.plan_id == plan.id).order_by(BulkRow.seq))
    ]
    by_kind: dict[str, list[PlannedRow]] = {}
    deletes: dict[str, list[PlannedRow]] = {}
    for r in rows:
        if r.action != "invalid":
            if r.kind not in _KINDS or (_is_delete(r.data) and _KINDS[r.kind].deletion is None):
                raise Conflict("bulk.kind_gone", "Rows of {kind} can no longer be provisioned.", kind=r.kind)
            (deletes if _is_delete(r.data) else by_kind).setdefault(r.kind, []).append(r)
    for name, group in by_kind.items():
        _classify(actor, org, _KINDS[name], group)
    for name, group in deletes.items():
        _classify_deletes(actor, org, _KINDS[name], group)
    quota = _plan_quota(rows)
    return _digest(plan.org_id, _digest_rows(rows), quota, _limits(s, plan.org_id, quota))


def _plan_check(actor: Actor, org: Organization, payload: dict) -> dict:
    request_kinds.reject_unknown(payload, {"plan_id", "digest"})
    plan_id = request_kinds.require_int(payload, "plan_id", minimum=1, maximum=2**63 - 1)
    digest = request_kinds.require_text(payload, "digest", max_len=64)
    s = db.session()
    plan = s.get(BulkPlan, plan_id)
    if plan is None or plan.org_id != org.id or not (actor.sees_all or plan.org_id in actor.org_ids):
        raise NotFound("bulk_plan.not_found", "Not found.", field="plan_id", id=str(plan_id))
    open_ = s.scalars(
        select(Request).where(Request.kind == "bulk.apply", Request.org_id == org.id, Request.status.not_in(_CLOSED))
    )
    earlier = next((r.id for r in open_ if r.payload.get("plan_id") == plan.id), plan.request_id)
    if earlier is not None:
        raise Conflict("bulk.submitted", "This plan was submitted already (request #{id}).", id=earlier)
    if plan.counts.get("invalid") or plan.counts.get("conflict"):
        raise Invalid(
            "bulk.plan_has_errors",
            "The plan has {n} rows with errors: correct the files and plan again.",
            field="plan_id",
            n=plan.counts.get("invalid", 0) + plan.counts.get("conflict", 0),
        )
    if not any(plan.counts.get(a) for a in WORK):
        raise Invalid(
            "bulk.nothing_to_do", "Every row of the plan is in place already: nothing to apply.", field="plan_id"
        )
    if digest != plan.digest:
        raise Conflict("bulk.plan_changed", "The plan changed since it was made: plan the files again.", field="digest")
    if _replan_digest(actor, s, plan) != plan.digest:
        raise Conflict(
            "bulk.plan_changed",
            "Something changed since the plan was made (a row, a quota or an object): plan the files again.",
            field="digest",
        )
    quota_check(actor, org.id, plan.quota)
    return {"plan_id": plan.id, "digest": plan.digest}


def _bundle_approve(actor: Actor, request: Request) -> list:
    """The approval: re-plan (refuse if anything changed), re-check the whole budget under the
    ministry's lock, then each row kind starts its batches as requests approved by this one."""
    s = db.session()
    plan = s.get(BulkPlan, request.payload["plan_id"])
    if plan is None or plan.applied_at is not None:
        raise Conflict("bulk.applied", "This plan was applied already.")
    if _replan_digest(actor, s, plan) != request.payload["digest"]:
        raise Conflict(
            "bulk.plan_changed",
            "Something changed since the plan was made (a row, a quota or an object): nothing was applied; "
            "plan the files again.",
        )
    quota_check(actor, plan.org_id, plan.quota, lock=True)
    append(
        actor,
        "bulk.approved",
        object_type="bulk_plan",
        object_id=plan.id,
        org_id=plan.org_id,
        summary=f"digest={plan.digest} request={request.id} rows={sum(plan.counts.values())}",
    )
    org = s.get(Organization, plan.org_id)
    hidden = _unseal(plan.secrets)
    rows = list(s.scalars(select(BulkRow).where(BulkRow.plan_id == plan.id, BulkRow.action.in_(WORK))))
    by_kind: dict[str, list[BulkRow]] = {}
    for r in rows:
        by_kind.setdefault(r.kind, []).append(r)

    def start(kind: str, payload: dict, secrets: dict | None = None) -> Request:
        return requests.request_create_granted(actor, request, kind=kind, payload=payload, secrets=secrets)

    for rk in row_kinds():
        group = by_kind.get(rk.name)
        if not group:
            continue
        keyed = {r.key: r for r in group}
        creates = [r for r in group if r.action == "create"]
        updates = [{**r.data, "_object_id": r.object_id} for r in group if r.action == "update"]
        secrets = {r.key: hidden.get(f"{rk.name}:{r.key}", {}) for r in creates}
        deletes = [{**r.data, "_object_id": r.object_id} for r in group if r.action == DELETE]
        batches = rk.apply(actor, org, [r.data for r in creates], secrets, start) if creates else []
        if updates:
            if rk.update is None:
                raise Conflict("bulk.kind_gone", "Rows of {kind} can no longer be provisioned.", kind=rk.name)
            batches += rk.update(actor, org, updates, start)
        if deletes:
            if rk.deletion is None:
                raise Conflict("bulk.kind_gone", "Rows of {kind} can no longer be provisioned.", kind=rk.name)
            batches += rk.deletion.start(actor, org, deletes, start)
        for batch in batches:
            for key in batch.keys:
                row = keyed[key]
                row.status = "running"  # until its object says done or failed (DNS: once BIND took it)
                row.request_id = batch.request.id if batch.request is not None else None
    plan.request_id = request.id
    plan.applied_at = db.utcnow()
    plan.secrets = None  # the passwords are hashed in the requests now; the clear ones end here
    s.flush()
    return []


def _describe(payload: dict) -> tuple[str, dict]:
    plan = db.session().get(BulkPlan, payload["plan_id"])
    counts = plan.counts if plan else {}
    return (
        N_("bulk plan #{plan}: {create} to create, {update} to change, {delete} to delete, {noop} in place"),
        {
            "delete": counts.get(DELETE, 0),
            "plan": payload["plan_id"],
            "create": counts.get("create", 0),
            "update": counts.get("update", 0),
            "noop": counts.get("noop", 0),
        },
    )


class BulkApplyPayload(Schema):
    """The plan and the digest of what its approver sees (checked again at approval)."""

    plan_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**63 - 1))
    digest = fields.String(required=True, validate=request_kinds.text(min=1, max=64))


BULK_APPLY = request_kinds.register(
    RequestKind(
        name="bulk.apply",
        label=N_("Bulk provisioning"),
        who_may_request=frozenset({*MINISTRY_ROLES, Role.OPERATOR, Role.ADMIN}),
        validate=_plan_check,
        schema=BulkApplyPayload,
        on_approve=_bundle_approve,
        describe=_describe,
        default_policy=ApprovalMode.ONE,
    )
)


def _live(s: Session, plan: BulkPlan) -> dict[int, dict]:
    """What became of the rows that were started: {row id: {status, object_id, job_id, error_key,
    error_message}} from their objects and jobs, read only (GET requests never write)."""
    running = list(
        s.execute(
            select(BulkRow.id, BulkRow.kind, BulkRow.key, BulkRow.data, BulkRow.request_id, BulkRow.action).where(
                BulkRow.plan_id == plan.id, BulkRow.status.in_(("running", "failed"))
            )
        )
    )
    if not running:
        return {}
    req_ids = list({r.request_id for r in running if r.request_id})
    last_job: dict[int, int] = {}
    for i in range(0, len(req_ids), 500):
        last_job.update(
            s.execute(
                select(Job.request_id, db_max(Job.id))
                .where(Job.request_id.in_(req_ids[i : i + 500]))
                .group_by(Job.request_id)
            ).all()
        )
    failed_requests = set()
    for i in range(0, len(req_ids), 500):
        failed_requests.update(
            s.scalars(
                select(Request.id).where(Request.id.in_(req_ids[i : i + 500]), Request.status == RequestStatus.FAILED)
            )
        )
    by_kind: dict[tuple[str, bool], list] = {}
    for r in running:
        by_kind.setdefault((r.kind, r.action == DELETE), []).append(r)
    out: dict[int, dict] = {}
    for (kind, deleting), group in by_kind.items():
        rk = _KINDS.get(kind)
        if rk is None or (deleting and rk.deletion is None):
            continue
        states = (rk.deletion.state if deleting else rk.state)(s, plan.org_id, [r.data for r in group])
        for r in group:
            st = states.get(r.key) or RowState("running")
            if deleting and st.status == "running" and r.request_id in failed_requests:
                st = RowState("failed", st.object_id, "bulk.delete_failed", "The delete failed: resume the plan.")
            out[r.id] = {
                "status": st.status,
                "object_id": st.object_id,
                "job_id": last_job.get(r.request_id),
                "error_key": st.error_key if st.status == "failed" else "",
                "error_message": st.message[:2000] if st.status == "failed" else "",
            }
    return out


def db_max(col):
    from sqlalchemy import func

    return func.max(col)


@audited("bulk.resume", "bulk_plan")
def bulk_resume(actor: Actor, *, plan_id: int) -> BulkPlan:
    """After a failure: retry only the batches that failed (what succeeded is not run again)."""
    with db.unit_of_work() as s:
        plan = _plan_scoped(actor, plan_id)
        if plan.applied_at is None:
            raise Conflict("bulk.not_applied", "The plan is not approved and applied yet.")
        failed = set(
            s.scalars(
                select(Request.id).where(
                    Request.id.in_(select(BulkRow.request_id).where(BulkRow.plan_id == plan.id)),
                    Request.status == RequestStatus.FAILED,
                )
            )
        )
        if not failed:
            raise Conflict("bulk.nothing_failed", "No batch of this plan failed: nothing to resume.")
    for rid in sorted(failed):
        requests.request_retry(actor, rid)
    return plan
