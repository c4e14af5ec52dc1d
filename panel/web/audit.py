"""Placeholder blueprint (being written)."""

from flask import Blueprint

bp = Blueprint("audit", __name__)
