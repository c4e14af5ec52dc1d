"""The `cms:` section of config.yaml (every key has a default; config.example.yaml shows them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CmsSettings:
    # Minutes between two hardening checks of every WordPress instance (the cms.hardening sweep).
    hardening_interval_minutes: int = 360
