"""The core's SQLAlchemy models; importing this package registers the core's tables on Base.metadata.

A capability's tables are registered when the capability loader imports its models module
(`panel.capabilities.load()`), which every entry point (app, command, Alembic, tests) calls.
"""

from panel.models import (  # noqa: F401
    audit,
    bulk,
    hosts,
    jobs,
    notifications,
    quotas,
    requests,
    schedule,
    tenants,
    users,
)
