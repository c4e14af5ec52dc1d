"""See tests/requests/fixtures.py (shared with tests/quotas)."""

from tests.support.fixtures import *  # noqa: F403
