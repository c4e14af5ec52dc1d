"""The `mail:` section of config.yaml (every key has a default; config.example.yaml shows them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailSettings:
    archive_days: int = 30
    dkim_selector: str = "govhost"
    usage_interval_minutes: int = 60  # between mailbox usage measurements (the mail.usage sweep)
