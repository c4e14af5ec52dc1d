#!/usr/bin/python3
"""govhost_mailusers: a host's mailboxes in ONE call: dovecot's passwd-file and postfix's maps.

The panel never keeps password hashes, so the users file cannot be templated from its database:
this module merges the batch (`users`) into the existing file (new hash where one is given, quota
and suspension always), writes it atomically (0640 root:dovecot), archives the maildirs of deleted
mailboxes and prunes archives older than `archive_days`. Dovecot's passwd-file driver stats the
file at each lookup and rereads it when it changed, so new users log in without a reload.

With `maps` (the host's whole desired state) it also renders postfix's five lookup tables and runs
ONE postmap over the tables whose text changed (postfix notices new .db files without a reload).
A naive role loops one lineinfile per mailbox (about 0.7 s each); here 1,000 mailboxes, the users
file and every map are one process, a few hundred milliseconds.
"""

from __future__ import annotations

import datetime as dt
import grp
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: govhost_mailusers
short_description: Batched mailbox users for dovecot's passwd-file (govhost)
options:
  path: {type: str, default: /etc/dovecot/govhost/users}
  users: {type: raw, description: "this batch (list of dicts or its JSON); without it the users file is left alone"}
  hashes: {type: dict, default: {}, no_log: true}
  vmail_dir: {type: str, default: /var/vmail}
  archive_dir: {type: str, default: /var/vmail-archive}
  archive_days: {type: int, default: 30}
  maps: {type: raw, description: "{domains, mailboxes, aliases} (or its JSON): the host's whole desired state"}
  map_dir: {type: str, default: /etc/postfix/govhost}
  suspended_reply: {type: dict, description: "defer/reject -> postfix reply for a suspended mailbox"}
  hashes_file: {type: str, description: "a users-file fragment (a moved domain's lines): hashes for the batch"}
  export_domain: {type: str, description: "write this domain's users lines to export_path (a move); nothing else"}
  export_path: {type: str}
"""

# The panel validates; the host checks again so nothing odd becomes a line, a field or a path.
ADDRESS_RE = re.compile(
    r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?@(?=.{1,253}$)"
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"
)
HASH_RE = re.compile(r"^\{(ARGON2ID|SHA512-CRYPT|BLF-CRYPT)\}\$[A-Za-z0-9$./=,+-]{20,200}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
REPLY_RE = re.compile(r"^[45][0-9][0-9] [45]\.[0-9]\.[0-9] [A-Za-z0-9 ,.'-]{1,200}$")
STATES = ("active", "suspended", "absent")
MAPS = ("domains", "mailboxes", "aliases", "senders", "recipient_access")
MAP_HEADER = "# Managed by govhost from its desired state: changes here are overwritten."
SUSPENDED_REPLY = {
    "defer": "450 4.2.1 Mailbox temporarily suspended, try again later",
    "reject": "550 5.2.1 Mailbox disabled",
}


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


def write(path: str, text: str, mode: int = 0o640, group: str | None = "dovecot") -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".govhost-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.chown(tmp, 0, grp.getgrnam(group).gr_gid if group else 0)
    os.replace(tmp, path)


# ---- postfix maps ------------------------------------------------------------------------------


def check_maps(module, state: dict, replies: dict) -> None:
    """Every value becomes a token of a map line: anything but a plain name or address is refused."""
    if not isinstance(state, dict) or not all(
        isinstance(state.get(k), list) for k in ("domains", "mailboxes", "aliases")
    ):
        module.fail_json(msg="maps needs the lists domains, mailboxes and aliases")
    for d in state["domains"]:
        if not (isinstance(d, dict) and DOMAIN_RE.match(str(d.get("name", ""))) and d.get("state") in STATES):
            module.fail_json(msg="invalid domain entry in maps")
    for m in state["mailboxes"]:
        if not (
            isinstance(m, dict)
            and ADDRESS_RE.match(str(m.get("address", "")))
            and m.get("state") in STATES
            and m.get("on_suspend", "defer") in replies
        ):
            module.fail_json(msg="invalid mailbox entry in maps")
    for a in state["aliases"]:
        dests = a.get("destinations") if isinstance(a, dict) else None
        if not (
            isinstance(dests, list)
            and dests
            and ADDRESS_RE.match(str(a.get("source", "")))
            and all(ADDRESS_RE.match(str(x)) for x in dests)
        ):
            module.fail_json(msg="invalid alias entry in maps")
    if not all(REPLY_RE.match(str(v)) for v in replies.values()):
        module.fail_json(msg="invalid suspended_reply")


def map_texts(state: dict, replies: dict) -> dict[str, str]:
    boxes = [m for m in state["mailboxes"] if m["state"] != "absent"]
    lines = {
        "domains": [f"{d['name']} OK" for d in state["domains"] if d["state"] != "absent"],
        "mailboxes": [f"{m['address']} OK" for m in boxes],
        "aliases": [f"{a['source']} {','.join(a['destinations'])}" for a in state["aliases"]],
        "senders": [f"{m['address']} {m['address']}" for m in boxes if m["state"] == "active"],
        "recipient_access": [
            f"{m['address']} {replies[m.get('on_suspend', 'defer')]}" for m in boxes if m["state"] == "suspended"
        ],
    }
    return {name: "\n".join([MAP_HEADER, *lines[name]]) + "\n" for name in MAPS}


def read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def apply_maps(module, map_dir: str, texts: dict[str, str]) -> list[str]:
    """Write the tables whose text changed (or whose .db is missing) and postmap just those, at once."""
    os.makedirs(map_dir, mode=0o755, exist_ok=True)
    stale = []
    for name, text in texts.items():
        path = os.path.join(map_dir, name)
        if read(path) != text:
            write(path, text, mode=0o644, group=None)
            stale.append(name)
        elif not os.path.exists(path + ".db"):
            stale.append(name)
    if stale:
        run = subprocess.run(
            ["postmap", *(f"hash:{os.path.join(map_dir, n)}" for n in stale)],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode:
            module.fail_json(msg=f"postmap failed: {run.stderr.strip()[-500:]}")
    return stale


# ---- dovecot users -----------------------------------------------------------------------------


def imported_hashes(module, path: str | None, users: list[dict]) -> dict[str, str]:
    """The batch's hashes from a users-file fragment another host exported (a moved domain): only
    for the batch's addresses, each checked like a given hash."""
    if not path:
        return {}
    with open(path) as fh:
        lines = parse(fh.read())
    wanted = {u.get("address") for u in users}
    return {addr: fields[0] for addr, fields in lines.items() if addr in wanted}


