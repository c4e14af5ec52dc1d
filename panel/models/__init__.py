"""SQLAlchemy models; importing this package registers every table on Base.metadata."""

from panel.capabilities.dns import models as dns  # noqa: F401
from panel.capabilities.mail import models as mail  # noqa: F401
from panel.capabilities.sites import models as sites  # noqa: F401
from panel.models import audit, hosts, jobs, notifications, quotas, requests, schedule, tenants, users  # noqa: F401
