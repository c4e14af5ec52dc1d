"""The SOC event catalogue: one stable event id per kind of security-relevant audit entry, its ECS
classification (allowed values only), its OCSF class and activity, and its message in English and Khmer.

Every SOC event is one audit chain entry, rendered by `event_of(row)`: the feed's sequence is the
chain's `seq` (1, 2, 3 ... with no gaps) and each event carries the entry's `hash` and `prev_hash`,
so a receiver sees a missing, repeated or reordered event from the numbers alone and can check the
links without trusting the panel. Entries with no catalogue line are configuration changes
(`govhost.config.change`). The JSON schema the receivers validate against is `schema()`.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass

from panel.services.notifications import render
from panel.services.request_kinds import N_

ECS_VERSION = "8.11.0"
PROVIDER = "govhost"
DATASET = "govhost.security"
# ECS's allowed values (https://www.elastic.co/guide/en/ecs/current/ecs-allowed-values-event-*.html).
ECS_KINDS = ("alert", "enrichment", "event", "metric", "state", "pipeline_error", "signal")  # "asset" is beta, later
ECS_CATEGORIES = (
    "api",
    "authentication",
    "configuration",
    "database",
    "driver",
    "email",
    "file",
    "host",
    "iam",
    "intrusion_detection",
    "library",
    "malware",
    "network",
    "package",
    "process",
    "registry",
    "session",
    "threat",
    "vulnerability",
    "web",
)
ECS_TYPES = (
    "access",
    "admin",
    "allowed",
    "change",
    "connection",
    "creation",
    "deletion",
    "denied",
    "end",
    "error",
    "group",
    "indicator",
    "info",
    "installation",
    "protocol",
    "start",
    "user",
)
ECS_OUTCOMES = ("failure", "success", "unknown")
# OCSF classes used here: uid -> name (category uid = uid // 1000). Checked against OCSF 1.5.0's
# activity enums (tests/capabilities/soc/test_catalogue.py holds the table): Entity Management's
# 12 Suspend exists from 1.5.0 on (1.1 had only Create/Read/Update/Delete); the other ids are the
# same in 1.1 and 1.5.
OCSF_VERSION = "1.5.0"
OCSF_CLASSES = {
    1006: "Scheduled Job Activity",
    2004: "Detection Finding",
    3001: "Account Change",
    3002: "Authentication",
    3004: "Entity Management",
    3005: "User Access Management",
}
# Severity: syslog numbers (RFC 5424: 2 critical, 4 warning, 5 notice, 6 informational).
CRITICAL, WARNING, NOTICE, INFO = 2, 4, 5, 6
_OCSF_SEVERITY = {CRITICAL: 5, WARNING: 3, NOTICE: 2, INFO: 1}


@dataclass(frozen=True)
class EventType:
    id: str  # stable: "govhost.auth.login_failed"; SIEM rules key on it
    message: str  # English, N_(); {placeholders} from the entry's summary, actor and object
    kind: str
    category: tuple[str, ...]
    type: tuple[str, ...]
    outcome: str
    ocsf_class: int
    ocsf_activity: int
    ocsf_activity_name: str
    severity: int = INFO
    # The panel shows this event's secret once (a token, a one-time password, recovery codes); no
    # stored secret is ever shown again, so these are the "secret shown" events.
    shows_secret: bool = False


def _t(id, message, kind, category, type_, outcome, ocsf, severity=INFO, shows_secret=False) -> EventType:
    cls, act, act_name = ocsf
    return EventType(id, message, kind, category, type_, outcome, cls, act, act_name, severity, shows_secret)


# audit action -> event type. A catalogue line never changes its id; new kinds get new lines.
CATALOGUE: dict[str, EventType] = {
    "auth.login": _t(
        "govhost.auth.login",
        N_("{actor} logged in"),
        "event",
        ("authentication", "session"),
        ("start",),
        "success",
        (3002, 1, "Logon"),
    ),
    "auth.password_ok": _t(
        "govhost.auth.password_ok",
        N_("{actor} gave the right password; the second factor is due"),
        "event",
        ("authentication",),
        ("info",),
        "success",
        (3002, 1, "Logon"),
    ),
    "auth.login_failed": _t(
        "govhost.auth.login_failed",
        N_("Failed login for {username}"),
        "event",
        ("authentication",),
        ("start",),
        "failure",
        (3002, 1, "Logon"),
        NOTICE,
    ),
    "auth.login_failed:second_factor": _t(
        "govhost.auth.second_factor_failed",
        N_("Wrong second-factor code for {username}"),
        "event",
        ("authentication",),
        ("start",),
        "failure",
        (3002, 1, "Logon"),
        WARNING,
    ),
    "auth.lockout": _t(
        "govhost.auth.lockout",
        N_("Login locked for {minutes} minutes after {failures} failures ({locked} {subject})"),
        "event",
        ("authentication", "iam"),
        ("change",),
        "success",
        (3001, 9, "Lock"),
        WARNING,
    ),
    "auth.totp_enrol": _t(
        "govhost.auth.second_factor_enrolled",
        N_("{actor} turned on two-factor login"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3001, 10, "MFA Factor Enable"),
        NOTICE,
        shows_secret=True,
    ),
    "auth.totp_disable": _t(
        "govhost.auth.second_factor_removed",
        N_("{actor} turned off two-factor login"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3001, 11, "MFA Factor Disable"),
        WARNING,
    ),
    "user.reset_2fa": _t(
        "govhost.user.second_factor_reset",
        N_("{actor} reset the second factor of user {object_id}"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3001, 11, "MFA Factor Disable"),
        WARNING,
    ),
    "user.create": _t(
        "govhost.user.created",
        N_("{actor} created user {object_id}"),
        "event",
        ("iam",),
        ("user", "creation"),
        "success",
        (3001, 1, "Create"),
        NOTICE,
        shows_secret=True,
    ),
    "user.password_change": _t(
        "govhost.user.password_changed",
        N_("{actor} changed their password"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3001, 3, "Password Change"),
        NOTICE,
    ),
    "user.reset_password": _t(
        "govhost.user.password_reset",
        N_("{actor} reset the password of user {object_id}"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3001, 4, "Password Reset"),
        WARNING,
        shows_secret=True,
    ),
    "user.set_role": _t(
        "govhost.user.role_changed",
        N_("{actor} changed the roles of user {object_id}"),
        "event",
        ("iam",),
        ("user", "change", "admin"),
        "success",
        (3005, 1, "Assign Privileges"),
        WARNING,
    ),
    "user.deactivate": _t(
        "govhost.user.deactivated",
        N_("{actor} deactivated user {object_id}"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3001, 5, "Disable"),
        WARNING,
    ),
    "user.sessions_end": _t(
        "govhost.user.sessions_ended",
        N_("{actor} ended every session of user {object_id}"),
        "event",
        ("session",),
        ("end",),
        "success",
        (3002, 2, "Logoff"),
        NOTICE,
    ),
    "token.create": _t(
        "govhost.token.created",
        N_("{actor} created API token {object_id}"),
        "event",
        ("iam",),
        ("creation",),
        "success",
        (3004, 1, "Create"),
        NOTICE,
        shows_secret=True,
    ),
    "token.revoke": _t(
        "govhost.token.revoked",
        N_("{actor} revoked API token {object_id}"),
        "event",
        ("iam",),
        ("deletion",),
        "success",
        (3004, 4, "Delete"),
        NOTICE,
    ),
    "request.approve": _t(
        "govhost.approval.approved",
        N_("{actor} approved request {object_id}"),
        "event",
        ("configuration",),
        ("change",),
        "success",
        (3004, 3, "Update"),
    ),
    "request.reject": _t(
        "govhost.approval.rejected",
        N_("{actor} rejected request {object_id}"),
        "event",
        ("configuration",),
        ("change",),
        "success",
        (3004, 3, "Update"),
    ),
    "host.key_changed": _t(
        "govhost.host.key_mismatch",
        N_("Host {host} presented an SSH host key that does not match the pinned one"),
        "alert",
        ("host", "intrusion_detection"),
        ("info",),
        "failure",
        (2004, 1, "Create"),
        CRITICAL,
    ),
    "host.rekeyed": _t(
        "govhost.host.rekeyed",
        N_("{actor} accepted a new SSH host key for host {host}"),
        "event",
        ("host", "configuration"),
        ("change",),
        "success",
        (3004, 3, "Update"),
        WARNING,
    ),
    "job.failed": _t(
        "govhost.job.failed",
        N_("Job {object_id} ({kind}) failed"),
        "event",
        ("process",),
        ("end",),
        "failure",
        (1006, 99, "Other"),
        NOTICE,
    ),
    "soc.contain": _t(
        "govhost.soc.containment",
        N_("SOC containment by {actor}: {action} {object_type} {object_id}"),
        "event",
        ("iam", "configuration"),
        ("change",),
        "success",
        (3004, 12, "Suspend"),
        WARNING,
    ),
    "host.ban": _t(
        "govhost.host.ban",
        N_("Host {host} banned {address} ({jail})"),
        "event",
        ("intrusion_detection", "network"),
        ("denied",),
        "success",
        (2004, 1, "Create"),
        WARNING,
    ),
    "host.unban": _t(
        "govhost.host.unban",
        N_("Host {host} lifted the ban on {address} ({jail})"),
        "event",
        ("intrusion_detection", "network"),
        ("allowed",),
        "success",
        (2004, 3, "Close"),
        NOTICE,
    ),
    "secrets.rotate": _t(
        "govhost.secrets.rotated",
        N_("{actor} rotated the panel's secret keys"),
        "event",
        ("configuration",),
        ("change",),
        "success",
        (3004, 3, "Update"),
        NOTICE,
    ),
    # Remote database access (the databases capability's audit entries: a network outside the data
    # center may reach a database, with TLS, until a date). Keyed on the audit action names only.
    "databases.remote_access_granted": _t(
        "govhost.database.remote_access_granted",
        N_("{actor} opened database {database} to the network {cidr} until {until}"),
        "event",
        ("database", "network"),
        ("change", "allowed"),
        "success",
        (3004, 1, "Create"),
        WARNING,
    ),
    "databases.remote_access_revoked": _t(
        "govhost.database.remote_access_revoked",
        N_("{actor} ended the access of the network {cidr} to database {database}"),
        "event",
        ("database", "network"),
        ("change", "denied"),
        "success",
        (3004, 4, "Delete"),
        NOTICE,
    ),
    "databases.remote_access_expired": _t(
        "govhost.database.remote_access_expired",
        N_("The access of the network {cidr} to database {database} expired"),
        "event",
        ("database", "network"),
        ("change", "denied"),
        "success",
        (3004, 11, "Deactivate"),
    ),
    # Quota freeze: a database over its size budget is frozen for writing (databases capability's
    # usage sweep) and thawed when back under 90%.
    "databases.write_frozen": _t(
        "govhost.quota.freeze",
        N_("Database {database} is frozen for writing: {used_mb} MB used of its {size_mb} MB"),
        "event",
        ("database",),
        ("change",),
        "success",
        (3004, 12, "Suspend"),
        WARNING,
    ),
    "databases.write_unfrozen": _t(
        "govhost.quota.freeze_lifted",
        N_("The write freeze of database {database} is lifted: {used_mb} MB used of its {size_mb} MB"),
        "event",
        ("database",),
        ("change",),
        "success",
        (3004, 13, "Resume"),
        NOTICE,
    ),
    # Visitor access to the data center (the colocation capability's visitor passes and door log).
    "colocation.visitor_approve": _t(
        "govhost.visitor.pass_approved",
        N_("{actor} approved visitor pass {object_id}"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3004, 10, "Activate"),
        NOTICE,
    ),
    "colocation.visitor_revoke": _t(
        "govhost.visitor.pass_revoked",
        N_("{actor} revoked visitor pass {object_id}"),
        "event",
        ("iam",),
        ("user", "change"),
        "success",
        (3004, 11, "Deactivate"),
        NOTICE,
    ),
    "colocation.visit_check_in": _t(
        "govhost.visitor.checked_in",
        N_("{actor} let the holder of visitor pass {pass_id} into the data center"),
        "event",
        ("session",),
        ("start",),
        "success",
        (3002, 1, "Logon"),
        NOTICE,
    ),
    "colocation.visit_check_out": _t(
        "govhost.visitor.checked_out",
        N_("{actor} saw the holder of visitor pass {pass_id} leave the data center"),
        "event",
        ("session",),
        ("end",),
        "success",
        (3002, 2, "Logoff"),
    ),
}
CONFIG_CHANGE = _t(
    "govhost.config.change",
    N_("{actor}: {action} {object_type} {object_id}"),
    "event",
    ("configuration",),
    ("change",),
    "success",
    (3004, 3, "Update"),
)
_VERB_TYPES = {"create": ("creation",), "delete": ("deletion",), "remove": ("deletion",)}
_VERB_ACTIVITY = {"create": (1, "Create"), "delete": (4, "Delete"), "remove": (4, "Delete")}
# A request to suspend a service (a ministry's, an operator's or the SOC's) is a suspension event.
SUSPENSION = _t(
    "govhost.service.suspension",
    N_("{actor} asked to suspend: request {object_id} ({kind})"),
    "event",
    ("configuration",),
    ("change",),
    "success",
    (3004, 12, "Suspend"),
    NOTICE,
)


def event_type(action: str, summary: dict) -> EventType:
    if action == "auth.login_failed" and summary.get("reason") == "second_factor":
        return CATALOGUE["auth.login_failed:second_factor"]
    if action == "request.create" and str(summary.get("kind", "")).endswith("_suspend"):
        return SUSPENSION
    if action in CATALOGUE:
        return CATALOGUE[action]
    verb = action.rpartition(".")[2].split("_")[-1]
    if verb in _VERB_TYPES:
        act, name = _VERB_ACTIVITY[verb]
        return EventType(
            CONFIG_CHANGE.id,
            CONFIG_CHANGE.message,
            "event",
            ("configuration",),
            _VERB_TYPES[verb],
            "success",
            3004,
            act,
            name,
        )
    return CONFIG_CHANGE


def all_types() -> list[EventType]:
    return [*CATALOGUE.values(), SUSPENSION, CONFIG_CHANGE]


# ---- rendering ---------------------------------------------------------------------------------

# Keys whose values never leave the panel, even redacted (the audit summary already hides them).
_SECRET_KEY = re.compile(r"password|secret|token|private|key$|^code$|totp", re.I)
FACILITY_AUTHPRIV = 10  # RFC 5424 facility for security/authorization messages


def _summary(text: str) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if not _SECRET_KEY.search(k) or k in ("host_key_type",)}


class _Params(dict):
    def __missing__(self, key):  # a placeholder the entry has no value for renders as "?"
        return "?"


def _message(msgid: str, params: _Params, locale: str) -> str:
    """The template in `locale` (the core's message catalogs), filled from the entry."""
    try:
        return render(msgid, None, locale).format_map(params)
    except (IndexError, ValueError):  # a catalog out of step: the English template as it is
        return msgid


def _created(value) -> str:
    if hasattr(value, "isoformat"):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    text = str(value)  # SQLite's stored 'YYYY-MM-DD HH:MM:SS.ffffff'
    return text.replace(" ", "T")[:26] + "Z"


def event_of(row, org_names: dict[int, str] | None = None) -> dict:
    """The SOC event (ECS + OCSF + govhost fields) of one audit row (attributes as AuditEntry's)."""
    summary = _summary(row.summary)
    et = event_type(row.action, summary)
    params = _Params(
        {k: v for k, v in summary.items() if isinstance(v, (str, int, float))},
        actor=row.actor_name,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
    )
    created = _created(row.created_at)
    org = {"id": str(row.org_id)} if row.org_id is not None else None
    if org is not None and org_names and row.org_id in org_names:
        org["name"] = org_names[row.org_id]
    event = {
        "@timestamp": created,
        "ecs": {"version": ECS_VERSION},
        "message": _message(et.message, params, "en"),
        "event": {
            "id": f"govhost-audit-{row.seq}",
            "code": et.id,
            "action": row.action,
            "kind": et.kind,
            "category": list(et.category),
            "type": list(et.type),
            "outcome": et.outcome,
            "sequence": row.seq,
            "created": created,
            "provider": PROVIDER,
            "dataset": DATASET,
            "module": "govhost",
            "severity": et.severity,
        },
        "user": {"name": row.actor_name, **({"id": str(row.actor_id)} if row.actor_id is not None else {})},
        "observer": {"vendor": "govhost", "product": "govhost", "type": "hosting-panel", "hostname": HOSTNAME},
        "ocsf": {
            "version": OCSF_VERSION,
            "class_uid": et.ocsf_class,
            "class_name": OCSF_CLASSES[et.ocsf_class],
            "category_uid": et.ocsf_class // 1000,
            "activity_id": et.ocsf_activity,
            "activity_name": et.ocsf_activity_name,
            "type_uid": et.ocsf_class * 100 + et.ocsf_activity,
            "severity_id": _OCSF_SEVERITY[et.severity],
            "status_id": 1 if et.outcome == "success" else 2,
        },
        "govhost": {
            "audit": {
                "seq": row.seq,
                "hash": row.hash,
                "prev_hash": row.prev_hash,
                "object_type": row.object_type,
                "object_id": row.object_id,
                "surface": row.surface,
                "summary": summary,
            },
            "message_km": _message(et.message, params, "km"),
            "secret_shown": et.shows_secret,
        },
    }
    if org is not None:
        event["organization"] = org
    if row.client_addr:
        event["source"] = {"ip": row.client_addr}
        event["client"] = {"ip": row.client_addr}
    if row.action in ("host.ban", "host.unban") and summary.get("address"):
        event["source"] = {"ip": str(summary["address"])}  # the banned address, not a panel client
        event["host"] = {"name": str(summary.get("host", ""))}
    if row.request_id:
        event["http"] = {"request": {"id": row.request_id}}
    return event


HOSTNAME = socket.gethostname()[:255]


# ---- schema ------------------------------------------------------------------------------------


def schema() -> dict:
    """JSON Schema (2020-12) every event validates against; docs/soc.md publishes it."""
    ids = sorted({t.id for t in all_types()})
    seq = {"type": "integer", "minimum": 1}
    sha = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
    text = {"type": "string"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://govhost.invalid/schemas/soc-event-1.json",
        "title": "govhost SOC event",
        "type": "object",
        "required": ["@timestamp", "ecs", "message", "event", "user", "observer", "ocsf", "govhost"],
        "properties": {
            "@timestamp": {"type": "string", "format": "date-time"},
            "ecs": {"type": "object", "required": ["version"], "properties": {"version": {"const": ECS_VERSION}}},
            "message": {**text, "minLength": 1},
            "event": {
                "type": "object",
                "required": ["id", "code", "action", "kind", "category", "type", "outcome", "sequence", "created"],
                "properties": {
                    "id": text,
                    "code": {"enum": ids},
                    "action": text,
                    "kind": {"enum": list(ECS_KINDS)},
                    "category": {"type": "array", "minItems": 1, "items": {"enum": list(ECS_CATEGORIES)}},
                    "type": {"type": "array", "minItems": 1, "items": {"enum": list(ECS_TYPES)}},
                    "outcome": {"enum": list(ECS_OUTCOMES)},
                    "sequence": seq,
                    "created": text,
                    "severity": {"type": "integer", "minimum": 0, "maximum": 7},
                },
            },
            "user": {"type": "object", "required": ["name"], "properties": {"name": text, "id": text}},
            "organization": {"type": "object", "required": ["id"], "properties": {"id": text, "name": text}},
            "source": {"type": "object", "properties": {"ip": text}},
            "client": {"type": "object", "properties": {"ip": text}},
            "observer": {"type": "object"},
            "ocsf": {
                "type": "object",
                "required": ["class_uid", "activity_id", "category_uid", "type_uid", "severity_id"],
                "properties": {
                    "class_uid": {"enum": sorted(OCSF_CLASSES)},
                    "activity_id": {"type": "integer", "minimum": 0, "maximum": 99},
                },
            },
            "govhost": {
                "type": "object",
                "required": ["audit", "message_km", "secret_shown"],
                "properties": {
                    "audit": {
                        "type": "object",
                        "required": ["seq", "hash", "prev_hash", "summary"],
                        "properties": {"seq": seq, "hash": sha, "prev_hash": sha, "summary": {"type": "object"}},
                    },
                    "message_km": {**text, "minLength": 1},
                    "secret_shown": {"type": "boolean"},
                },
            },
        },
    }


def check_sequence(events: list[dict]) -> list[str]:
    """What a receiver checks, given events in arrival order after dropping repeats of a sequence
    number: every number follows the one before and every event links to the one before's hash.
    Returns the problems found ([] if none); the docs give the same rule for SIEM-side checks."""
    problems, prev = [], None
    for e in events:
        a = e["govhost"]["audit"]
        if prev is not None:
            if a["seq"] != prev["seq"] + 1:
                problems.append(f"after {prev['seq']} comes {a['seq']}: events are missing or reordered")
            elif a["prev_hash"] != prev["hash"]:
                problems.append(f"event {a['seq']} does not link to event {prev['seq']}")
        prev = a
    return problems
