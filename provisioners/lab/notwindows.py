"""NOT WINDOWS: a recording SSH endpoint that stands in for a Windows host, which cannot run here.

It is a paramiko SSH server, nothing more. It accepts one pinned public key for one user, presents
its own host key (which govhost pins like any host's), and for each command Ansible sends with
`ansible_shell_type: powershell` it decodes what would have run on Windows: the bootstrap wrapper
(`-EncodedCommand`, UTF-16-LE base64) and, on its input, the exec wrapper's manifest, from which it
takes the module's name (`module_wrapper.ps1`'s `Script`) and arguments (`complex_args`). Each module
call is appended as one JSON line to the record file, and answered with a success (a few modules get
the fields the playbooks read back, e.g. `win_stat`'s `stat.exists`) or with an injected failure.

It proves what govhost SENDS to Windows (modules, arguments, order, no_log) and how govhost treats
the answers; it proves nothing about what IIS would do with them. Nothing in it runs PowerShell.

govhost's own PowerShell modules (playbooks/library/govhost_*.ps1) never run here either: their
arguments are checked against the module's documented spec (its .yml beside it: unknown options,
missing required ones, types, choices, into suboptions), refused as Ansible.Basic would refuse them
on Windows, and the answer is the one the module's RETURN documents, made from the arguments
(`govhost_iis_sites`: every site applied unless a fault names it; `govhost_iis_usage`: each site
0 MB unless the faults file gives its size).

Faults are read from a JSON file before each call: {"fail": {"<module>": "<message>"}} makes every
call of that module fail with the message (rc 1, as a failed PowerShell module answers);
{"fail_site": {"<site name>": "<message>"}} makes govhost_iis_sites report that one site failed;
{"usage_mb": {"<site name>": <MB>}} is what govhost_iis_usage answers for that site.

    python -m provisioners.lab.notwindows --listen 10.77.0.216:2222 --host-key KEY \
        --authorized-key lab_key.pub --user govhost --record calls.jsonl [--faults faults.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import socket
import sys
import threading
import time
from pathlib import Path

import paramiko
import yaml

SENTINEL = "\0\0\0\0"
LIBRARY = Path(__file__).resolve().parents[2] / "playbooks" / "library"
# What a module returns besides `changed` when a playbook reads it back.
ANSWERS = {
    "ansible.windows.win_stat": {"stat": {"exists": True, "isdir": True}},
    "ansible.windows.win_feature": {"success": True, "reboot_required": False, "exitcode": "Success"},
    "ansible.windows.win_reg_stat": {"exists": True, "value": "10.0", "type": "REG_SZ"},
    "ansible.windows.win_ping": {"ping": "pong"},
    "ansible.windows.win_tempfile": {"path": "C:\\Users\\govhost\\AppData\\Local\\Temp\\ansible.govhost-pfx"},
    "ansible.windows.setup": {
        "ansible_facts": {"os_name": "NOT WINDOWS (recording endpoint)", "distribution_version": "0", "hostname": "x"}
    },
    "ansible.windows.win_powershell": {"output": [], "error": [], "result": {}, "host_out": "", "host_err": ""},
}


def decode_command(command: str) -> str:
    """The PowerShell text of `powershell.exe ... -EncodedCommand <base64 UTF-16-LE>` (else as given)."""
    m = re.search(r"-EncodedCommand\s+([A-Za-z0-9+/=]+)", command)
    return base64.b64decode(m.group(1)).decode("utf-16-le") if m else command


def parse_input(data: str) -> tuple[dict, dict] | None:
    """(bootstrap manifest, exec manifest) of an exec-wrapper input, or None when it is not one (yet)."""
    if SENTINEL not in data:
        return None
    head, _, rest = data.partition(SENTINEL)
    try:
        return json.loads(head), json.loads(rest.strip().split("\n" + SENTINEL, 1)[0])
    except ValueError:
        return None


def module_call(manifest: dict) -> tuple[str, dict] | None:
    """(module name, arguments) of a module run, or None for Ansible's own helper scripts."""
    for action in manifest.get("actions") or []:
        if action.get("name") == "module_wrapper.ps1":
            params = action.get("params") or {}
            name = str(params.get("Script", "")).removesuffix(".ps1")
            m = re.fullmatch(r"ansible_collections\.(\w+)\.(\w+)\.plugins\.modules\.(\w+)", name)
            name = ".".join(m.groups()) if m else name  # the module's FQCN
            name = name.removeprefix("ansible.legacy.")  # a module of the playbooks' own library
            args = next((v["Value"] for v in params.get("Variables") or [] if v.get("Name") == "complex_args"), {})
            return name, args
    return None


