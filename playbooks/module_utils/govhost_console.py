"""Web console sessions on a DB host (govhost_mariadb, govhost_postgresql): the short-lived login's
checks and password, and its single-use ticket file.

The ticket the browser carries is never sent here: the panel sends its SHA-256, which names the
file. The file holds the login and its password (made on this host, never sent back), belongs to
the web server's user (the sign-on page reads and deletes it) and is 0600 in a 0700 folder. The
password exists only in that file and in the server's catalog as a verifier.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import secrets

LOGIN_RE = re.compile(r"^govhost_console_[0-9]{1,12}$")  # rules.console_login: outside every ministry prefix
TICKET_RE = re.compile(r"^[0-9a-f]{64}$")


def check_console(console: dict, name_re, profiles) -> None:
    for c in console.get("open") or []:
        if not LOGIN_RE.match(str(c.get("login", ""))) or not TICKET_RE.match(str(c.get("ticket", ""))):
            raise ValueError(f"bad console entry {str(c.get('login'))[:40]!r}")
        if not name_re.match(str(c.get("user", ""))) or not isinstance(c.get("expires"), int):
            raise ValueError(f"bad console entry {c['login']!r}")
        if c.get("database") and not name_re.match(str(c["database"])):
            raise ValueError(f"bad console database {str(c['database'])[:70]!r}")
        for db, profile in (c.get("grants") or {}).items():
            if not name_re.match(db) or profile not in profiles:
                raise ValueError(f"bad console grant {db!r}: {profile!r}")
        if not isinstance(c.get("conn_limit", 1), int):
            raise ValueError("conn_limit must be a number")
    for c in console.get("close") or []:
        if not LOGIN_RE.match(str(c.get("login", ""))) or not TICKET_RE.match(str(c.get("ticket", ""))):
            raise ValueError(f"bad console entry {str(c.get('login'))[:40]!r}")
        if c.get("user") and not name_re.match(str(c["user"])):
            raise ValueError(f"bad console entry {c['login']!r}")


def new_password() -> str:
    return secrets.token_urlsafe(24)


def write_ticket(ticket_dir: str, entry: dict, engine: str, password: str, owner: str = "www-data") -> None:
    """The ticket file, created exclusively (a second open of the same ticket fails) and given to
    the web server's user, 0600."""
    web = pwd.getpwnam(owner)
    os.makedirs(ticket_dir, mode=0o700, exist_ok=True)
    os.chown(ticket_dir, web.pw_uid, web.pw_gid)
    os.chmod(ticket_dir, 0o700)
    path = os.path.join(ticket_dir, entry["ticket"])
    body = {
        "engine": engine,
        "user": entry["login"],
        "password": password,
        "database": entry.get("database") or "",
        "expires": entry["expires"],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchown(fd, web.pw_uid, web.pw_gid)
        os.write(fd, json.dumps(body).encode())
    finally:
        os.close(fd)


def remove_ticket(ticket_dir: str, ticket: str) -> bool:
    """The ticket file and any claim of it the sign-on page left behind; True when one existed."""
    found = False
    for path in [os.path.join(ticket_dir, ticket), *glob.glob(os.path.join(ticket_dir, ticket + ".claimed.*"))]:
        try:
            os.unlink(path)
            found = True
        except FileNotFoundError:
            pass
    return found
