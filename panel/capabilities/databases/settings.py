"""The `databases:` section of config.yaml (every key has a default; config.example.yaml shows them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatabasesSettings:
    # Minutes a web console's login and its ticket live on the DB host before the sweep drops them.
    console_minutes: int = 5
    # HTTPS port of the console (nginx on each DB host: phpMyAdmin, Adminer and their sign-on pages).
    console_port: int = 8443
