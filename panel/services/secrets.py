"""Secrets at rest: the registry of sealed columns, and key rotation over all of them.

Every column that holds a value sealed with `panel.security.seal` is listed in SEALED (a domain
adds its own with `sealed_column(Model, "column")` at import time). Rotation: put a new key first in
`secret_keys` (keeping the old ones), run `govhost secrets rotate` (every value is re-encrypted with
the first key), then remove the old keys from the configuration.
"""

from __future__ import annotations

from sqlalchemy import select, update

from panel import db, security
from panel.errors import Conflict
from panel.models.hosts import Host
from panel.models.tenants import Role
from panel.models.users import User
from panel.services.actor import Actor, require_staff, require_write
from panel.services.audit import audited

SEALED: list[tuple[type, str]] = []
BATCH = 500


def sealed_column(model: type, column: str) -> None:
    """Declare that `model.column` holds sealed values (so rotation re-encrypts it)."""
    if not hasattr(model, column):
        raise AttributeError(f"{model.__name__} has no column {column}")
    if (model, column) not in SEALED:
        SEALED.append((model, column))


sealed_column(User, "totp_secret")
sealed_column(Host, "winrm_secret")  # a WinRM host's credentials (docs/windows.md)


def _rotate_column(s, model: type, column: str) -> int:
    col, pk = getattr(model, column), model.id
    n, last = 0, 0
    while rows := s.execute(select(pk, col).where(col.is_not(None), pk > last).order_by(pk).limit(BATCH)).all():
        changes = []
        for row_id, value in rows:
            try:
                changes.append({"id": row_id, column: security.seal(security.unseal(value))})
            except ValueError:
                raise Conflict(
                    "secrets.undecryptable",
                    "{table} {id}: {column} cannot be decrypted with the configured keys; nothing was rotated.",
                    table=model.__tablename__,
                    id=row_id,
                    column=column,
                ) from None
        s.execute(update(model), changes)
        n, last = n + len(changes), rows[-1][0]
    return n


@audited("secrets.rotate", "secrets")
def secrets_rotate(actor: Actor) -> int:
    """Re-encrypt every sealed value with the first configured key; all or nothing. Returns the count."""
    require_write(actor)
    require_staff(actor, Role.ADMIN)
    with db.unit_of_work() as s:
        return sum(_rotate_column(s, model, column) for model, column in SEALED)


def secrets_new_key() -> str:
    """A fresh key for `secret_keys` (not stored anywhere by the panel)."""
    return security.new_fernet_key()
