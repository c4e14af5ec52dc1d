"""Reaching each surface as a given user: a web session past 2FA, an API token, audit rows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from panel import db, security
from panel.extensions import login_manager
from panel.models.audit import AuditEntry
from panel.models.users import ApiToken, TokenScope, User


def web_login(app, client, user: User) -> None:
    """A session as after password + TOTP (the login flow itself is tested in tests/auth)."""
    with app.test_request_context(environ_base=client.environ_base):
        ident = login_manager._session_identifier_generator()
    with db.unit_of_work() as s:
        version = s.get(User, user.id).session_version
    with client.session_transaction() as sess:
        sess["_user_id"] = f"{user.id}:{version}"
        sess["_fresh"] = True
        sess["_id"] = ident
        sess["mfa_ok"] = True


def api_headers(user: User, scope: str = "write") -> dict:
    token = security.new_token()
    with db.unit_of_work() as s:
        s.add(
            ApiToken(
                user_id=user.id,
                name="test",
                prefix=token[:10],
                token_hash=security.token_digest(token),
                scope=TokenScope(scope),
                expires_at=db.utcnow() + dt.timedelta(days=1),
            )
        )
    return {"Authorization": f"Bearer {token}"}


def audit_count(action: str = "") -> int:
    with db.unit_of_work() as s:
        stmt = select(func.count()).select_from(AuditEntry)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return s.scalar(stmt)


def cli_text(result) -> str:
    """Everything the command printed (click 8.2+ mixes stderr into output)."""
    return result.output
