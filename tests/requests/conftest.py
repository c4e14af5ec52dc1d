"""See tests/requests/fixtures.py (shared with tests/quotas)."""

from tests.requests.fixtures import *  # noqa: F403
