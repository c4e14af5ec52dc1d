#!/usr/bin/python3
"""govhost_wordpress: the WordPress sites of one install job in ONE call (govhost cms).

Per site: its wp-content (owned by the site's user), the default theme linked read-only from
Debian's package, its config `/etc/wordpress/config-<user>.php` (owner the site's user, 0400,
written whole then renamed), the non-interactive install as the site's user (govhost's
wp-install.php, input from the environment only), and its WP-cron line in /etc/cron.d. A site with
`clone_from` (a staging copy) gets the live site's wp-content and database instead of an install. The
installs talk to the database host, so up to `parallel` of them run at once.

One task per site and step costs Ansible about 0.2 s each (six steps: over a second a site); here
twenty sites are one module call, bounded by WordPress's own install. Secrets (DB password,
admin password, salts) arrive in `secrets` (no_log) and go only into the config file and the
install's environment; results say only version, installed and an error text.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: govhost_wordpress
short_description: WordPress files, config, install and WP-cron of a batch of sites (govhost)
options:
  sites: {type: list, elements: dict, required: true, description: "id, fqdn, user, url, db_name, db_user, title, ..."}
  secrets: {type: raw, required: true, no_log: true, description: "id -> db_password, db_host, admin_password, salts"}
  code_dir: {type: str, default: /usr/share/wordpress}
  config_dir: {type: str, default: /etc/wordpress}
  lib_dir: {type: str, default: /usr/local/lib/govhost/wordpress}
  www_root: {type: str, default: /srv/www}
  default_theme: {type: str, default: twentytwentythree}
  cron_minutes: {type: int, default: 5}
  parallel: {type: int, default: 4}
  catalogue_dir: {type: str, default: /var/lib/govhost/wordpress/catalogue}
"""