class Recorder:
    """Appends calls to the record file (one JSON object a line) and reads the faults file."""

    def __init__(self, record: Path, faults: Path | None):
        self.record, self.faults, self.lock = record, faults, threading.Lock()

    def write(self, entry: dict) -> None:
        with self.lock, self.record.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")

    def _faults(self) -> dict:
        if not self.faults or not self.faults.is_file():
            return {}
        return json.loads(self.faults.read_text() or "{}")

    def failure_for(self, module: str) -> str:
        return str((self._faults().get("fail") or {}).get(module, ""))

    def usage_mb(self) -> dict[str, float]:
        return {str(k): float(v) for k, v in (self._faults().get("usage_mb") or {}).items()}

    def site_failures(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self._faults().get("fail_site") or {}).items()}


def _read_input(channel: paramiko.Channel, idle_s: float = 5.0) -> str:
    """Everything the client sends: until EOF, a complete exec-wrapper input, or `idle_s` of silence."""
    buf, last = b"", time.monotonic()
    channel.settimeout(0.2)
    while True:
        try:
            chunk = channel.recv(65536)
        except TimeoutError:  # socket.timeout: nothing within 0.2 s
            chunk = None
        if chunk == b"":
            break
        if chunk:
            buf, last = buf + chunk, time.monotonic()
            if parse_input(buf.decode("utf-8", "replace")):
                break
        elif time.monotonic() - last > idle_s:
            break
    return buf.decode("utf-8", "replace")


def answer(recorder: Recorder, user: str, command: str, data: str) -> tuple[dict | str, int]:
    """The reply to one command and its exit status; records module calls."""
    parsed = parse_input(data)
    if parsed is None:
        recorder.write({"user": user, "unexpected": decode_command(command)[:2000]})
        return {"failed": True, "msg": "NOT WINDOWS: this recording endpoint runs only Ansible's exec wrapper"}, 1
    _bootstrap, manifest = parsed
    call = module_call(manifest)
    if call is None:
        names = [a.get("name") for a in manifest.get("actions") or []]
        params = (manifest.get("actions") or [{}])[0].get("params") or {}
        if "powershell_mkdtemp.ps1" in names:
            return f"C:\\Users\\{user}\\AppData\\Local\\Temp\\{params.get('Name', 'ansible-tmp')}", 0
        if "powershell_expand_user.ps1" in names:
            return f"C:\\Users\\{user}", 0
        recorder.write({"user": user, "unexpected": names})
        return {"failed": True, "msg": f"NOT WINDOWS: no stand-in for {names}"}, 1
    module, args = call
    no_log = args.get("_ansible_no_log")  # the task's no_log, or no_target_syslog (govhost sets it)
    clean = {k: v for k, v in args.items() if not k.startswith("_ansible_")}
    spec = own_module_spec(module)
    failure = recorder.failure_for(module)
    if spec is not None and not failure:
        problems = check_args(spec, clean)
        failure = f"NOT WINDOWS: {module}: {'; '.join(problems)}" if problems else ""
    recorder.write({"user": user, "module": module, "args": clean, "no_log": no_log, "failed": bool(failure)})
    if failure:
        return {"failed": True, "msg": failure}, 1
    if module == "govhost_iis_sites":
        return iis_sites_answer(clean, recorder.site_failures()), 0
    if module == "govhost_iis_usage":  # each site's size from the faults file, else 0 MB; nothing pruned
        # (the module's `pruned` list is left out: nothing reads it)
        sizes = recorder.usage_mb()
        return {"changed": False, "usage_mb": {s["name"]: sizes.get(s["name"], 0.0) for s in clean["sites"]}}, 0
    return {"changed": True, **ANSWERS.get(module, {})}, 0


def own_module_spec(module: str) -> dict | None:
    """The documented options of one of govhost's own modules (None for any other module)."""
    if not re.fullmatch(r"govhost_\w+", module) or not (LIBRARY / f"{module}.yml").is_file():
        return None
    return yaml.safe_load((LIBRARY / f"{module}.yml").read_text())["DOCUMENTATION"]["options"]


_BOOLS = {"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n"}


def _type_ok(kind: str, value) -> bool:
    """What Ansible.Basic would accept (it converts scalars to the option's type)."""
    if kind == "str":
        return isinstance(value, str | int | float | bool)
    if kind == "int":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value) is not None
        )
    if kind == "bool":
        return isinstance(value, bool) or str(value).lower() in _BOOLS
    if kind == "list":
        return isinstance(value, list)
    if kind == "dict":
        return isinstance(value, dict)
    return True