def export_users(module, p: dict) -> dict:
    """A move's first step on the old host: the domain's lines of the users file, to a 0600 file the
    controller fetches (its content never passes through the job's events)."""
    domain = p["export_domain"]
    if not DOMAIN_RE.match(domain) or not p["export_path"]:
        module.fail_json(msg="export_domain must be a domain name and export_path a path")
    current = {}
    if os.path.exists(p["path"]):
        with open(p["path"]) as fh:
            current = parse(fh.read())
    mine = {a: f for a, f in current.items() if a.endswith("@" + domain)}
    write(p["export_path"], render(mine), mode=0o600, group=None)
    return {"changed": True, "exported": len(mine)}


def apply_users(module, p: dict) -> dict:
    hashes = {str(k): str(v) for k, v in (p["hashes"] or {}).items()}
    hashes = {**imported_hashes(module, p["hashes_file"], p["users"]), **hashes}
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
    return {
        "changed": changed or bool(archived) or bool(pruned),
        "users": len(wanted),
        "archived": archived,
        "pruned": pruned,
    }


def decoded(module, value, kind: type, name: str):
    """A list/dict, or the same as one JSON document (how mailbox_batch.yml passes big batches)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            module.fail_json(msg=f"{name} is not valid JSON")
    if value is not None and not isinstance(value, kind):
        module.fail_json(msg=f"{name} must be a {kind.__name__}")
    if kind is list and value is not None and not all(isinstance(v, dict) for v in value):
        module.fail_json(msg=f"every entry of {name} must be a dict")
    return value


def summary(p: dict) -> dict:
    """The module's arguments as its result shows them: sizes instead of the batch and the state."""
    out = {k: v for k, v in p.items() if k not in ("users", "maps", "hashes") and v is not None}
    if p["users"] is not None:
        out["users"] = f"{len(p['users'])} entries"
    if p["maps"] is not None:
        out["maps"] = {k: f"{len(v)} entries" for k, v in p["maps"].items() if isinstance(v, list)}
    out["hashes"] = f"{len(p['hashes'] or {})} (not shown)"
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "str", "default": "/etc/dovecot/govhost/users"},
            "users": {"type": "raw"},
            "hashes": {"type": "dict", "default": {}, "no_log": True},
            "vmail_dir": {"type": "str", "default": "/var/vmail"},
            "archive_dir": {"type": "str", "default": "/var/vmail-archive"},
            "archive_days": {"type": "int", "default": 30},
            "maps": {"type": "raw"},
            "map_dir": {"type": "str", "default": "/etc/postfix/govhost"},
            "suspended_reply": {"type": "dict"},
            "hashes_file": {"type": "str"},
            "export_domain": {"type": "str"},
            "export_path": {"type": "str"},
        },
        supports_check_mode=False,
    )
    p = module.params
    if p["export_domain"] is not None:
        module.exit_json(**export_users(module, p))
    p["users"], p["maps"] = decoded(module, p["users"], list, "users"), decoded(module, p["maps"], dict, "maps")
    replies = {**SUSPENDED_REPLY, **(p["suspended_reply"] or {})}
    if p["maps"] is not None:
        check_maps(module, p["maps"], replies)  # before anything is written: all or nothing
    # Not the arguments echoed back (AnsibleModule's default): the batch and the whole state are
    # the biggest part of a run's output (350 KB of 1,000 mailboxes, MBs for a large host),
    # carried through Ansible's events to the panel, which keeps none of it.
    out = {"changed": False, "maps_changed": [], "invocation": {"module_args": summary(p)}}
    if p["users"] is not None:
        out.update(apply_users(module, p))
    if p["maps"] is not None:
        out["maps_changed"] = apply_maps(module, p["map_dir"], map_texts(p["maps"], replies))
        out["changed"] = out["changed"] or bool(out["maps_changed"])
    module.exit_json(**out)


if __name__ == "__main__":
    main()
