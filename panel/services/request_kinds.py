"""The registry of request kinds: each capability (sites, DNS, mail ...) registers one per use case.

A kind says who may ask, how to validate and normalise the payload, what it costs in quota, where
it will run, and what to do once approved (usually submit a job). services.requests drives every
kind the same way. The core's own kinds are in kinds_core; a capability registers its kinds in its
`kinds.py`, which the capability loader (panel.capabilities) imports from the manifest.
A kind's `schema` (marshmallow) is the one statement of its payload's shape and limits:
services.requests loads every payload through it before the kind's own rules run, and the API
publishes it in the OpenAPI document (RequestCreate.payload is one of the kinds' schemas).
"""

from __future__ import annotations

import copy
import importlib
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy.orm import Session

from panel.errors import Invalid, NotFound
from panel.models.requests import ApprovalMode, Request
from panel.models.tenants import MINISTRY_ROLES, Organization, Role
from panel.services.actor import Actor


def N_(text: str) -> str:
    """Marks a label for the translation catalog; the surfaces translate it when they show it."""
    return text


def _no_quota(payload: dict) -> dict[str, int]:
    return {}


def _no_place(session: Session, org: Organization, payload: dict) -> int | None:
    return None


def _no_jobs(actor: Actor, request: Request) -> list:
    return []


def _no_secrets(actor: Actor, org: Organization, secrets: dict) -> dict:
    if secrets:
        raise Invalid("request.secrets_unexpected", "This kind of request takes no secrets.")
    return {}


@dataclass(frozen=True)
class RequestKind:
    """One kind of request.

    validate(actor, org, payload) -> clean payload; raises Invalid(field=...) on bad input.
    validate_secrets(actor, org, secrets) -> clean secrets (kept sealed, never shown or audited).
    quota(payload) -> {resource: amount >= 0} drawn from the ministry's budget when approved.
    place(session, org, payload) -> host id or None: the target host approvers see.
    on_approve(actor, request) -> list of jobs (jobs.job_submit(..., request_id=request.id));
        an empty list means the approval itself did the work and the request is done at once.
    on_retry(actor, request) -> list of jobs for a failed request (defaults to on_approve).
    on_give_up(actor, request) -> list of clean-up jobs when a failed request is cancelled: they
        remove what its jobs left on the hosts and free the names (jobs without request_id; the
        actor is the panel itself). The budget is freed by the cancel; a PanelError leaves the rows
        failed (deletable later) and is noted on the request.
    kept(session, request) -> {resource: amount} the objects this request made that still live hold
        (a kind of several objects per request, whose job may apply some and fail others): a cancel,
        or the deletion of one of them (quotas.quota_release), keeps that much held and frees the
        rest. None: a cancelled request holds nothing, a deletion frees the whole request.
    on_create(session, request) -> None: called once the request row exists (a draft or not), in its
        transaction; e.g. sites hold the names it asks for in an indexed table (a Conflict undoes it).
    describe(payload) -> one line for lists and notifications (no secrets): a plain string, or
        (message, params) with the message marked N_() and {param} placeholders, so every reader sees
        it in their own language (`describe_text` renders the English that is stored).
    schema: the payload's marshmallow schema (types and limits), applied before validate().
    """

    name: str
    label: str  # English, marked with N_(); surfaces translate it
    who_may_request: frozenset[Role]  # ministry roles and/or staff roles; empty: recorded_only
    validate: Callable[[Actor, Organization, dict], dict]
    quota: Callable[[dict], dict[str, int]] = _no_quota
    place: Callable[[Session, Organization, dict], int | None] = _no_place
    on_approve: Callable[[Actor, Request], list] = _no_jobs
    on_retry: Callable[[Actor, Request], list] | None = None
    on_give_up: Callable[[Actor, Request], list] | None = None
    kept: Callable[[Session, Request], dict[str, int]] | None = None
    validate_secrets: Callable[[Actor, Organization, dict], dict] = _no_secrets
    on_create: Callable[[Session, Request], None] | None = None
    describe: Callable[[dict], str | tuple[str, dict]] = field(default=lambda payload: "")
    default_policy: ApprovalMode = ApprovalMode.ONE
    schema: type[Schema] | None = None

    @property
    def staff_only(self) -> bool:
        return not (self.who_may_request & MINISTRY_ROLES)

    @property
    def recorded_only(self) -> bool:
        """Nobody asks for it: services.requests.request_record files it, done, for an action staff
        took at once (a SOC containment), so the ministry sees it in its request list."""
        return not self.who_may_request

    def may_request(self, actor: Actor, org_roles: frozenset[Role]) -> bool:
        """Staff roles are global; ministry roles count in the request's organization (or above)."""
        return bool(self.who_may_request & (actor.staff_roles | org_roles))


_KINDS: dict[str, RequestKind] = {}

