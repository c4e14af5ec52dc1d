"""Users: accounts, roles, passwords, second factor (being written)."""

from __future__ import annotations

from panel import db
from panel.models.users import User


def user_for_session(user_id: int, version: int) -> User | None:
    user = db.session().get(User, user_id)
    if user is None or not user.is_active or user.session_version != version:
        return None
    return user
