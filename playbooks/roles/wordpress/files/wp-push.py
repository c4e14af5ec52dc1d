#!/usr/bin/python3
"""govhost (cms): push a WordPress staging copy to its live site on this host, run as root.

1. the live site must answer (HTTP 200 and the health marker: wp-probe.py) or nothing changes;
2. snapshot of the live site: its whole wp-content (files.tar) and its database (db.sql, dumped as
   the live site's user with its own credentials: wp-db.php), root's only (0700 folder);
3. the staging copy's wp-content (not its must-use plugins, govhost's) copied over the live one as
   the live site's user, its database dumped as the staging user and restored as the live one, then
   the live site's own users tables put back (users.sql: the copy's login never goes live, the live
   users keep their passwords; posts by the copy's administrator become the live administrator's
   `owner`), the URLs put back to the live name and the live site's blog_public kept (wp-stage.php);
4. PHP's code cache given its revalidate time, the live site probed again;
5. a failing probe (or a failed step 3) restores the snapshot (files and database), waits and
   probes again.
Input from the environment (GOVHOST_PUSH: JSON {staging, live: {fqdn, user, url, owner}}, GOVHOST_LIB,
GOVHOST_SNAP, GOVHOST_MARKER, GOVHOST_WAIT); prints one JSON line
{status: pushed|rolled_back|failed, detail, answered}. No secret is read or printed here.
"""

import json
import os
import re
import shutil
import subprocess
import time

