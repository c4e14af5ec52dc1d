#!/usr/bin/python3
"""govhost (cms): the hardening check of the WordPress sites on this host, run as root.

GOVHOST_WP_CHECK is a JSON list of {fqdn, user, url}. For each site, each item of the checklist
(docs/cms.md) is looked at as a visitor would meet it (HTTP to 127.0.0.1 with the site's name as
TLS server name and Host header) or on disk (the config's owner, mode and defines, read here and
never printed). Prints one JSON line: {fqdn: {item: {"ok": bool, "detail": str}}}.
"""

import http.client
import json
import os
import pwd
import re
import socket
import ssl

CONFIG = "/etc/wordpress/config-{user}.php"
MU_PLUGIN = "/srv/www/{fqdn}/public/wp-content/mu-plugins/govhost-hardening.php"
DEFINES = ("DISALLOW_FILE_EDIT", "DISALLOW_FILE_MODS")


class Conn(http.client.HTTPSConnection):
    def __init__(self, fqdn: str) -> None:
        # a local look at the site's answers; its certificate is checked by its renewals
        super().__init__(fqdn, 443, timeout=20, context=ssl._create_unverified_context())  # noqa: S323
        self.fqdn = fqdn

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.fqdn)


def get(site: dict, path: str) -> tuple[int, dict, str]:
    if site["url"].startswith("https://"):
        conn = Conn(site["fqdn"])
    else:
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=20)
    try:
        conn.request("GET", path, headers={"Host": site["fqdn"], "User-Agent": "govhost-hardening-check"})
        answer = conn.getresponse()
        body = answer.read(2 * 1024 * 1024).decode("utf-8", "replace")
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body
    finally:
        conn.close()


def item(ok: bool, detail: str = "") -> dict:
    return {"ok": bool(ok), "detail": "" if ok else detail}


def config_items(site: dict) -> dict:
    path = CONFIG.format(user=site["user"])
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        missing = item(False, f"{path}: {e.strerror}")
        return {"config_permissions": missing, "file_editing_off": missing}
    try:
        uid = pwd.getpwnam(site["user"]).pw_uid
    except KeyError:
        uid = -1
    mode = st.st_mode & 0o777
    perms = item(mode == 0o400 and st.st_uid == uid, f"{path} is mode {mode:04o}, owner uid {st.st_uid}")
    off = [d for d in DEFINES if not re.search(rf"define\(\s*'{d}'\s*,\s*true\s*\)\s*;", text)]
    return {"config_permissions": perms, "file_editing_off": item(not off, "not set: " + ", ".join(off))}


def http_items(site: dict) -> dict:
    out = {}
    status, _, _ = get(site, "/xmlrpc.php")
    out["xmlrpc_off"] = item(status == 403, f"/xmlrpc.php answers {status}")
    status, _, _ = get(site, "/wp-content/uploads/govhost-check.php")
    out["no_php_in_uploads"] = item(status == 403, f"PHP under uploads answers {status}, not 403")
    status, headers, _ = get(site, "/?author=1")
    leaked = status in (301, 302) and "/author/" in headers.get("location", "")
    users, _, body = get(site, "/wp-json/wp/v2/users")
    listed = users == 200 and body.lstrip().startswith("[")
    why = ("?author=1 redirects to the author's page" if leaked else "") or "/wp-json/wp/v2/users lists users"
    out["user_enumeration_blocked"] = item(not leaked and not listed, why)
    status, _, body = get(site, "/")
    generator = re.search(r'<meta name="generator" content="WordPress', body) is not None
    plugin = os.path.exists(MU_PLUGIN.format(fqdn=site["fqdn"]))
    readme, _, _ = get(site, "/readme.html")
    bad = [w for w, b in (("generator tag", generator), ("hardening plugin missing", not plugin)) if b]
    bad += [f"/readme.html answers {readme}"] if readme != 403 else []
    out["version_hidden"] = item(not bad, ", ".join(bad))
    return out


def check(site: dict) -> dict:
    out = config_items(site)
    try:
        out.update(http_items(site))
    except (OSError, http.client.HTTPException) as e:
        for name in ("xmlrpc_off", "no_php_in_uploads", "user_enumeration_blocked", "version_hidden"):
            out[name] = item(False, f"no answer: {e}")
    return out


print(json.dumps({s["fqdn"]: check(s) for s in json.loads(os.environ["GOVHOST_WP_CHECK"])}))
