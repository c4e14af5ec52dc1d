#!/usr/bin/python3
"""govhost (cms): put back the hardening of WordPress sites' configs, run as root (cms.hardening_repair).

Input from the environment: GOVHOST_WP_REPAIR, JSON [{fqdn, user}, ...]. For each site its config
/etc/wordpress/config-<user>.php gets DISALLOW_FILE_EDIT and DISALLOW_FILE_MODS defined true again
(a define set otherwise is rewritten, a missing one added before $table_prefix), owner the site's
user and mode 0400; written whole then renamed, only when something differs. The config's secrets
are read and written back here, never printed. Prints one JSON line: fqdn -> {changed: [...]} or
{error}.
"""

import json
import os
import pwd
import re
import tempfile

FQDN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
USER_RE = re.compile(r"^site[0-9]{1,9}$")
CONFIG = "/etc/wordpress/config-{user}.php"
DEFINES = ("DISALLOW_FILE_EDIT", "DISALLOW_FILE_MODS")
SET_RE = re.compile(r"^[ \t]*define\(\s*'(" + "|".join(DEFINES) + r")'\s*,[^;\n]*;[^\n]*$", re.MULTILINE)


def fixed(text: str) -> tuple[str, list[str]]:
    changed = []

    def one(m: re.Match) -> str:
        want = f"define('{m.group(1)}', true);"
        if m.group(0).strip() != want:
            changed.append(m.group(1))
        return want

    text = SET_RE.sub(one, text)
    missing = [d for d in DEFINES if not re.search(rf"^define\('{d}', true\);$", text, re.MULTILINE)]
    if missing:
        lines = "".join(f"define('{d}', true);\n" for d in missing)
        at = text.find("\n$table_prefix")
        text = text[: at + 1] + lines + text[at + 1 :] if at >= 0 else text.rstrip("\n") + "\n" + lines
        changed += missing
    return text, changed


def repair(site: dict) -> dict:
    if not FQDN_RE.match(str(site.get("fqdn", ""))) or not USER_RE.match(str(site.get("user", ""))):
        return {"error": "refused site entry"}
    pw = pwd.getpwnam(site["user"])
    path = CONFIG.format(user=site["user"])
    with open(path, encoding="utf-8") as f:
        before = f.read()
    text, changed = fixed(before)
    st = os.stat(path)
    if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (pw.pw_uid, pw.pw_gid, 0o400):
        changed.append(f"owner and mode (were uid {st.st_uid}, {st.st_mode & 0o7777:04o})")
    if not changed:
        return {"changed": []}
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".govhost-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
        os.chmod(tmp, 0o400)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {"changed": changed}


def main() -> None:
    out = {}
    for site in json.loads(os.environ["GOVHOST_WP_REPAIR"]):
        try:
            out[str(site.get("fqdn"))] = repair(site)
        except (OSError, KeyError, ValueError) as e:
            out[str(site.get("fqdn"))] = {"error": f"{type(e).__name__}: {getattr(e, 'strerror', None) or e}"[:300]}
    print(json.dumps(out))


main()
