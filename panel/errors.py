"""One error base with a stable key, params and an HTTP status, mapped once per surface.

The web turns it into a flash/form message, the API into application/problem+json, the CLI into a
message and a non-zero exit. `key` is stable (clients match on it); `message` is English text with
`{param}` placeholders that the surfaces translate.
"""

from __future__ import annotations


class PanelError(Exception):
    status = 400
    key = "error"
    message = "The request could not be completed."

    def __init__(
        self,
        key: str | None = None,
        message: str | None = None,
        *,
        field: str | None = None,
        status: int | None = None,
        **params,
    ):
        self.key = key or self.key
        self.message = message or self.message
        self.field = field
        if isinstance(status, int) and not isinstance(status, bool):
            self.status = status
        elif status is not None:  # a message parameter that happens to be called "status"
            params["status"] = status
        self.params = params
        super().__init__(self.text())

    def text(self) -> str:
        try:
            return self.message.format(**self.params)
        except (KeyError, IndexError, ValueError):
            return self.message

    def to_dict(self) -> dict:
        d = {"key": self.key, "message": self.text(), "params": _jsonable(self.params)}
        if self.field:
            d["field"] = self.field
        return d


def _jsonable(params: dict) -> dict:
    return {k: v if isinstance(v, (str, int, float, bool, type(None), list)) else str(v) for k, v in params.items()}


class Invalid(PanelError):
    status = 422
    key = "invalid"
    message = "The value is not valid."


class NotFound(PanelError):
    status = 404
    key = "not_found"
    message = "Not found."


class Forbidden(PanelError):
    status = 403
    key = "forbidden"
    message = "You are not allowed to do this."


class Unauthorized(PanelError):
    status = 401
    key = "auth.required"
    message = "Authentication is required."


class Conflict(PanelError):
    status = 409
    key = "conflict"
    message = "This conflicts with the current state."


class InvalidTransition(Conflict):
    key = "request.invalid_transition"
    message = "A {kind} cannot move from {current} to {target}."


class QuotaExceeded(Conflict):
    key = "quota.exceeded"
    message = "{resource}: used {used}, asked {asked}, limit {limit}."


class TooManyAttempts(PanelError):
    status = 429
    key = "auth.locked"
    message = "Too many failed attempts; try again in {minutes} minutes."