# The core's kinds, loaded on first use (kinds_core imports this module, so not at import time).
# Capabilities' kinds are registered by the capability loader; no capability is named here.
CORE_MODULES = ("panel.services.kinds_core", "panel.services.bulk")
_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        for name in CORE_MODULES:
            importlib.import_module(name)
        _loaded = True


def register(kind: RequestKind) -> RequestKind:
    """Add a kind; registering a name twice replaces it (module reloads in tests)."""
    _KINDS[kind.name] = kind
    return kind


def kinds_of(capability: str, who_may_request: frozenset[Role], **defaults) -> Callable[..., Callable]:
    """A capability's kind decorator: with kind = kinds_of("mail", MANAGERS, default_policy=...),
    @kind("alias_create", N_("Mail alias"), validate=..., ...) on a function registers
    `mail.alias_create` with that function as its on_approve; the fields given there win over
    the defaults."""

    def kind(name: str, label: str, **fields) -> Callable[[Callable], Callable]:
        def registered(on_approve: Callable[[Actor, Request], list]) -> Callable[[Actor, Request], list]:
            register(
                RequestKind(
                    name=f"{capability}.{name}",
                    label=label,
                    who_may_request=who_may_request,
                    on_approve=on_approve,
                    **{**defaults, **fields},
                )
            )
            return on_approve

        return registered

    return kind


def on_host_of(model, key: str) -> Callable[[Session, Organization, dict], int | None]:
    """A kind's `place` when it acts on one existing row: the host of `model` row `payload[key]`."""

    def place(session: Session, org: Organization, payload: dict) -> int | None:
        return session.get(model, payload[key]).host_id

    return place


def says(message: str) -> Callable[[dict], tuple[str, dict]]:
    """A kind's `describe` when the message's {placeholders} are payload keys: says(N_("delete {name}"))."""
    keys = [name for _, name, _, _ in string.Formatter().parse(message) if name]
    return lambda payload: (message, {key: payload[key] for key in keys})


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def names() -> list[str]:
    _load()
    return sorted(_KINDS)


def find(name: str) -> RequestKind | None:
    """The kind, or None for a name no enabled capability registers (a stored request's kind)."""
    _load()
    return _KINDS.get(name) if isinstance(name, str) else None


def get(name: str) -> RequestKind:
    _load()
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise NotFound(
            "request.kind_unknown", "Unknown request kind: {kind}.", field="kind", kind=str(name)[:64]
        ) from None


# ---- schemas: the one statement of a payload's shape and limits ------------------------------------

# Control characters are refused in every string read from a user; text blocks (comments,
# certificates, nginx snippets) may hold tabs and line breaks. The API states it as `pattern`.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
TEXT_BLOCK = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def text(min: int | None = None, max: int | None = None, *, multiline: bool = False) -> validate.Length:
    """The length check of a string read from a user, with the control-character rule stated as
    its `pattern` in the OpenAPI document. The rules enforce that rule themselves, with their own
    error keys (clients match on `name.characters`, `token.name_invalid`...), so the schema states
    it rather than checks it first."""
    length = validate.Length(min=min, max=max)
    length.govhost_pattern = TEXT_BLOCK if multiline else ONE_LINE
    return length


def load_payload(kind: RequestKind, payload: dict) -> dict:
    """The payload through the kind's schema: types and limits checked, unknown fields refused.
    A field whose rule has its own error (see `rule_error`) fails with that key and message."""
    if kind.schema is None:
        return payload
    return schema_load(kind.schema, payload)


def schema_load(schema: type[Schema], data: dict) -> dict:
    """`data` through `schema` (unknown fields refused), or Invalid naming the first field at fault."""
    try:
        return schema(unknown=RAISE).load(data)
    except ValidationError as e:
        refusal = rule_refusal(schema, e.messages, data)
        if refusal is not None:
            raise refusal from None
        path, reason = _first_error(e.messages)
        raise Invalid("request.payload_invalid", "{name}: {reason}", field=path, name=path, reason=reason) from None


def rule_refusal(schema: type[Schema], messages, data) -> Invalid | None:
    """The rule's own error for marshmallow's `messages` about `data`, when the first field at
    fault declares one (rule_error) and failed a limit; else None. The API answers a body that
    breaks a kind's limit with it too, so every surface gives the same key."""
    path, reason = _first_error(messages)
    found = _field_at(schema, path)
    error = found.metadata.get("rule_error") if found is not None else None
    # only a limit (a validator) is the rule's refusal; a wrong type or a missing field is not
    if not error or (reason in found.error_messages.values() and not found.metadata.get("rule_error_type")):
        return None
    lo, hi = _limits(found)
    value = _shown(_value_at(data, path))
    return Invalid(error[0], error[1], field=path.split(".")[0], min=lo, max=hi, value=value)


