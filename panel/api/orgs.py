"""Placeholder API blueprint (being written)."""

from flask_smorest import Blueprint

blp = Blueprint("api_orgs", __name__, url_prefix="/orgs", description="orgs")