FQDN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
USER_RE = re.compile(r"^site[0-9]{1,9}$")
URL_RE = re.compile(r"^https?://(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
TIMEOUT_S = 600

push = json.loads(os.environ["GOVHOST_PUSH"])
lib, snap, marker = os.environ["GOVHOST_LIB"], os.environ["GOVHOST_SNAP"], os.environ["GOVHOST_MARKER"]
wait_s = int(os.environ.get("GOVHOST_WAIT", "3"))
staging, live = push["staging"], push["live"]
www = os.environ.get("GOVHOST_WWW", "/srv/www")


class Failed(Exception):
    pass


def checked(site: dict) -> dict:
    if not (
        FQDN_RE.match(str(site.get("fqdn", "")))
        and USER_RE.match(str(site.get("user", "")))
        and URL_RE.match(str(site.get("url", "")))
    ):
        raise SystemExit(json.dumps({"status": "failed", "detail": "refused site entry", "answered": False}))
    return site


def content(site: dict) -> str:
    return os.path.join(www, site["fqdn"], "public", "wp-content")


def run(argv: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    if "stdout" in kw:  # a dump written to a file: only its errors are read here
        kw["stderr"] = subprocess.PIPE
    else:
        kw["capture_output"] = True
    done = subprocess.run(argv, text=True, timeout=TIMEOUT_S, check=False, **kw)
    if done.returncode != 0:
        said = (done.stderr or done.stdout or "").strip()[-300:]
        raise Failed(f"{what}: {said or 'exit ' + str(done.returncode)}")
    return done


def as_user(site: dict, script: list[str], what: str, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    full = {"PATH": PATH, "GOVHOST_WP_CONFIG": site["user"], **(env or {})}
    return run(["runuser", "-u", site["user"], "--", *script], what, env=full, **kw)


def probe() -> dict:
    env = {"PATH": PATH, "GOVHOST_WP_URL": live["url"], "GOVHOST_WP_HOST": live["fqdn"], "GOVHOST_WP_MARKER": marker}
    done = subprocess.run(
        ["python3", os.path.join(lib, "wp-probe.py")], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "detail": (done.stderr or "no answer from the probe").strip()[-200:]}


def last_json(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}


def database(src: dict, dest: dict, what: str) -> None:
    """src's database into dest's, each side as its own user with its own credentials."""
    db = os.path.join(lib, "wp-db.php")
    dump = subprocess.Popen(
        ["runuser", "-u", src["user"], "--", "php", db, "dump"],
        env={"PATH": PATH, "GOVHOST_WP_CONFIG": src["user"]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        as_user(dest, ["php", db, "restore"], what, stdin=dump.stdout)
    finally:
        dump.stdout.close()
        rc = dump.wait(timeout=TIMEOUT_S)
    if rc != 0:
        raise Failed(f"{what}: the dump failed: {dump.stderr.read().decode('utf-8', 'replace').strip()[-300:]}")


def restore_files(files: str) -> None:
    """The live wp-content exactly as the snapshot holds it (what the push added goes)."""
    target = content(live)
    for name in os.listdir(target):
        path = os.path.join(target, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    run(["tar", "-C", target, "--same-owner", "-xpf", files], "restoring the files")


def main() -> dict:
    checked(staging)
    checked(live)
    owner = str(live.get("owner") or "")
    if owner and not re.match(r"^[a-z][a-z0-9._-]{2,59}$", owner):
        return {"status": "failed", "detail": "refused owner", "answered": False}
    if staging["user"] == live["user"]:
        return {"status": "failed", "detail": "the staging copy is the live site", "answered": False}
    before = probe()
    if not before.get("ok"):
        return {
            "status": "failed",
            "detail": f"the live site did not answer well before the push ({before.get('detail')}): nothing changed",
            "answered": False,
        }
    # 2. snapshot
    shutil.rmtree(snap, ignore_errors=True)
    os.makedirs(snap, mode=0o700)
    files, dump = os.path.join(snap, "files.tar"), os.path.join(snap, "db.sql")
    users = os.path.join(snap, "users.sql")
    try:
        run(["tar", "-C", content(live), "-cf", files, "."], "the snapshot of the files")
        with open(dump, "wb") as out:
            os.chmod(dump, 0o600)
            as_user(live, ["php", os.path.join(lib, "wp-db.php"), "dump"], "the snapshot of the database", stdout=out)
        with open(users, "wb") as out:
            os.chmod(users, 0o600)
            as_user(live, ["php", os.path.join(lib, "wp-db.php"), "dump-users"], "the live users", stdout=out)
        public = last_json(
            as_user(
                live,
                ["php", os.path.join(lib, "wp-stage.php"), "info"],
                "reading the live site",
                {"GOVHOST_WP_HOST": live["fqdn"], "GOVHOST_WP_URL": live["url"]},
            ).stdout
        ).get("public", "1")
    except (Failed, OSError, subprocess.TimeoutExpired) as e:
        return {"status": "failed", "detail": f"the snapshot failed, nothing changed: {e}", "answered": True}
    # 3. the push; 4. the probe
    why = ""
    try:
        u = live["user"]
        run(
            [
                "rsync",
                "-a",
                "--delete",
                "--exclude=/mu-plugins/",
                f"--chown={u}:{u}",
                content(staging) + "/",
                content(live) + "/",
            ],
            "copying the files",
        )
        database(staging, live, "copying the database")
        with open(users, "rb") as src:
            as_user(live, ["php", os.path.join(lib, "wp-db.php"), "restore-users"], "keeping the live users", stdin=src)
        said = last_json(
            as_user(
                live,
                ["php", os.path.join(lib, "wp-stage.php"), "rewrite"],
                "rewriting the URLs",
                {
                    "GOVHOST_WP_HOST": live["fqdn"],
                    "GOVHOST_WP_URL": live["url"],
                    "GOVHOST_WP_FROM_URL": staging["url"],
                    "GOVHOST_WP_PUBLIC": public if public in ("0", "1") else "1",
                    "GOVHOST_WP_OWNER": owner,
                },
            ).stdout
        )
        if "version" not in said:
            raise Failed(f"rewriting the URLs: {said.get('error') or 'no answer'}")
        time.sleep(wait_s)
        after = probe()
        if after.get("ok"):
            return {"status": "pushed", "detail": "", "answered": True, "version": said["version"]}
        why = f"the live site did not answer well after the push ({after.get('detail')})"
    except (Failed, OSError, subprocess.TimeoutExpired) as e:
        why = f"the push failed ({e})"
    # 5. rollback
    try:
        restore_files(files)
        with open(dump, "rb") as src:
            as_user(live, ["php", os.path.join(lib, "wp-db.php"), "restore"], "restoring the database", stdin=src)
    except (Failed, OSError, subprocess.TimeoutExpired) as e:
        return {
            "status": "failed",
            "detail": f"{why}; the rollback failed ({e}): the snapshot is in {snap}",
            "answered": False,
        }
    time.sleep(wait_s)
    again = probe()
    return {
        "status": "rolled_back",
        "detail": f"{why}; rolled back to the snapshot"
        + ("" if again.get("ok") else f", but the site does not answer well ({again.get('detail')})"),
        "answered": bool(again.get("ok")),
    }


print(json.dumps(main()))
