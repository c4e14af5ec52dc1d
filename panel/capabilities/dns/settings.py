"""The `dns:` section of config.yaml (every key has a default; config.example.yaml shows them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DnsSettings:
    primary_host: str = ""  # the registered host (role dns) running the primary BIND; empty = DNS off
    key_name: str = "govhost"  # TSIG key name; the secret is generated and stored encrypted
    nameservers: tuple[str, ...] = ()  # NS names of new zones; empty = the primary host's name
    default_ttl: int = 3600
    min_ttl: int = 60
    max_ttl: int = 604800
    resolver: str = ""  # checks ownership TXT tokens; empty = the system's resolver
