#!/usr/bin/python3
"""govhost_mailusers: apply many mailboxes' desired state to dovecot's passwd-file in ONE call.

The panel never keeps password hashes, so the users file cannot be templated from its database:
this module merges the batch into the existing file (new hash where one is given, quota and
suspension always), writes it atomically (0640 root:dovecot), archives the maildirs of deleted
mailboxes and prunes archives older than `archive_days`. A naive role would loop one lineinfile
per mailbox (about 0.2 s each); here 1,000 mailboxes are one process.
"""

from __future__ import annotations

import datetime as dt
import grp
import os
import re
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: govhost_mailusers
short_description: Batched mailbox users for dovecot's passwd-file (govhost)
options:
  path: {type: str, required: true}
  users: {type: list, elements: dict, required: true}
  hashes: {type: dict, default: {}, no_log: true}
  vmail_dir: {type: str, default: /var/vmail}
  archive_dir: {type: str, default: /var/vmail-archive}
  archive_days: {type: int, default: 30}
"""

# The panel validates; the host checks again so nothing odd becomes a line, a field or a path.
ADDRESS_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?@(?=.{1,253}$)"
                        r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
HASH_RE = re.compile(r"^\{(ARGON2ID|SHA512-CRYPT|BLF-CRYPT)\}\$[A-Za-z0-9$./=,+-]{20,200}$")
STATES = ("active", "suspended", "absent")


def parse(text: str) -> dict[str, list[str]]:
    """address -> [hash, extras...] for every line of the current file."""
    users = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split(":", 7)
        if len(fields) == 8:
            users[fields[0]] = [fields[1], fields[7]]
    return users


def render(users: dict[str, list[str]]) -> str:
    lines = ["# Managed by govhost (govhost_mailusers): changes here are overwritten."]
    lines += [f"{addr}:{pw}::::::{extra}" for addr, (pw, extra) in sorted(users.items())]
    return "\n".join(lines) + "\n"


def extras(user: dict) -> str:
    fields = [f"userdb_quota_rule=*:storage={int(user['quota_mb'])}M"]
    if user["state"] == "suspended":
        fields.append("nologin=y reason=suspended")
    return " ".join(fields)


def check(module, user: dict, hashes: dict) -> None:
    addr = user.get("address", "")
    if not ADDRESS_RE.match(addr) or user.get("state") not in STATES:
        module.fail_json(msg=f"invalid mailbox entry {addr!r}")
    if user["state"] != "absent" and not (isinstance(user.get("quota_mb"), int) and 1 <= user["quota_mb"] <= 10**7):
        module.fail_json(msg=f"invalid quota for {addr}")
    h = hashes.get(addr)
    if h is not None and not HASH_RE.match(h):
        module.fail_json(msg=f"invalid password hash for {addr} (hash not shown)")


def maildir(vmail: str, addr: str) -> str:
    local, domain = addr.split("@", 1)
    return os.path.join(vmail, domain, local)


def archive(src: str, archive_dir: str, addr: str) -> str | None:
    if not os.path.isdir(src):
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    local, domain = addr.split("@", 1)
    dest = os.path.join(archive_dir, domain, f"{local}-{stamp}")
    os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
    shutil.move(src, dest)
    return dest


def prune(archive_dir: str, days: int) -> list[str]:
    """Archives past their keeping time go; their age is the archive dir's mtime."""
    gone, limit = [], time.time() - days * 86400
    if not os.path.isdir(archive_dir):
        return gone
    for domain in os.listdir(archive_dir):
        ddir = os.path.join(archive_dir, domain)
        for name in os.listdir(ddir) if os.path.isdir(ddir) else []:
            path = os.path.join(ddir, name)
            if os.path.getmtime(path) < limit:
                shutil.rmtree(path, ignore_errors=True)
                gone.append(path)
    return gone


def write(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".users-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o640)
    os.chown(tmp, 0, grp.getgrnam("dovecot").gr_gid)
    os.replace(tmp, path)


def main() -> None:
    module = AnsibleModule(argument_spec={
        "path": {"type": "str", "required": True}, "users": {"type": "list", "elements": "dict", "required": True},
        "hashes": {"type": "dict", "default": {}, "no_log": True},
        "vmail_dir": {"type": "str", "default": "/var/vmail"},
        "archive_dir": {"type": "str", "default": "/var/vmail-archive"},
        "archive_days": {"type": "int", "default": 30},
    }, supports_check_mode=False)
    p = module.params
    hashes = {str(k): str(v) for k, v in (p["hashes"] or {}).items()}
    for user in p["users"]:
        check(module, user, hashes)
    current = {}
    if os.path.exists(p["path"]):
        with open(p["path"]) as fh:
            current = parse(fh.read())
    wanted, archived, missing = dict(current), [], []
    for user in p["users"]:
        addr = user["address"]
        if user["state"] == "absent":
            wanted.pop(addr, None)
            dest = archive(maildir(p["vmail_dir"], addr), p["archive_dir"], addr)
            archived += [dest] if dest else []
            continue
        pw = hashes.get(addr) or (current.get(addr) or [None])[0]
        if not pw:
            missing.append(addr)
            continue
        wanted[addr] = [pw, extras(user)]
    if missing:
        module.fail_json(msg=f"no password hash for new mailbox(es): {', '.join(missing[:5])}")
    changed = wanted != current
    if changed:
        write(p["path"], render(wanted))
    pruned = prune(p["archive_dir"], p["archive_days"])
    module.exit_json(changed=changed or bool(archived) or bool(pruned), users=len(wanted), archived=archived,
                     pruned=pruned)


if __name__ == "__main__":
    main()
