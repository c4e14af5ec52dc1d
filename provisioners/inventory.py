"""Targets -> an Ansible inventory and a known_hosts file of the pinned host keys.

Windows hosts are reached the same way (OpenSSH on Windows Server 2022, the same pinned keys);
only the shell differs: PowerShell instead of a POSIX shell with Python. A Windows Server 2019 host
may be reached over WinRM instead: HTTPS only, its certificate validated by the data center CA.

Host keys are never learned on first use: ssh checks them strictly against the keys the panel
pinned at registration. A target with a `source_address` is reached from that local address only
(the caller's network settings decide which hosts get one), so a routing mistake cannot send the
traffic out of another interface.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from .base import ProvisionError, Target

# Options of the ssh master connection, shared by every host of a run.
SSH_ARGS = (
    "-o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=2 -o ServerAliveCountMax=2 -o ConnectTimeout=5"
)


# Windows Server's OpenSSH with PowerShell as its default shell (host_bootstrap_windows.yml sets it):
# modules are PowerShell, no Python on the host; the SSH user is an administrator, so no become.
WINDOWS_VARS = {"ansible_shell_type": "powershell", "ansible_become": False}


def winrm_password_var(index: int) -> str:
    """The secrets-file variable holding the Kerberos password of the run's index-th target."""
    return f"govhost_winrm_password_{index}"


def winrm_vars(t: Target, index: int, cert_files: tuple[str, str] | None) -> dict:
    """WinRM over HTTPS for Server 2019 (docs/windows.md): scheme https whatever else is set, the
    host's certificate validated against the data center CA, certificate or Kerberos auth. No secret
    is in these variables: the client key is a 0600 file of the run, the password a Jinja reference
    to the run's redacted secrets file."""
    w = t.winrm
    out = {
        "ansible_host": t.address,
        "ansible_port": t.port,
        "ansible_connection": "winrm",
        "ansible_winrm_scheme": "https",
        "ansible_winrm_transport": w.auth,  # one transport: pywinrm tries no other
        "ansible_winrm_server_cert_validation": "validate",
        "ansible_winrm_ca_trust_path": w.ca_bundle,
        "ansible_winrm_message_encryption": "auto",  # TLS carries it (never 'never' over http)
        **WINDOWS_VARS,
    }
    if w.auth == "certificate":
        out["ansible_winrm_cert_pem"], out["ansible_winrm_cert_key_pem"] = cert_files
    else:
        out["ansible_user"] = w.user
        out["ansible_password"] = "{{ " + winrm_password_var(index) + " }}"
        out["ansible_winrm_kinit_mode"] = "managed"  # kinit with that password for this run only
    return out


def known_hosts(targets: Sequence[Target]) -> str:
    """known_hosts lines for the targets, keyed by the address ssh is given."""
    lines = []
    for t in targets:
        where = t.address if t.port == 22 else f"[{t.address}]:{t.port}"
        lines.append(f"{where} {t.host_key_type} {t.host_key}\n")
    return "".join(lines)


def host_ssh_args(target: Target, known_hosts_file: str) -> str:
    opts = [
        "-o StrictHostKeyChecking=yes",
        f"-o UserKnownHostsFile={shlex.quote(known_hosts_file)}",
        "-o IdentitiesOnly=yes",
        "-o BatchMode=yes",
        "-o LogLevel=ERROR",
    ]
    if target.source_address:
        opts.append(f"-o BindAddress={target.source_address}")
    return " ".join(opts)


def build_inventory(
    targets: Sequence[Target],
    *,
    known_hosts_file: str,
    ssh_key_file: str,
    winrm_cert_files: dict[str, tuple[str, str]] | None = None,
) -> dict:
    """A YAML/JSON inventory: every target in group `all` with its connection variables.
    `winrm_cert_files`: inventory name -> (client certificate, key) files of WinRM certificate targets."""
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ProvisionError("two targets share one inventory name")
    hosts = {}
    for i, t in enumerate(targets):
        if t.winrm is not None:
            files = (winrm_cert_files or {}).get(t.name)
            if t.winrm.auth == "certificate" and not files:
                raise ProvisionError(f"host {t.name}: no client certificate files for WinRM")
            hosts[t.name] = winrm_vars(t, i, files)
            continue
        hosts[t.name] = {
            "ansible_host": t.address,
            "ansible_port": t.port,
            "ansible_user": t.user,
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": ssh_key_file,
            "ansible_ssh_common_args": host_ssh_args(t, known_hosts_file),
            **(
                WINDOWS_VARS
                if t.os == "windows"
                else {
                    "ansible_python_interpreter": "/usr/bin/python3",
                    "ansible_become": t.user != "root",
                }
            ),
        }
    return {"all": {"hosts": hosts}}
