"""SQLAlchemy models; importing this package registers every table on Base.metadata."""

from panel.models import (  # noqa: F401
    audit,
    dns,
    hosts,
    jobs,
    mail,
    notifications,
    quotas,
    requests,
    schedule,
    sites,
    tenants,
    users,
)
