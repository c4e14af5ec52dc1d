"""Placeholder API blueprint (being written)."""

from flask_smorest import Blueprint

blp = Blueprint("api_users", __name__, url_prefix="/users", description="users")