def rule_error(key: str, message: str, *, wrong_type_too: bool = False, **metadata) -> dict:
    """Metadata of a schema field whose rule (in the capability's rules) has its own error key: a
    value past the schema's limits (a validator, not a wrong type) gets that key and message, as
    if the rule had refused it, so clients and translations see one error whichever check came
    first. The message may use {min} and {max}: the limits of the field's Length or Range.
    wrong_type_too: the rule is about the type (a flag that is true or false), so a wrong type
    gets the rule's answer as well."""
    return {**metadata, "rule_error": (key, message), "rule_error_type": wrong_type_too}


def _field_at(schema: type[Schema], path: str) -> fields.Field | None:
    """The field a marshmallow error path names ("sites.3.fqdn": the fqdn of a bulk item,
    "aliases.2": an item of the list, "aliases": the list itself)."""
    parts, current, found = path.split("."), schema._declared_fields, None
    for i, part in enumerate(parts):
        if part.isdigit():
            continue
        f = current.get(part) if current is not None else None
        if f is None:
            return found
        item = i + 1 < len(parts) and parts[i + 1].isdigit()
        found = f.inner if item and isinstance(f, fields.List) else f
        nested = getattr(found, "nested", None)
        current = nested._declared_fields if isinstance(nested, type) and issubclass(nested, Schema) else None
    return found


def _value_at(data, path: str):
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return ""
    return data


def _shown(value) -> str:
    """A refused value as a message may quote it: printable, at most 64 characters."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text[:64] + ("..." if len(text) > 64 else "")


def _limits(f: fields.Field) -> tuple[int | None, int | None]:
    for check in f.validators:
        if isinstance(check, (validate.Range, validate.Length)):
            return check.min, check.max
    return None, None


def field_limits(schema: type[Schema], name: str) -> tuple[int | None, int | None]:
    """(min, max) of a schema field's Range or Length validator: web forms check the same numbers.
    "local_parts[]" names the items of a list field."""
    f = schema._declared_fields[name.removesuffix("[]")]
    return _limits(f.inner if name.endswith("[]") else f)


def field_pattern(schema: type[Schema], name: str) -> str | None:
    """The regular expression of a schema field's Regexp validator (an input's `pattern`)."""
    for check in schema._declared_fields[name].validators:
        if isinstance(check, validate.Regexp):
            return check.regex.pattern
    return None


def field_copy(schema: type[Schema], name: str, **changes) -> fields.Field:
    """A field of a kind's schema for another schema (an API body that carries it), with its
    validators and metadata and `changes` (required=False ...); "name[]": the items of a list."""
    f = schema._declared_fields[name.removesuffix("[]")]
    f = copy.copy(f.inner if name.endswith("[]") else f)
    for key, value in changes.items():
        setattr(f, key, value)
    return f


def _first_error(messages, prefix: str = "") -> tuple[str, str]:
    """marshmallow's nested messages -> ("field.sub", "first message")."""
    if isinstance(messages, dict) and messages:
        key = sorted(messages, key=str)[0]
        name = str(key) if key != "_schema" else prefix.rstrip(".") or "payload"
        return _first_error(messages[key], f"{prefix}{name}." if key != "_schema" else prefix)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix)
    return prefix.rstrip(".") or "payload", str(messages)[:200]


def all() -> list[RequestKind]:  # the registry's public name (shadows the builtin here only)
    _load()
    return sorted(_KINDS.values(), key=lambda k: k.name)


# ---- helpers for validate() functions -----------------------------------------------------------


def require_int(payload: dict, name: str, *, minimum: int = 0, maximum: int = 2**53) -> int:
    value = payload.get(name)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise Invalid(
            "request.field_invalid",
            "{name} must be a whole number from {minimum} to {maximum}.",
            field=name,
            name=name,
            minimum=minimum,
            maximum=maximum,
        )
    return value


def require_text(payload: dict, name: str, *, max_len: int = 500, required: bool = True) -> str:
    value = payload.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or "\x00" in value or len(value) > max_len:
        raise Invalid(
            "request.field_invalid",
            "{name} must be text of at most {max_len} characters.",
            field=name,
            name=name,
            max_len=max_len,
        )
    value = value.strip()
    if required and not value:
        raise Invalid("request.field_required", "{name} is required.", field=name, name=name)
    return value


def reject_unknown(payload: dict, allowed: set[str]) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise Invalid(
            "request.field_unknown", "Unknown field: {name}.", field=str(unknown[0])[:64], name=str(unknown[0])[:64]
        )


def describe_text(described) -> str:
    """A kind's describe() result as English text (a tuple is a message and its parameters)."""
    if isinstance(described, tuple):
        message, params = described
        try:
            return message.format(**params)
        except (KeyError, IndexError, ValueError):
            return message
    return described or ""
