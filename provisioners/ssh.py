"""One fixed command on one managed host over OpenSSH, the way Ansible reaches it, without Ansible.

For a job whose whole work is one read-only query on a host (the databases' size sweep), an
`ansible-playbook` run costs seconds of start-up for milliseconds of work. This runs the command
over the same path: the panel's key, the host key pinned at registration (checked strictly, never
learned), the source address from the network settings, and the shared ControlPath directory, so a
master connection an earlier job left open is reused. A non-root service account runs it through
`sudo -n`, as Ansible's become does. The command is a constant of the caller: nothing a user typed
reaches it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .base import ProvisionError, Target
from .inventory import SSH_ARGS, host_ssh_args, known_hosts


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def run_command(
    target: Target,
    command: str,
    *,
    ssh_key: str,
    control_dir: str,
    workdir_parent: str | os.PathLike,
    timeout: float = 60,
) -> CommandResult:
    """Run `command` (a fixed shell string) on `target` as root; rc 255 is ssh's own failure
    (unreachable, host key mismatch), 124 the timeout."""
    if target.os != "linux":
        raise ProvisionError(f"host {target.name} does not run Linux: no shell command there")
    Path(workdir_parent).mkdir(parents=True, exist_ok=True, mode=0o700)
    work = Path(tempfile.mkdtemp(prefix="ssh-", dir=workdir_parent))  # 0700
    try:
        kh = _write_private(work / "known_hosts", known_hosts([target]))
        key = _write_private(work / "ssh_key", Path(ssh_key).read_text())  # ssh wants it 0600, as Ansible's copy
        remote = command if target.user == "root" else f"sudo -n sh -c {shlex.quote(command)}"
        argv = [
            "ssh",
            *shlex.split(SSH_ARGS),
            *shlex.split(host_ssh_args(target, str(kh))),
            "-o",
            f"ControlPath={control_dir}/%r@%h:%p",
            "-i",
            str(key),
            "-p",
            str(target.port),
            "-l",
            target.user,
            target.address,
            remote,
        ]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return CommandResult(124, "", f"no answer from {target.name} within {timeout:.0f} s")
        return CommandResult(proc.returncode, proc.stdout, proc.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path
