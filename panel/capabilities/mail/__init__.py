"""Mail: domains, mailboxes and aliases on postfix + dovecot (+ OpenDKIM, webmail); see docs/mail.md."""

from panel.capabilities.base import Manifest, Quota, Sweep
from panel.services.request_kinds import N_

MANIFEST = Manifest(
    name="mail",
    package=__name__,
    label=N_("Mail"),
    requires=("dns",),
    models="models",
    kinds="kinds",
    jobs="jobs",
    subscribers=("service",),
    web="web:bp",
    api="api:blp",
    cli="cli:mail",
    quotas=(
        Quota("mailboxes", N_("Mailboxes"), 50, watched=True),
        Quota("mail_storage_mb", N_("Mail storage (MB)"), 51200),
    ),
    # Mailboxes share the sites' usage interval: one "how fresh is usage" setting for operators.
    sweeps=(Sweep("mail.usage", "service:mail_usage_collect", every_setting="sites.usage_interval_minutes"),),
    playbooks=("mail_server.yml", "mail_domain.yml", "mailbox_batch.yml", "mail_usage.yml"),
)