# The panel validates every value; the host checks again so nothing odd becomes a path, PHP or a line.
FQDN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
USER_RE = re.compile(r"^site[0-9]{1,9}$")
DB_NAME_RE = re.compile(r"^[a-z0-9_]{1,64}$")
URL_RE = re.compile(r"^https?://(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9]{16,128}$")
HOST_RE = re.compile(r"^[A-Za-z0-9.:-]{1,253}$")
SALT_KEY_RE = re.compile(r"^[A-Z_]{3,20}$")
LANG_RE = re.compile(r"^([a-z]{2,3}(_[A-Z]{2})?)?$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
THEME_RE = re.compile(r"^[a-z0-9-]{1,64}$")
CONTENT_DIRS = ("", "themes", "plugins", "uploads", "languages", "upgrade")
INSTALL_TIMEOUT_S = 300

CONFIG = """<?php
// Managed by govhost (cms): WordPress of {fqdn}, read by Debian's wp-config.php.
// Readable only by the site's user {user}. Every value is validated or generated
// by the panel (names: a-z 0-9 _ . -; passwords and salts: letters and digits).
define('DB_NAME', '{db_name}');
define('DB_USER', '{db_user}');
define('DB_PASSWORD', '{db_password}');
define('DB_HOST', '{db_host}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_HOME', '{url}');
define('WP_SITEURL', '{url}');
define('WP_CONTENT_DIR', '{content}');
{salts}// Hardening (docs/cms.md): no code edited or installed from the dashboard, updates by the data
// center, cron by the system's timer, the admin over HTTPS.
define('DISALLOW_FILE_EDIT', true);
define('DISALLOW_FILE_MODS', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_AUTO_UPDATE_CORE', false);
define('DISABLE_WP_CRON', true);
// No calls out of the data center (wordpress.org's news, events and update checks): the dashboard
// waited on them for its first page. The site itself and localhost stay reachable.
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('FORCE_SSL_ADMIN', {force_ssl});
$table_prefix = 'wp_';
"""

CRON = """# Managed by govhost (cms): WP-cron of {fqdn}, as its user.
GOVHOST_WP_CONFIG={user}
GOVHOST_WP_HOST={fqdn}
*/{minutes} * * * * {user} php {script} >/dev/null 2>&1
"""


class Refused(Exception):
    pass


def check(site: dict, secret: dict) -> None:
    if not FQDN_RE.match(str(site.get("fqdn", ""))) or not USER_RE.match(str(site.get("user", ""))):
        raise Refused("refused site entry (name or user)")
    src = site.get("clone_from")
    if src is not None and not (
        isinstance(src, dict)
        and FQDN_RE.match(str(src.get("fqdn", "")))
        and USER_RE.match(str(src.get("user", "")))
        and URL_RE.match(str(src.get("url", "")))
        and src["user"] != site["user"]
    ):
        raise Refused("refused clone_from")
    for key in ("db_name", "db_user"):
        if not DB_NAME_RE.match(str(site.get(key, ""))):
            raise Refused(f"refused {key}")
    if not URL_RE.match(str(site.get("url", ""))) or not LANG_RE.match(str(site.get("language") or "")):
        raise Refused("refused url or language")
    pack = site.get("language_pack")
    if pack is not None and not (
        isinstance(pack, dict) and pack.get("slug") == site.get("language") and SHA256_RE.match(str(pack.get("sha256")))
    ):
        raise Refused("refused language_pack")
    if site.get("language") and pack is None and src is None:
        raise Refused(f"no language pack for {site['language']}: nothing is fetched from wordpress.org")
    keys = ("db_password", "admin_password")  # a copy: its own administrator's (its copied users are locked out)
    if not all(SECRET_RE.match(str(secret.get(k, ""))) for k in keys):
        raise Refused("refused secrets (letters and digits expected)")
    if not HOST_RE.match(str(secret.get("db_host", ""))):
        raise Refused("refused database host")
    salts = json.loads(secret.get("salts") or "{}")
    if len(salts) != 8 or not all(SALT_KEY_RE.match(k) and SECRET_RE.match(str(v)) for k, v in salts.items()):
        raise Refused("refused salts")


def write(path: str, text: str, uid: int, gid: int, mode: int) -> bool:
    """Write whole then rename; owner and mode set before the rename. True when it changed."""
    try:
        with open(path, encoding="utf-8") as f:
            same = f.read() == text
        st = os.stat(path)
        if same and (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, mode):
            return False
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".govhost-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def files(p: dict, site: dict, secret: dict) -> bool:
    """wp-content, the theme link, the config, the cron line: True when anything changed."""
    pw = pwd.getpwnam(site["user"])
    uid, gid = pw.pw_uid, pw.pw_gid
    content = os.path.join(p["www_root"], site["fqdn"], "public", "wp-content")
    changed = False
    for sub in CONTENT_DIRS:
        path = os.path.join(content, sub) if sub else content
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o755, exist_ok=True)
            changed = True
        st = os.lstat(path)
        if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (uid, gid, 0o755):
            os.chown(path, uid, gid)
            os.chmod(path, 0o755)  # noqa: S103 - wp-content is served by nginx: world-readable dirs
            changed = True
    theme = p["default_theme"]
    src = os.path.join(p["code_dir"], "wp-content", "themes", theme)
    link = os.path.join(content, "themes", theme)
    if not (os.path.islink(link) and os.readlink(link) == src):
        if os.path.lexists(link):
            raise Refused(f"{link} exists and is not govhost's link to Debian's theme")
        os.symlink(src, link)
        changed = True
    salts = json.loads(secret["salts"])
    config = CONFIG.format(
        fqdn=site["fqdn"],
        user=site["user"],
        db_name=site["db_name"],
        db_user=site["db_user"],
        db_password=secret["db_password"],
        db_host=secret["db_host"],
        url=site["url"],
        content=content,
        salts="".join(f"define('{k}', '{v}');\n" for k, v in sorted(salts.items())),
        force_ssl="true" if site["url"].startswith("https://") else "false",
    )
    changed |= write(os.path.join(p["config_dir"], f"config-{site['user']}.php"), config, uid, gid, 0o400)
    cron = CRON.format(
        fqdn=site["fqdn"],
        user=site["user"],
        minutes=int(p["cron_minutes"]),
        script=os.path.join(p["lib_dir"], "wp-cron.php"),
    )
    changed |= write(f"/etc/cron.d/govhost-wp-{site['user']}", cron, 0, 0, 0o644)
    return changed


