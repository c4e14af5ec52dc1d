"""Batch edits of /etc/passwd, shadow, group and gshadow for site users, under the shadow lock.

useradd/userdel cost about 0.1 s per call on these hosts and newusers hashes a password per user
(2.7 s for 50); a batch of 100 sites needs one read and one atomic write of each file instead.
The lock is the one lckpwdf(3) takes (/etc/.pwd.lock), so useradd & co. wait for us and we for them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time

LOCK = "/etc/.pwd.lock"
FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow")
FIRST_ID = 10000  # site users get ids of their own, apart from useradd's range
LAST_ID = 59999
SHELL = "/usr/sbin/nologin"


@contextlib.contextmanager
def pwd_lock(timeout: float = 15.0):
    fd = os.open(LOCK, os.O_WRONLY | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise OSError("the account files are locked by another process") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def _read(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line for line in fh.read().splitlines() if line]


def _write(path: str, lines: list[str]) -> None:
    st = os.stat(path)
    tmp = f"{path}.govhost-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, st.st_mode & 0o7777)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.replace(tmp, path)


def _free_ids(used: set[int], count: int) -> list[int]:
    out, n = [], FIRST_ID
    while len(out) < count:
        if n > LAST_ID:
            raise OSError("no free user ids left for site users")
        if n not in used:
            out.append(n)
        n += 1
    return out


def _set_members(group_lines: list[str], group: str, members: set[str], field: int) -> list[str]:
    out = []
    for line in group_lines:
        parts = line.split(":")
        if parts[0] == group:
            parts[field] = ",".join(sorted(members))
            line = ":".join(parts)
        out.append(line)
    return out


def _members(group_lines: list[str], group: str) -> set[str]:
    for line in group_lines:
        parts = line.split(":")
        if parts[0] == group:
            return {m for m in parts[3].split(",") if m}
    raise OSError(f"group {group} does not exist")


def users_add(wanted: dict[str, str], extra_group: str) -> list[str]:
    """Create each missing user (name -> home) with its own group, locked password, no shell,
    and make every site user a member of extra_group. Returns the names created."""
    with pwd_lock():
        passwd, shadow, group, gshadow = (_read(p) for p in FILES)
        names = {line.split(":")[0] for line in passwd}
        new = [n for n in sorted(wanted) if n not in names]
        members = _members(group, extra_group)
        if not new and set(wanted) <= members:
            return []
        used = {int(line.split(":")[2]) for line in passwd} | {int(line.split(":")[2]) for line in group}
        days = int(time.time() // 86400)
        for name, uid in zip(new, _free_ids(used, len(new)), strict=True):
            passwd.append(f"{name}:x:{uid}:{uid}:govhost site:{wanted[name]}:{SHELL}")
            shadow.append(f"{name}:!:{days}:0:99999:7:::")
            group.append(f"{name}:x:{uid}:")
            gshadow.append(f"{name}:!::")
        members |= set(wanted)
        group = _set_members(group, extra_group, members, 3)
        gshadow = _set_members(gshadow, extra_group, members, 3)
        for path, lines in zip(FILES, (passwd, shadow, group, gshadow), strict=True):
            _write(path, lines)
        return new


def users_remove(names: set[str], extra_group: str) -> list[str]:
    """Remove the users, their own groups, and their membership of extra_group."""
    with pwd_lock():
        passwd, shadow, group, gshadow = (_read(p) for p in FILES)
        gone = sorted({line.split(":")[0] for line in passwd} & names)
        if not gone:
            return []
        keep = lambda lines: [ln for ln in lines if ln.split(":")[0] not in names]  # noqa: E731
        members = _members(group, extra_group) - names
        group = _set_members(keep(group), extra_group, members, 3)
        gshadow = _set_members(keep(gshadow), extra_group, members, 3)
        for path, lines in zip(FILES, (keep(passwd), keep(shadow), group, gshadow), strict=True):
            _write(path, lines)
        return gone
