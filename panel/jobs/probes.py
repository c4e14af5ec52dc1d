"""The services' door to provisioners.probes (services never import provisioners themselves)."""

from __future__ import annotations

from panel.jobs.capabilities import source_address
from provisioners import probes as _probes
from provisioners.probes import DEFAULT_TIMEOUT, ProbeResult, fingerprint

__all__ = ["DEFAULT_TIMEOUT", "ProbeError", "ProbeResult", "fetch_host_key", "fingerprint", "probe"]

ProbeError = _probes.ProbeError


def fetch_host_key(address: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, str, str]:
    """(key_type, key_b64, fingerprint) the host presents now; ProbeError if it cannot be reached."""
    return _probes.fetch_host_key(address, port, timeout, bind=source_address(address) or None)


def probe(
    address: str, port: int, user: str, key_file: str, pinned: tuple[str, str], timeout: float = DEFAULT_TIMEOUT
) -> ProbeResult:
    return _probes.probe(address, port, user, key_file, pinned, timeout, bind=source_address(address) or None)
