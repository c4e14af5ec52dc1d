"""What goes into a provisioner run and what comes out: plain data, no panel, no database.

A caller (the panel's job runner, a benchmark, a test) builds a PlaybookSpec and a list of Targets,
calls `ansible.run_playbook`, receives events through a callback and gets a Result back. A failed
playbook is a Result with status "failed", never an exception; ProvisionError means the run could
not even be set up (bad target, missing playbook).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Inventory names reach ansible as host patterns and file names: keep them boring.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
_B64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_KERBEROS_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}@[A-Z0-9][A-Z0-9.-]{0,252}$")
OS_NAMES = ("linux", "windows")
# WinRM (Windows Server 2019's fallback, docs/windows.md): HTTPS only, the server's certificate
# validated against the data center's CA, authenticated by client certificate or Kerberos. NTLM,
# Basic and CredSSP are refused here whatever the caller asks (pywinrm would send them over HTTP too).
WINRM_AUTHS = ("certificate", "kerberos")


class ProvisionError(Exception):
    """The run could not be prepared (invalid target or spec); nothing was sent to any host."""


class Unsafe(str):
    """A string Ansible must never template: dumped as `!unsafe` into the extravars file."""


def source_for(address: str, network: str, source: str) -> str:
    """`source` when `address` lies in `network` (a CIDR), else "" (any local address)."""
    if not network or not source:
        return ""
    try:
        return source if ipaddress.ip_address(address) in ipaddress.ip_network(network) else ""
    except ValueError:
        return ""


@dataclass(frozen=True)
class WinRM:
    """How a Windows host without a usable OpenSSH is reached: WinRM over HTTPS. The secrets
    (client key, Kerberos password) stay out of repr and reach Ansible only through the run's
    0600 files and its redacted secrets (provisioners.ansible)."""

    auth: str  # "certificate" or "kerberos"
    ca_bundle: str  # PEM file of the data center's CA on the controller: validates the host's certificate
    cert_pem: str = ""  # certificate: the client certificate mapped to a local administrator
    key_pem: str = field(default="", repr=False)
    user: str = ""  # kerberos: the account as user@REALM, and its password
    password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.auth not in WINRM_AUTHS:
            raise ProvisionError(f"WinRM authentication {self.auth!r} is refused: certificate or kerberos only")
        if not self.ca_bundle:
            raise ProvisionError("WinRM needs the data center CA to validate the host's certificate")
        if self.auth == "certificate" and not (self.cert_pem and self.key_pem):
            raise ProvisionError("WinRM certificate authentication needs a client certificate and its key")
        if self.auth == "kerberos" and not (self.password and _KERBEROS_USER_RE.match(self.user)):
            raise ProvisionError("WinRM Kerberos authentication needs an account as user@REALM and its password")

    def secrets(self) -> list[str]:
        return [s for s in (self.key_pem, self.password) if s]


@dataclass(frozen=True)
class Target:
    """One managed host, with the SSH host key the panel pinned when the host was registered."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    host_key_type: str = ""
    host_key: str = ""  # base64 blob as in known_hosts
    source_address: str = ""  # local address the connection must leave from; empty: any
    os: str = "linux"  # "windows": OpenSSH on Windows Server with PowerShell as its shell
    winrm: WinRM | None = None  # set: reached over WinRM/HTTPS instead of SSH (Windows only)

    def __post_init__(self) -> None:
        if self.os not in OS_NAMES:
            raise ProvisionError(f"host {self.name} has an unknown operating system {self.os!r}")
        if not _NAME_RE.match(self.name or ""):
            raise ProvisionError(f"invalid inventory name {self.name!r}")
        if self.winrm is not None:
            self._check_winrm()
            return
        if not _NAME_RE.match(self.user or "") or not (0 < int(self.port) < 65536):
            raise ProvisionError(f"invalid ssh user or port for {self.name}")
        if not self.host_key or self.host_key_type not in _KEY_TYPES or not _B64_RE.match(self.host_key):
            raise ProvisionError(f"host {self.name} has no pinned host key: register the host first")
        if self.source_address:
            try:
                ipaddress.ip_address(self.source_address)
            except ValueError:
                raise ProvisionError(f"invalid source address for {self.name}") from None

    def _check_winrm(self) -> None:
        if self.os != "windows":
            raise ProvisionError(f"host {self.name}: WinRM is for Windows hosts only")
        if not (0 < int(self.port) < 65536) or int(self.port) == 5985:
            raise ProvisionError(f"host {self.name}: WinRM over HTTPS, not port {self.port} (5985 is HTTP)")
        if self.source_address:
            raise ProvisionError(f"host {self.name}: WinRM cannot bind a source address (pywinrm has none)")


@dataclass(frozen=True)
class PlaybookSpec:
    """One playbook run. `extravars` are user-derived: every string in them reaches Ansible as
    `!unsafe`. `project_dir` holds the playbook and its roles/; `ssh_key` is the private key file."""

    playbook: str
    project_dir: str
    ssh_key: str
    extravars: Mapping[str, Any] = field(default_factory=dict)
    forks: int = 10
    control_dir: str | None = None  # shared ControlPersist sockets; None = one dir per run
    templates_dir: str | None = None  # top-level templates/ for roles (govhost_templates)


@dataclass
class Result:
    """Outcome as data. status: successful | failed | timeout | canceled (ansible-runner's words);
    stats: per-host counters {ok, changed, dark, failures, ...}; explanation: plain language."""

    status: str
    rc: int | None
    stats: dict = field(default_factory=dict)
    explanation: str = ""
    data: dict = field(default_factory=dict)  # what the playbook published with set_stats

    @property
    def ok(self) -> bool:
        return self.status == "successful"


# An event as handed to on_event: already redacted, without module arguments.
Event = dict[str, Any]
EventSink = Callable[[Event], None]
CancelCheck = Callable[[], bool]
