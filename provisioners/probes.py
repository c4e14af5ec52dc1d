"""SSH probes of managed hosts with paramiko: fetch a host key, then probe with that key pinned.

A library (no panel imports). The pinned key is checked right after key exchange and before any
authentication, so a host presenting another key never receives our credentials: the probe stops
there and reports the fingerprint it was shown. Commands are fixed strings; nothing a user typed
ever reaches the remote shell.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
import socket
from dataclasses import dataclass, field

import paramiko

DEFAULT_TIMEOUT = 5.0

# RSA keys are announced as ssh-rsa but negotiated under the SHA-2 signature names.
_KEY_ALGOS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}

# name -> fixed command; the output is parsed by _parse_facts.
FACT_COMMANDS = {
    "os_release": "cat /etc/os-release",
    "kernel": "uname -r",
    "python": "python3 --version",
    "php_versions": "ls -1 /etc/php",
    "hostname": "hostname",
}


class ProbeError(Exception):
    """The host could not be reached or did not speak SSH; the message says why."""


@dataclass
class ProbeResult:
    reachable: bool
    key_matches: bool | None = None  # None when no key was seen (unreachable)
    presented_fingerprint: str = ""
    presented_key: tuple[str, str] | None = None  # (type, base64 blob) the host showed
    facts: dict = field(default_factory=dict)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.reachable and bool(self.key_matches) and not self.error


def fingerprint(key_b64: str) -> str:
    """SHA256 fingerprint exactly as OpenSSH prints it (base64 without padding)."""
    digest = hashlib.sha256(base64.b64decode(key_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _connect(address: str, port: int, timeout: float, bind: str | None) -> socket.socket:
    """`bind`: the local address to leave from (the caller's network settings); None: any."""
    source = bind or None
    try:
        return socket.create_connection((address, port), timeout, source_address=(source, 0) if source else None)
    except OSError as e:
        raise ProbeError(f"cannot connect to {address} port {port}: {e.strerror or e}") from None


def _transport(
    address: str, port: int, timeout: float, bind: str | None, key_type: str | None = None
) -> paramiko.Transport:
    """A transport after key exchange (no authentication yet); key_type asks for that host key."""
    sock = _connect(address, port, timeout, bind)
    t = paramiko.Transport(sock)
    t.banner_timeout = t.auth_timeout = t.handshake_timeout = timeout
    if key_type:
        opts = t.get_security_options()
        wanted = _KEY_ALGOS.get(key_type, (key_type,))
        opts.key_types = [*[k for k in wanted if k in opts.key_types], *[k for k in opts.key_types if k not in wanted]]
    try:
        t.start_client(timeout=timeout)
    except (paramiko.SSHException, OSError, EOFError) as e:
        t.close()
        raise ProbeError(f"no SSH handshake with {address} port {port}: {e or type(e).__name__}") from None
    if not t.initial_kex_done:  # paramiko's start_client returns at its timeout without raising
        t.close()
        raise ProbeError(f"no SSH handshake with {address} port {port} within {timeout:g} s")
    return t


def fetch_host_key(
    address: str, port: int = 22, timeout: float = DEFAULT_TIMEOUT, bind: str | None = None
) -> tuple[str, str, str]:
    """(key_type, key_b64, fingerprint) of the key the host presents; raises ProbeError."""
    t = _transport(address, port, timeout, bind)
    try:
        key = t.get_remote_server_key()
        return key.get_name(), key.get_base64(), fingerprint(key.get_base64())
    finally:
        t.close()


def _run(t: paramiko.Transport, command: str, timeout: float) -> str:
    chan = t.open_session(timeout=timeout)
    try:
        chan.settimeout(timeout)
        chan.exec_command(command)
        out = b""
        while True:
            chunk = chan.recv(65536)
            if not chunk:
                break
            out += chunk
            if len(out) > 1_000_000:  # a fact is small; a flood is not a fact
                break
        chan.recv_exit_status()
        return out.decode("utf-8", "replace").strip()
    finally:
        chan.close()


def _parse_facts(raw: dict[str, str]) -> dict:
    release = {}
    for line in raw.get("os_release", "").splitlines():
        k, sep, v = line.partition("=")
        if sep and k.isidentifier():
            release[k] = (shlex.split(v) or [""])[0] if v else ""
    python = raw.get("python", "")
    return {
        "os_release": {k: release[k] for k in ("ID", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME") if k in release},
        "kernel": raw.get("kernel", "")[:200],
        "python": python.removeprefix("Python ").strip()[:50],
        "php_versions": sorted(v for v in raw.get("php_versions", "").split() if v.replace(".", "").isdigit())[:20],
        "hostname": raw.get("hostname", "")[:253],
    }


def probe(
    address: str,
    port: int,
    user: str,
    key_file: str,
    pinned: tuple[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    bind: str | None = None,
) -> ProbeResult:
    """Connect with the pinned host key; on a match, log in and collect facts.

    A mismatch is reported (key_matches False, the presented fingerprint), never logged into.
    """
    pinned_type, pinned_b64 = pinned
    try:
        t = _transport(address, port, timeout, bind, key_type=pinned_type)
    except ProbeError as e:
        return ProbeResult(reachable=False, error=str(e))
    try:
        key = t.get_remote_server_key()
        shown = (key.get_name(), key.get_base64())
        result = ProbeResult(reachable=True, presented_fingerprint=fingerprint(shown[1]), presented_key=shown)
        result.key_matches = shown[1] == pinned_b64
        if not result.key_matches:
            result.error = "the host presented a different host key"
            return result
        try:
            t.auth_publickey(user, paramiko.PKey.from_path(key_file))
            raw = {name: _run(t, cmd, timeout) for name, cmd in FACT_COMMANDS.items()}
        except (paramiko.SSHException, OSError, EOFError) as e:
            result.error = f"login or command failed: {e or type(e).__name__}"
            return result
        result.facts = _parse_facts(raw)
        return result
    finally:
        t.close()
