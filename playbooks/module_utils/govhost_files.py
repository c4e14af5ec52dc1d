"""Files with snapshots: every write, link or removal is remembered so a failed config test can put
all of them back (the previous vhosts keep serving), plus small process helpers."""

from __future__ import annotations

import os
import subprocess


class Journal:
    """Remembers what each touched path was, so a failed config test can restore all of them."""

    def __init__(self):
        self.before: dict[str, tuple] = {}
        self.changed = False

    def _remember(self, path):
        if path in self.before:
            return
        if os.path.islink(path):
            self.before[path] = ("link", os.readlink(path))
        elif os.path.isfile(path):
            with open(path, "rb") as fh:
                st = os.stat(path)
                self.before[path] = ("file", fh.read(), st.st_mode & 0o7777)
        else:
            self.before[path] = ("none",)

    def write(self, path, content, mode=0o644):
        data = content.encode() if isinstance(content, str) else content
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as fh:
                if fh.read() == data and (os.stat(path).st_mode & 0o7777) == mode:
                    return False
        self._remember(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.govhost-tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        self.changed = True
        return True

    def link(self, path, target):
        if os.path.islink(path) and os.readlink(path) == target:
            return False
        self._remember(path)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
        self.changed = True
        return True

    def remove(self, path):
        if not os.path.lexists(path):
            return False
        self._remember(path)
        os.unlink(path)
        self.changed = True
        return True

    def rollback(self):
        for path, state in self.before.items():
            if os.path.lexists(path):
                os.unlink(path)
            if state[0] == "link":
                os.symlink(state[1], path)
            elif state[0] == "file":
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, state[2])
                with os.fdopen(fd, "wb") as fh:
                    fh.write(state[1])


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def daemon_pid(pidfile):
    try:
        with open(pidfile) as fh:
            pid = int(fh.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None
