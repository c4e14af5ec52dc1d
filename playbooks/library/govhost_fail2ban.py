#!/usr/bin/python3
"""govhost_fail2ban: read fail2ban's bans and govhost's nftables block sets, or block/unblock addresses.

`bans` returns every jail's banned addresses (`fail2ban-client status <jail>`) and the addresses in
the `inet govhost` table's sets; with `watch`, site access logs made since the WordPress jail started
join it. `block` adds (or removes) addresses in those sets with `nft`, argv only; it refuses
loopback, unspecified and multicast addresses and the address this Ansible connection comes from
(the panel would lock itself out); with `state_file` it saves the sets there for after a reboot.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: govhost_fail2ban
short_description: fail2ban bans and govhost's nftables address blocks
options:
  action: {type: str, required: true, choices: [bans, block]}
  addresses: {type: list, elements: str, default: []}
  state: {type: str, choices: [present, absent], default: present}
  seconds: {type: int, default: 0}
  watch: {type: str, default: ""}
  state_file: {type: str, default: ""}
"""

TABLE = ("inet", "govhost")


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def jail_bans() -> dict[str, list[str]]:
    status = _run(["fail2ban-client", "status"])
    if status.returncode != 0:
        raise RuntimeError(f"fail2ban-client status: {status.stderr.strip() or status.stdout.strip()}")
    jails = []
    for line in status.stdout.splitlines():
        if "Jail list:" in line:
            jails = [j.strip() for j in line.split(":", 1)[1].split(",") if j.strip()]
    out = {}
    for jail in jails:
        detail = _run(["fail2ban-client", "status", jail])
        banned = []
        for line in detail.stdout.splitlines():
            if "Banned IP list:" in line:
                banned = line.split(":", 1)[1].split()
        out[jail] = sorted(banned)
    return out


WORDPRESS_JAIL = "govhost-wordpress"


def watch_new_logs(pattern: str, jails: dict) -> list[str]:
    """Site access logs matching `pattern` that the WordPress jail does not read yet (a site made
    after the jail started: fail2ban expands a log glob only at start) join it, read from their end."""
    if not pattern or WORDPRESS_JAIL not in jails:
        return []
    current = _run(["fail2ban-client", "get", WORDPRESS_JAIL, "logpath"])
    if current.returncode != 0:
        return []
    watched = {line.lstrip("|`- ").strip() for line in current.stdout.splitlines()}
    added = []
    for path in sorted(glob.glob(pattern)):
        if path not in watched:
            proc = _run(["fail2ban-client", "set", WORDPRESS_JAIL, "addlogpath", path, "tail"])
            if proc.returncode != 0:
                raise RuntimeError(f"fail2ban-client addlogpath {path}: {proc.stderr.strip() or proc.stdout.strip()}")
            added.append(path)
    return added


def _element(e) -> str | None:
    if isinstance(e, str):
        return e
    if isinstance(e, dict):
        if "elem" in e:
            return _element(e["elem"].get("val"))
        if "prefix" in e:
            return f"{e['prefix']['addr']}/{e['prefix']['len']}"
        if "range" in e:
            return "-".join(str(x) for x in e["range"])
    return None


def save(path: str) -> None:
    """Write the sets' elements with their end (a Unix time; 0 = no timeout) to `path`, atomically:
    the role's restore script (run by fail2ban's start) puts them back after a reboot."""
    now, state = int(time.time()), {}
    for name in ("blocked4", "blocked6"):
        proc = _run(["nft", "-j", "list", "set", *TABLE, name])
        if proc.returncode != 0:
            raise RuntimeError(f"nft: {proc.stderr.strip()}")
        state[name] = {}
        for item in json.loads(proc.stdout).get("nftables", []):
            for e in (item.get("set") or {}).get("elem", []):
                value = _element(e)
                expires = e["elem"].get("expires") if isinstance(e, dict) and "elem" in e else None
                if value:
                    state[name][value] = now + int(expires) if expires else 0
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".blocked-")
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def blocked() -> list[str]:
    out = []
    for name in ("blocked4", "blocked6"):
        proc = _run(["nft", "-j", "list", "set", *TABLE, name])
        if proc.returncode != 0:
            continue  # the table is not there yet: nothing blocked
        for item in json.loads(proc.stdout).get("nftables", []):
            for e in (item.get("set") or {}).get("elem", []):
                value = _element(e)
                if value:
                    out.append(value)
    return sorted(out)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    net = ipaddress.ip_network(text.strip(), strict=True)
    if net.is_loopback or net.is_unspecified or net.is_multicast:
        raise ValueError(f"{text}: loopback, unspecified and multicast addresses are never blocked")
    controller = (os.environ.get("SSH_CLIENT") or "").split(" ")[0]
    if controller:
        try:
            if ipaddress.ip_address(controller) in net:
                raise ValueError(f"{text} holds the panel's own address: it would lock the panel out")
        except ValueError as e:
            if "panel" in str(e):
                raise
    return net


def block(addresses: list[str], state: str, seconds: int) -> bool:
    changed = False
    present = set(blocked())
    for text in addresses:
        net = _network(text)
        value = str(net.network_address) if net.num_addresses == 1 else str(net)
        name = "blocked4" if net.version == 4 else "blocked6"
        if state == "present":
            spec = f"{{ {value} timeout {seconds}s }}" if seconds > 0 else f"{{ {value} }}"
            proc = _run(["nft", "add", "element", *TABLE, name, spec])
        elif value in present:
            proc = _run(["nft", "delete", "element", *TABLE, name, f"{{ {value} }}"])
        else:
            continue
        if proc.returncode != 0:
            raise RuntimeError(f"nft: {proc.stderr.strip()}")
        changed = changed or state == "absent" or value not in present
    return changed


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["bans", "block"]},
            "addresses": {"type": "list", "elements": "str", "default": []},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "seconds": {"type": "int", "default": 0},
            "watch": {"type": "str", "default": ""},
            "state_file": {"type": "str", "default": ""},
        }
    )
    p = module.params
    try:
        if p["action"] == "bans":
            jails = jail_bans()
            added = watch_new_logs(p["watch"], jails)
            module.exit_json(changed=bool(added), jails=jails, blocked=blocked(), watched=added)
        changed = block(p["addresses"], p["state"], p["seconds"])
        if p["state_file"]:
            save(p["state_file"])
        module.exit_json(changed=changed, blocked=blocked())
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        module.fail_json(msg=str(e))


if __name__ == "__main__":
    main()