def unpack_language(p: dict, site: dict) -> str:
    """The site's language pack (the catalogue's zip, copied by the role) into its
    wp-content/languages as its user, sha256 checked again; "" or the error."""
    pack = site["language_pack"]
    env = {
        "GOVHOST_KIND": "language",
        "GOVHOST_ZIP": os.path.join(p["catalogue_dir"], f"{pack['sha256']}.zip"),
        "GOVHOST_SHA256": pack["sha256"],
        "GOVHOST_SLUG": pack["slug"],
        "GOVHOST_DEST": os.path.join(p["www_root"], site["fqdn"], "public", "wp-content", "languages"),
    }
    run = as_user(
        site["user"], ["python3", os.path.join(p["lib_dir"], "wp-unpack.py")], env, capture_output=True, text=True
    )
    if run.returncode == 0:
        return ""
    why = last_json(run.stdout).get("error") or run.stderr.strip()[-300:] or "no message"
    return f"{site['fqdn']}: the language pack {pack['slug']} could not be unpacked: {why}"[:500]


def install(p: dict, site: dict, secret: dict) -> dict:
    """The install as the site's user; its last JSON line: {installed, version} or {error}."""
    if site.get("language_pack"):
        why = unpack_language(p, site)
        if why:
            return {"error": why}
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "GOVHOST_WP_CONFIG": site["user"],
        "GOVHOST_WP_HOST": site["fqdn"],
        "GOVHOST_WP_URL": site["url"],
        "GOVHOST_WP_TITLE": str(site.get("title", "")),
        "GOVHOST_WP_ADMIN": str(site.get("admin_user", "")),
        "GOVHOST_WP_EMAIL": str(site.get("admin_email", "")),
        "GOVHOST_WP_LANGUAGE": str(site.get("language") or ""),
        "GOVHOST_WP_PASSWORD": secret["admin_password"],
    }
    argv = ["runuser", "-u", site["user"], "--", "php", os.path.join(p["lib_dir"], "wp-install.php")]
    try:
        run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{site['fqdn']}: the install did not finish within {INSTALL_TIMEOUT_S} s"}
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    try:
        said = json.loads(lines[-1]) if lines else {}
    except ValueError:
        said = {}
    if "version" not in said:
        why = said.get("error") or "no answer from the install (is the database reachable?)"
        return {"error": f"{site['fqdn']}: {why}"[:500]}
    return {"version": str(said["version"]), "installed": bool(said.get("installed"))}


STAGING_PLUGIN = """<?php
// Managed by govhost (cms): a staging copy. Only users who log in see it (its pages send visitors
// to the login form, its REST API answers 401), and search engines are told not to index it.
add_action('send_headers', function () {
    header('X-Robots-Tag: noindex, nofollow', true);
});
add_action('template_redirect', function () {
    if (!is_user_logged_in()) {
        auth_redirect();
    }
}, 0);
add_filter('rest_authentication_errors', function ($result) {
    if (!empty($result) || is_user_logged_in()) {
        return $result;
    }
    return new WP_Error('govhost_staging', 'This staging copy needs a login.', ['status' => 401]);
});
"""


def as_user(user: str, script: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "GOVHOST_WP_CONFIG": user}
    argv = ["runuser", "-u", user, "--", *script]
    return subprocess.run(argv, env={**base, **env}, timeout=INSTALL_TIMEOUT_S, check=False, **kw)


def last_json(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}


