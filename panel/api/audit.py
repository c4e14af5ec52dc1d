"""Placeholder API blueprint (being written)."""

from flask_smorest import Blueprint

blp = Blueprint("api_audit", __name__, url_prefix="/audit", description="audit")
