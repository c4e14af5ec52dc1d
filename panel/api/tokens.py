"""Placeholder API blueprint (being written)."""

from flask_smorest import Blueprint

blp = Blueprint("api_tokens", __name__, url_prefix="/tokens", description="tokens")
