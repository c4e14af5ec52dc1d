"""API tokens (being written)."""

from __future__ import annotations

from panel.errors import Unauthorized


def token_authenticate(token: str, *, client_addr: str = "", request_id: str | None = None):
    raise Unauthorized("auth.token_invalid", "The API token is not valid.")