def check_args(options: dict, args: dict, path: str = "") -> list[str]:
    """Unknown options, missing required ones, wrong types, values outside choices, recursively."""
    problems = [f"{path}{k}: unsupported parameter" for k in args if k not in options]
    for name, spec in options.items():
        if name not in args or args[name] is None:
            if spec.get("required"):
                problems.append(f"{path}{name}: missing required argument")
            continue
        value, kind = args[name], spec.get("type", "str")
        if not _type_ok(kind, value):
            problems.append(f"{path}{name}: {type(value).__name__} is not a {kind}")
            continue
        items = value if kind == "list" else [value]
        for i, item in enumerate(items):
            where = f"{path}{name}[{i}]" if kind == "list" else f"{path}{name}"
            if kind == "list" and spec.get("elements") and not _type_ok(spec["elements"], item):
                problems.append(f"{where}: {type(item).__name__} is not a {spec['elements']}")
            elif "choices" in spec and item not in spec["choices"]:
                problems.append(f"{where}: {item!r} is not one of {spec['choices']}")
            elif spec.get("suboptions") and isinstance(item, dict):
                problems += check_args(spec["suboptions"], item, f"{where}.")
    return problems


def iis_sites_answer(args: dict, failing: dict[str, str]) -> dict:
    """govhost_iis_sites' documented answer: each site applied unless a fault names it (then it is
    reported failed with the fault's message, as the module reports a site it undid)."""
    sites = args["sites"]
    applied = [s for s in sites if s["name"] not in failing]
    sftp = str(args.get("sftp")).lower() in ("true", "yes", "on", "1", "y")
    return {
        "changed": bool(applied),
        "applied": [s["name"] for s in applied],
        "failed_sites": {s["name"]: failing[s["name"]] for s in sites if s["name"] in failing},
        "archives": {s["name"]: s["archive"] for s in applied if s["state"] == "absent"},
        "sftp_users": [s["sftp"]["user"] for s in applied if s["state"] != "absent"] if sftp else [],
        "sshd_changed": sftp and bool(applied),
    }


class NotWindowsServer(paramiko.ServerInterface):
    """SSH server side of one connection: the pinned key for the one user, exec requests only."""

    def __init__(self, recorder: Recorder, user: str, authorized: paramiko.PKey):
        self.recorder, self.user, self.authorized = recorder, user, authorized

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = username == self.user and key.get_name() == self.authorized.get_name() and key == self.authorized
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_env_request(self, channel, name, value):
        return False

    def check_channel_pty_request(self, *args):
        return False

    def check_channel_exec_request(self, channel, command):
        text = command.decode("utf-8", "replace") if isinstance(command, bytes) else str(command)
        threading.Thread(target=self._run, args=(channel, text), daemon=True).start()
        return True

    def _run(self, channel: paramiko.Channel, command: str) -> None:
        try:
            reply, rc = answer(self.recorder, self.user, command, _read_input(channel))
            channel.sendall((reply if isinstance(reply, str) else json.dumps(reply)).encode() + b"\r\n")
            channel.send_exit_status(rc)
        finally:
            channel.close()


def _authorized_key(path: Path) -> paramiko.PKey:
    kind, blob = path.read_text().split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


def serve(listen: str, host_key: Path, authorized: Path, user: str, recorder: Recorder, ready=print) -> None:
    ip, _, port = listen.rpartition(":")
    key = paramiko.Ed25519Key(filename=str(host_key))
    pub = _authorized_key(authorized)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, int(port)))
    sock.listen(100)
    ready(f"NOT WINDOWS recording endpoint listening on {listen}")
    while True:
        conn, _addr = sock.accept()
        transport = paramiko.Transport(conn)
        transport.add_server_key(key)
        try:
            transport.start_server(server=NotWindowsServer(recorder, user, pub))
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="NOT WINDOWS: a recording SSH endpoint standing in for a Windows host")
    p.add_argument("--listen", required=True, help="IP:PORT")
    p.add_argument("--host-key", required=True, type=Path, help="OpenSSH ed25519 private key (its host key)")
    p.add_argument("--authorized-key", required=True, type=Path, help="the one public key it accepts")
    p.add_argument("--user", default="govhost")
    p.add_argument("--record", required=True, type=Path, help="JSON lines of the calls")
    p.add_argument("--faults", type=Path, default=None, help="JSON file of injected failures")
    a = p.parse_args(argv)
    serve(a.listen, a.host_key, a.authorized_key, a.user, Recorder(a.record, a.faults), lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
