"""The `sectioned:` section: one number and one path key, both with defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from panel.config import PATH


@dataclass(frozen=True)
class SectionedSettings:
    every_minutes: int = 15
    spool: str = field(default="var/sectioned", metadata=PATH)  # relative: from the config file's folder
