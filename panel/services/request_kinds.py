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

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from marshmallow import RAISE, Schema, ValidationError, validate
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
    describe(payload) -> one line for lists and notifications (no secrets): a plain string, or
        (message, params) with the message marked N_() and {param} placeholders, so every reader sees
        it in their own language (`describe_text` renders the English that is stored).
    schema: the payload's marshmallow schema (types and limits), applied before validate().
    """

    name: str
    label: str  # English, marked with N_(); surfaces translate it
    who_may_request: frozenset[Role]  # ministry roles and/or staff roles
    validate: Callable[[Actor, Organization, dict], dict]
    quota: Callable[[dict], dict[str, int]] = _no_quota
    place: Callable[[Session, Organization, dict], int | None] = _no_place
    on_approve: Callable[[Actor, Request], list] = _no_jobs
    on_retry: Callable[[Actor, Request], list] | None = None
    validate_secrets: Callable[[Actor, Organization, dict], dict] = _no_secrets
    describe: Callable[[dict], str | tuple[str, dict]] = field(default=lambda payload: "")
    default_policy: ApprovalMode = ApprovalMode.ONE
    schema: type[Schema] | None = None

    @property
    def staff_only(self) -> bool:
        return not (self.who_may_request & MINISTRY_ROLES)

    def may_request(self, actor: Actor, org_roles: frozenset[Role]) -> bool:
        """Staff roles are global; ministry roles count in the request's organization (or above)."""
        return bool(self.who_may_request & (actor.staff_roles | org_roles))


_KINDS: dict[str, RequestKind] = {}

# The core's kinds, loaded on first use (kinds_core imports this module, so not at import time).
# Capabilities' kinds are registered by the capability loader; no capability is named here.
CORE_MODULES = ("panel.services.kinds_core",)
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


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def names() -> list[str]:
    _load()
    return sorted(_KINDS)


def get(name: str) -> RequestKind:
    _load()
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise NotFound(
            "request.kind_unknown", "Unknown request kind: {kind}.", field="kind", kind=str(name)[:64]
        ) from None


def load_payload(kind: RequestKind, payload: dict) -> dict:
    """The payload through the kind's schema: types and limits checked, unknown fields refused."""
    if kind.schema is None:
        return payload
    try:
        return kind.schema(unknown=RAISE).load(payload)
    except ValidationError as e:
        field, reason = _first_error(e.messages)
        raise Invalid("request.payload_invalid", "{field}: {reason}", field=field, reason=reason) from None


def field_limits(schema: type[Schema], name: str) -> tuple[int | None, int | None]:
    """(min, max) of a schema field's Range or Length validator: web forms check the same numbers."""
    for check in schema._declared_fields[name].validators:
        if isinstance(check, (validate.Range, validate.Length)):
            return check.min, check.max
    return None, None


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
