"""Tenant databases on MariaDB and PostgreSQL: databases, users, privilege profiles; see docs/databases.md."""

from panel.capabilities.base import HostCapacity, HostRole, Manifest, Provide, Quota, Sweep
from panel.services.request_kinds import N_

DB_ROLE = "db"  # the host role databases are placed on
CAPACITY = "databases"  # the host capacity they count against

MANIFEST = Manifest(
    name="databases",
    package=__name__,
    label=N_("Databases"),
    models="models",
    kinds="kinds",
    jobs="jobs",
    web="web:bp",
    api="api:blp",
    cli="cli:databases",
    bulk="bulk:ROWS",
    quotas=(
        Quota("databases", N_("Databases"), 10, watched=True),
        Quota("db_storage_mb", N_("Database storage (MB)"), 10240),
    ),
    host_roles=(HostRole(DB_ROLE, N_("Databases (MariaDB, PostgreSQL)")),),
    host_capacities=(HostCapacity(CAPACITY, N_("Most databases"), 100, role=DB_ROLE),),
    steps="steps:STEPS",
    settings="settings:DatabasesSettings",
    sweeps=(
        Sweep("databases.remote_expiry", "sweeps:remote_access_expire", every_minutes=5),
        Sweep("databases.usage", "sweeps:usage_collect", every_minutes=60),
        Sweep("databases.drift", "sweeps:drift_check", every_minutes=1440),
        Sweep("databases.console_expiry", "sweeps:console_expire", every_minutes=1),
    ),
    playbooks=("db_server.yml", "db_objects.yml", "db_drift.yml", "db_console.yml"),
    provides=(  # WordPress (cms) uses them
        Provide("databases.app_database", "kinds:app_database"),
        Provide("databases.app_database_retry", "kinds:app_database_retry"),
        Provide("databases.app_database_drop", "kinds:app_database_drop"),
    ),
)
