"""SQLAlchemy models; importing this package registers every table on Base.metadata."""

from panel.models import audit, tenants, users  # noqa: F401
