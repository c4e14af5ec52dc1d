"""The same two ministries and staff as the organization tests."""

from tests.tenants.conftest import world  # noqa: F401
