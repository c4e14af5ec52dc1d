"""SSH to lab hosts: options for every client, the lab key, pinned host keys, and control
sockets (a ControlPersist master to a host that was reset or lost its link hangs clients, so
the lab closes them on reset and teardown)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .common import BLOCK, GATEWAY, HOSTS_PATTERN, LabError, LabPaths, lab_paths

# ControlPath names carry the address, so a reset can close exactly the sockets of its host.
CONTROL_PATH_PATTERN = "%r@%h:%p"


def lab_key_path(paths: LabPaths | None = None) -> Path:
    """Private key that root on every lab host accepts."""
    return (paths or lab_paths()).key


def known_hosts_path(paths: LabPaths | None = None) -> Path:
    """known_hosts pinning the base image's host keys for the block (10.77.0.*: every host shares
    them); one file per block, so blocks never rewrite each other's."""
    return (paths or lab_paths()).cache / (f"known_hosts-{BLOCK}" if BLOCK else "known_hosts")


def base_host_key(kind: str = "ssh-ed25519", paths: LabPaths | None = None) -> str:
    """The base image's public host key of this type, which every host of the block presents."""
    path = known_hosts_path(paths)
    keys = dict(line.split()[1:3] for line in path.read_text().splitlines()) if path.exists() else {}
    if kind not in keys:
        raise LabError(f"no {kind} key in {path}: start the lab's hosts first")
    return keys[kind]


def write_known_hosts(base: Path, paths: LabPaths | None = None) -> Path:
    lines = []
    for pub in sorted((base / "etc/ssh").glob("ssh_host_*_key.pub")):
        kind, blob = pub.read_text().split()[:2]
        lines.append(f"{HOSTS_PATTERN} {kind} {blob}\n")
    target = known_hosts_path(paths)
    if not target.exists() or target.read_text() != "".join(lines):
        target.write_text("".join(lines))
    return target


def ssh_options(
    paths: LabPaths | None = None, strict: bool = True, control_persist: str | None = None
) -> dict[str, str]:
    """`-o` options every lab client should use. strict=True pins the base host keys (the
    product habit); strict=False is for the lab tool itself (no known_hosts at all)."""
    paths = paths or lab_paths()
    opts = {
        "User": "root",
        "IdentityFile": str(lab_key_path(paths)),
        "IdentitiesOnly": "yes",
        "BatchMode": "yes",
        "BindAddress": GATEWAY,  # never leave the lab even if routing were wrong
        "ConnectTimeout": "5",
        "ServerAliveInterval": "2",  # a dead peer under a warm master is found in ~4-6 s
        "ServerAliveCountMax": "2",
        "ControlPath": str(paths.cp / CONTROL_PATH_PATTERN),
        "LogLevel": "ERROR",
    }
    if strict:
        opts.update(StrictHostKeyChecking="yes", UserKnownHostsFile=str(known_hosts_path(paths)))
    else:
        opts.update(StrictHostKeyChecking="no", UserKnownHostsFile="/dev/null")
    if control_persist:
        opts.update(ControlMaster="auto", ControlPersist=control_persist)
    return opts


def ssh_args(paths: LabPaths | None = None, strict: bool = True, control_persist: str | None = None) -> list[str]:
    """ssh_options() as an argv fragment: ["-o", "K=V", ...]."""
    args: list[str] = []
    for key, value in ssh_options(paths, strict, control_persist).items():
        args += ["-o", f"{key}={value}"]
    return args


def ansible_ssh_common_args(paths: LabPaths | None = None) -> str:
    """For inventory `ansible_ssh_common_args` (key and user go in their own vars)."""
    opts = ssh_options(paths)
    skip = {"User", "IdentityFile", "ControlPath"}  # Ansible sets these itself
    return " ".join(f"-o {k}={v}" for k, v in opts.items() if k not in skip)


def ssh_command(
    ip: str, *cmd: str, paths: LabPaths | None = None, strict: bool = True, control_persist: str | None = None
) -> list[str]:
    return ["ssh", *ssh_args(paths, strict, control_persist), ip, *cmd]


def close_control_sockets(ip: str | None = None, paths: LabPaths | None = None) -> int:
    """`ssh -O exit` every master in the lab cp dir for IP (all of them when None, or when the
    name does not say which host: a needless close costs one reconnect, a stale one a hang).
    Returns how many sockets were found."""
    cp = (paths or lab_paths()).cp
    socks = [p for p in cp.glob("*") if not p.name.startswith(".")] if cp.is_dir() else []
    socks = [p for p in socks if ip is None or f"@{ip}:" in p.name or "@" not in p.name]
    procs = [
        (
            p,
            subprocess.Popen(
                ["ssh", "-o", f"ControlPath={p}", "-O", "exit", "lab"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
            ),
        )
        for p in socks
    ]
    for sock, proc in procs:
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if sock.exists():  # no master answered: a stale file would make the next ssh fail
            sock.unlink(missing_ok=True)
    return len(socks)


def ensure_cp_dir(paths: LabPaths | None = None) -> Path:
    cp = (paths or lab_paths()).cp
    cp.mkdir(parents=True, exist_ok=True)
    os.chmod(cp, 0o700)
    return cp
