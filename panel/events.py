"""Signals between the core and the capabilities (blinker), instead of hook lists in each module.

The core sends; subscribers (core services, capabilities through their manifest's `subscribers`)
connect once at load. Every signal is sent inside the transaction of the change it reports, with
that transaction's session, so a subscriber's writes commit or roll back with the change; network
I/O belongs after the commit (`db.on_commit`), never in a receiver.

- `state_moved`: any stateful model (models.state.StateMachine) moved; sender is the model class,
  kwargs obj, old, new.
- `request_moved`: a request moved; sender is the Request, kwargs old, new.
- `job_finished`: the runner ended a job; sender is the Job, kwargs session, result, ok.
- `audit_appended`: an entry joined the audit chain (every audited change and security event); sender
  is the AuditEntry, kwargs session. The SOC feed reads the chain itself as its durable spool; the
  signal only lets an in-process shipper wake at once instead of at its next poll.
- `usage_over_limit`: a measured usage crossed its limit; sender is the measuring module's name,
  kwargs session, org_id, subject ("site", "mailbox", ...), object_id, name, used, limit, unit, link.
- `needs_attention`: a job found something the ministry (and with `staff`, the data center) must hear
  of that is not a usage (a WordPress site's hardening changed); kwargs as `usage_over_limit`'s.
"""

from __future__ import annotations

from blinker import Namespace

signals = Namespace()

state_moved = signals.signal("state-moved")
request_moved = signals.signal("request-moved")
job_finished = signals.signal("job-finished")
usage_over_limit = signals.signal("usage-over-limit")
needs_attention = signals.signal("needs-attention")
audit_appended = signals.signal("audit-appended")
