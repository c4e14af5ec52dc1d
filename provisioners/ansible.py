"""Run one playbook with ansible-runner in a private, throw-away data dir.

Secret hygiene (the AWX habits): the dir is 0700 and every file we write is 0600; env files are
suppressed (they are sticky across runs); user-derived extravars are dumped as `!unsafe` into a
file passed with `-e @file`, secrets into a second such file, so neither is ever on a command line
or in the environment; every event is redacted before the caller sees it, and nothing of the run
is kept on disk afterwards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from .base import CancelCheck, EventSink, PlaybookSpec, ProvisionError, Result, Target, Unsafe
from .events import EventCollector
from .inventory import SSH_ARGS, build_inventory, known_hosts, winrm_password_var

RUNNER_SETTINGS = {"pexpect_timeout": 1, "suppress_output_file": True}
# ansible-playbook without the interpreter's teardown after the recap (see the script's docstring).
LAUNCHER = str(Path(__file__).with_name("playbook_launcher.py"))


class _UnsafeDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    """SafeDumper that writes Unsafe strings with Ansible's `!unsafe` tag. libyaml's emitter when
    PyYAML has it: the pure-Python one took 0.9 s of CPU per megabyte (a mail host's whole state
    of 10,000 mailboxes), libyaml 0.02 s."""


# Always quoted: a bare `!unsafe 8.2` or `!unsafe yes` would be read back as a float or a bool.
_UnsafeDumper.add_representer(Unsafe, lambda d, v: d.represent_scalar("!unsafe", str(v), style="'"))


def mark_unsafe(value: Any) -> Any:
    """Every string inside `value` (keys included) becomes Unsafe."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, Mapping):
        return {mark_unsafe(k) if isinstance(k, str) else k: mark_unsafe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [mark_unsafe(v) for v in value]
    return value


def dump_vars(values: Mapping[str, Any]) -> str:
    return yaml.dump(mark_unsafe(dict(values)), Dumper=_UnsafeDumper, allow_unicode=True, sort_keys=True)


def write_private(path: Path, text: str) -> Path:
    """Create `path` 0600 (never reusing an existing file) and write `text`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def _envvars(job: Path, spec: PlaybookSpec, control_dir: str) -> dict[str, str]:
    venv_bin = os.path.dirname(sys.executable)
    env = {
        "ANSIBLE_CONFIG": str(write_private(job / "ansible.cfg", "")),  # no stray ansible.cfg from cwd
        "ANSIBLE_HOME": str(job / "home"),
        "ANSIBLE_LOCAL_TEMP": str(job / "tmp"),
        # Remote tmp is a path on the managed hosts too: a job-dir path would leave one empty
        # directory per job on every host, and a fixed /tmp name invites symlink games. The user's
        # own ~/.ansible/tmp (0700) is private on both sides; ansible removes its task dirs.
        "ANSIBLE_REMOTE_TMP": "~/.ansible/tmp",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir,
        "ANSIBLE_SSH_CONTROL_PATH": "%(directory)s/%%r@%%h:%%p",
        "ANSIBLE_SSH_ARGS": SSH_ARGS,
        "ANSIBLE_SSH_RETRIES": "0",
        "ANSIBLE_TIMEOUT": "10",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_HOST_KEY_CHECKING": "True",  # runner turns it off unless set
        "ANSIBLE_FORKS": str(spec.forks),
        "ANSIBLE_ROLES_PATH": str(Path(spec.project_dir) / "roles"),
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_NO_TARGET_SYSLOG": "True",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
    }
    # The panel's own settings may sit in its environment; ansible and its modules get none of them.
    env.update({k: "" for k in os.environ if k.startswith("GOVHOST_") or k.endswith("_PASSWORD")})
    return env


def winrm_secrets(targets: Sequence[Target]) -> dict[str, str]:
    """The WinRM secrets of a run as secrets-file variables: each Kerberos password (the inventory
    refers to it), and each client key too, so both are redacted from every event like any secret."""
    out = {}
    for i, t in enumerate(targets):
        if t.winrm is not None and t.winrm.password:
            out[winrm_password_var(i)] = t.winrm.password
        if t.winrm is not None and t.winrm.key_pem:
            out[f"govhost_winrm_key_{i}"] = t.winrm.key_pem
    return out


def _prepare(job: Path, spec: PlaybookSpec, targets: Sequence[Target], secrets: Mapping[str, str]) -> dict:
    playbook = Path(spec.project_dir, spec.playbook)
    if not playbook.is_file():
        raise ProvisionError(f"playbook not found: {spec.playbook}")
    for sub in ("home", "tmp", "inventory", "vars", "env"):
        (job / sub).mkdir(mode=0o700)
    # runner drops its `settings` argument unless env/settings exists, so they go in the file:
    # a 1 s pexpect poll (cancel is seen within a second) and no unredacted stdout file.
    write_private(job / "env" / "settings", yaml.safe_dump(RUNNER_SETTINGS))
    key = write_private(job / "ssh_key", Path(spec.ssh_key).read_text())
    kh = write_private(job / "known_hosts", known_hosts([t for t in targets if t.winrm is None]))
    certs = {}
    for t in targets:  # WinRM client certificates: 0600 files of this run, removed with it
        if t.winrm is not None and t.winrm.auth == "certificate":
            certs[t.name] = (
                str(write_private(job / f"winrm-{t.name}.crt", t.winrm.cert_pem)),
                str(write_private(job / f"winrm-{t.name}.key", t.winrm.key_pem)),
            )
    inventory = build_inventory(targets, known_hosts_file=str(kh), ssh_key_file=str(key), winrm_cert_files=certs)
    inv = write_private(job / "inventory" / "hosts.yml", yaml.safe_dump(inventory))
    extra = dict(spec.extravars)
    if spec.templates_dir:
        extra.setdefault("govhost_templates", spec.templates_dir)
    ev = write_private(job / "vars" / "extravars.yml", dump_vars(extra))
    sv = write_private(job / "vars" / "secrets.yml", dump_vars(secrets))
    # The launcher runs ansible-playbook's own CLI; with `binary` set, runner leaves the playbook
    # argument to the command line.
    args = [LAUNCHER, "-e", f"@{ev}", "-e", f"@{sv}", spec.playbook]
    return {"inventory": str(inv), "binary": sys.executable, "cmdline": shlex.join(args)}


def close_masters(control_dir: str | os.PathLike) -> None:
    """`ssh -O exit` each ControlPersist master in a per-run control dir."""
    for sock in Path(control_dir).glob("*@*"):
        subprocess.run(
            ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=5,
            check=False,
        )


def run_playbook(
    spec: PlaybookSpec,
    targets: Sequence[Target],
    *,
    on_event: EventSink | None = None,
    timeout: int,
    secrets: Mapping[str, str] | None = None,
    workdir_parent: str | os.PathLike,
    cancel: CancelCheck | None = None,
    keep_workdir: bool = False,
    also_redact: Sequence[str] = (),
) -> Result:
    """Run `spec` against `targets`; events (redacted) go to on_event; returns the outcome.

    Events are redacted of `secrets` and of `also_redact`: values that reach the run inside a
    secret (a batch's password hashes in one JSON document) and must be masked one by one.

    `keep_workdir` leaves the private data dir in place for inspection (tests, debugging); the
    caller then removes it.
    """
    if not targets:
        raise ProvisionError("a playbook run needs at least one target")
    secrets = {k: str(v) for k, v in (secrets or {}).items()} | winrm_secrets(targets)
    Path(workdir_parent).mkdir(parents=True, exist_ok=True, mode=0o700)
    job = Path(tempfile.mkdtemp(prefix="job-", dir=workdir_parent))  # mkdtemp: 0700
    own_cp = None if spec.control_dir else tempfile.mkdtemp(prefix="gh-cp-")  # short: socket path limit
    collector = EventCollector([*secrets.values(), *also_redact], on_event)
    try:
        prepared = _prepare(job, spec, targets, secrets)
        r = ansible_runner.run(
            private_data_dir=str(job),
            project_dir=spec.project_dir,
            envvars=_envvars(job, spec, spec.control_dir or own_cp),
            ident="run",
            event_handler=collector.handle,
            cancel_callback=cancel or (lambda: False),
            quiet=True,
            suppress_env_files=True,
            suppress_output_file=True,
            timeout=timeout,
            **prepared,
        )
        return collector.result(r.status, r.rc, timeout)
    finally:
        if own_cp:
            close_masters(own_cp)
            shutil.rmtree(own_cp, ignore_errors=True)
        if not keep_workdir:
            shutil.rmtree(job, ignore_errors=True)
