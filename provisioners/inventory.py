"""Targets -> an Ansible inventory and a known_hosts file of the pinned host keys.

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


def build_inventory(targets: Sequence[Target], *, known_hosts_file: str, ssh_key_file: str) -> dict:
    """A YAML/JSON inventory: every target in group `all` with its connection variables."""
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise ProvisionError("two targets share one inventory name")
    hosts = {}
    for t in targets:
        hosts[t.name] = {
            "ansible_host": t.address,
            "ansible_port": t.port,
            "ansible_user": t.user,
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": ssh_key_file,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": host_ssh_args(t, known_hosts_file),
            "ansible_become": t.user != "root",
        }
    return {"all": {"hosts": hosts}}