def clone(p: dict, site: dict, secret: dict) -> dict:
    """A staging copy: the live site's wp-content (not its must-use plugins, govhost's) and database
    copied in, as each site's own user; the URLs rewritten, not indexed, behind WordPress's login;
    every copied user locked out and the copy's own administrator made with the panel's password."""
    src = site["clone_from"]
    user = site["user"]
    content = os.path.join(p["www_root"], site["fqdn"], "public", "wp-content")
    live = os.path.join(p["www_root"], src["fqdn"], "public", "wp-content")
    copy = subprocess.run(
        ["rsync", "-a", "--delete", "--exclude=/mu-plugins/", f"--chown={user}:{user}", live + "/", content + "/"],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if copy.returncode != 0:
        return {"error": f"{site['fqdn']}: copying {src['fqdn']}'s files failed: {copy.stderr.strip()[-300:]}"}
    mu = os.path.join(content, "mu-plugins")
    os.makedirs(mu, mode=0o755, exist_ok=True)
    os.chown(mu, 0, 0)
    write(os.path.join(mu, "govhost-staging.php"), STAGING_PLUGIN, 0, 0, 0o644)
    db_script = os.path.join(p["lib_dir"], "wp-db.php")
    dump = subprocess.Popen(
        ["runuser", "-u", src["user"], "--", "php", db_script, "dump"],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "GOVHOST_WP_CONFIG": src["user"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    restore = as_user(user, ["php", db_script, "restore"], {}, stdin=dump.stdout, capture_output=True, text=True)
    dump.stdout.close()
    dumped = dump.wait(timeout=INSTALL_TIMEOUT_S)
    if dumped != 0 or restore.returncode != 0:
        why = (dump.stderr.read().decode("utf-8", "replace") + restore.stderr).strip()[-300:]
        return {"error": f"{site['fqdn']}: copying {src['fqdn']}'s database failed: {why or 'no message'}"}
    env = {
        "GOVHOST_WP_HOST": site["fqdn"],
        "GOVHOST_WP_URL": site["url"],
        "GOVHOST_WP_FROM_URL": src["url"],
        "GOVHOST_WP_PUBLIC": "0",
    }
    said = last_json(
        as_user(
            user, ["php", os.path.join(p["lib_dir"], "wp-stage.php"), "rewrite"], env, capture_output=True, text=True
        ).stdout
    )
    if "version" not in said:
        return {"error": f"{site['fqdn']}: {said.get('error') or 'the copy could not be made its own'}"[:500]}
    login = {
        "GOVHOST_WP_HOST": site["fqdn"],
        "GOVHOST_WP_URL": site["url"],
        "GOVHOST_WP_ADMIN": str(site.get("admin_user", "")),
        "GOVHOST_WP_EMAIL": str(site.get("admin_email", "")),
        "GOVHOST_WP_PASSWORD": secret["admin_password"],
    }
    stage = os.path.join(p["lib_dir"], "wp-stage.php")
    locked = last_json(as_user(user, ["php", stage, "login"], login, capture_output=True, text=True).stdout)
    if "version" not in locked:
        return {"error": f"{site['fqdn']}: {locked.get('error') or 'the staging login could not be made'}"[:500]}
    return {"version": str(said["version"]), "installed": True}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "sites": {"type": "list", "elements": "dict", "required": True},
            "secrets": {"type": "raw", "required": True, "no_log": True},
            "code_dir": {"type": "str", "default": "/usr/share/wordpress"},
            "config_dir": {"type": "str", "default": "/etc/wordpress"},
            "lib_dir": {"type": "str", "default": "/usr/local/lib/govhost/wordpress"},
            "www_root": {"type": "str", "default": "/srv/www"},
            "default_theme": {"type": "str", "default": "twentytwentythree"},
            "cron_minutes": {"type": "int", "default": 5},
            "parallel": {"type": "int", "default": 4},
            "catalogue_dir": {"type": "str", "default": "/var/lib/govhost/wordpress/catalogue"},
        }
    )
    p = module.params
    if not THEME_RE.match(p["default_theme"]) or not 1 <= p["cron_minutes"] <= 59:
        module.fail_json(msg="refused default_theme or cron_minutes")
    secrets = p["secrets"] if isinstance(p["secrets"], dict) else json.loads(p["secrets"])
    results: dict[str, dict] = {}
    changed = False
    todo = []
    for site in p["sites"]:
        key = str(site.get("id"))
        secret = secrets.get(key) or {}
        try:
            check(site, secret)
            changed |= files(p, site, secret)
            todo.append((key, site, secret))
        except (Refused, KeyError, OSError, ValueError) as e:
            results[key] = {"error": f"{site.get('fqdn')}: {e}"[:500]}
    with ThreadPoolExecutor(max_workers=max(1, min(p["parallel"], 8))) as pool:
        made = pool.map(lambda t: clone(p, t[1], t[2]) if t[1].get("clone_from") else install(p, t[1], t[2]), todo)
        for key, said in zip([t[0] for t in todo], made, strict=True):
            results[key] = said
            changed |= bool(said.get("installed"))
    failed = sorted(k for k, r in results.items() if r.get("error"))
    module.exit_json(changed=changed, sites=results, failed_ids=failed)


if __name__ == "__main__":
    main()
