"""Mail: domains, mailboxes and aliases on postfix + dovecot (+ OpenDKIM, webmail); see docs/mail.md."""

from panel.capabilities.base import HostCapacity, HostRole, Manifest, Quota, Sweep
from panel.services.request_kinds import N_

MAIL_ROLE = "mail"  # the host role mail domains are placed on
CAPACITY = "mailboxes"  # the host capacity their mailboxes count against

MANIFEST = Manifest(
    name="mail",
    package=__name__,
    bulk="bulk:ROWS",
    label=N_("Mail"),
    requires=("dns",),
    models="models",
    kinds="kinds",
    jobs="jobs",
    subscribers=("service",),
    moves="moves:MOVERS",
    web="web:bp",
    api="api:blp",
    cli="cli:mail",
    settings="settings:MailSettings",
    quotas=(
        Quota("mailboxes", N_("Mailboxes"), 50, watched=True),
        Quota("mail_storage_mb", N_("Mail storage (MB)"), 51200),
    ),
    host_roles=(HostRole(MAIL_ROLE, N_("Mail (postfix, dovecot)")),),
    host_capacities=(HostCapacity(CAPACITY, N_("Most mailboxes"), 1000, role=MAIL_ROLE),),
    sweeps=(Sweep("mail.usage", "service:mail_usage_collect", every_setting="mail.usage_interval_minutes"),),
    steps="steps:STEPS",
    playbooks=("mail_server.yml", "mail_domain.yml", "mailbox_batch.yml", "mail_usage.yml", "mail_domain_move.yml"),
)
