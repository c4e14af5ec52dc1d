#!/usr/bin/python3
"""govhost_sites: apply one step of many sites' desired state on a web host in ONE module call.

A naive role loops one module call per site per step (about 0.2 s each, LAB.md section 5); here a
step (users, pools, vhosts, acme, usage) handles every site of the batch in one process, with one
`nginx -t` / `php-fpm -t` and one reload at the end. Files the controller rendered arrive as
content; each write is snapshotted, and a failing config test puts every snapshot back before the
module fails with the daemon's own message, so the previous configuration keeps serving.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import resource
import shutil
import signal
import stat
import subprocess
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.govhost_accounts import users_add, users_remove
from ansible.module_utils.govhost_acme import issue_all
from ansible.module_utils.govhost_files import Journal, daemon_pid, run

DOCUMENTATION = r"""
module: govhost_sites
short_description: Batched site provisioning steps for govhost (create, users, pools, vhosts, acme, usage)
options:
  step: {type: str, required: true, choices: [create, users, sftp, pools, vhosts, acme, usage]}
  sites: {type: list, elements: dict, required: true}
  acme_sites: {type: list, elements: dict, default: []}
  tls_keys: {type: dict, default: {}, no_log: true}
  www_root: {type: str, default: /srv/www}
  archive_dir: {type: str, default: /var/lib/govhost/archive}
  archive_days: {type: int, default: 30}
  acme: {type: dict, default: {}}
  pages: {type: dict, default: {}}
  tls_dir: {type: str, default: /etc/govhost/tls}
  acme_dir: {type: str, default: /etc/govhost/acme}
  acme_webroot: {type: str, default: /var/lib/govhost/acme-webroot}
  pages_dir: {type: str, default: /var/lib/govhost/pages}
"""

# The panel validates names; the host checks again so nothing odd ever becomes a path or argv.
FQDN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
USER_RE = re.compile(r"^site[0-9]{1,9}$")
PHP_RE = re.compile(r"^[0-9]\.[0-9]{1,2}$")
NGINX_AVAILABLE = "/etc/nginx/sites-available"
NGINX_ENABLED = "/etc/nginx/sites-enabled"
NGINX_SUSPENDED = "/etc/nginx/govhost-suspended"
# Defaults of the path options; the roles pass their own variables (nginx_vhost_tls_dir, ...), which
# their templates use too, so a changed variable moves the files and the config that names them.
TLS_DIR = "/etc/govhost/tls"
ACME_DIR = "/etc/govhost/acme"
ACME_WEBROOT = "/var/lib/govhost/acme-webroot"
PAGES_DIR = "/var/lib/govhost/pages"
KEYS_DIR = "/etc/ssh/govhost_keys"
NGINX_ERROR_LOG = "/var/log/nginx/error.log"
NGINX_RELOAD_S = 30
SFTP_GROUP = "govhost-sftp"


class StepFailed(Exception):
    pass


def check_site(site):
    # A YAML plain scalar such as 8.2 may arrive as a float; the panel always means text.
    site["php_version"] = str(site.get("php_version") or "")
    if not FQDN_RE.match(site.get("fqdn", "")) or not USER_RE.match(site.get("user", "")):
        raise StepFailed(f"refused site entry: fqdn {site.get('fqdn')!r}, user {site.get('user')!r}")
    if site.get("state") not in ("active", "suspended", "absent"):
        raise StepFailed(f"{site['fqdn']}: unknown state {site.get('state')!r}")
    if site["php_version"] and not PHP_RE.match(site["php_version"]):
        raise StepFailed(f"{site['fqdn']}: bad PHP version {site['php_version']!r}")


# ---- step: users, directories, SFTP keys, archive on delete -----------------------------------


def ensure_dir(path, uid, gid, mode):
    os.makedirs(path, exist_ok=True)
    st = os.lstat(path)
    if (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, mode):
        return False
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return True


def www_data_gid():
    return pwd.getpwnam("www-data").pw_gid


def site_logs(logs, uid, gid):
    """Logs the site user can read but not replace: nginx's root master opens access/error.log and
    would follow a link planted there (over SFTP) to any file on the host. PHP's log is written by
    the pool's own user, so that one file is theirs; links left from before are removed."""
    changed = ensure_dir(logs, 0, gid, 0o750)
    for name in os.listdir(logs):
        path = os.path.join(logs, name)
        mode = os.lstat(path).st_mode
        if stat.S_ISDIR(mode):
            shutil.rmtree(path)
            changed = True
        elif not stat.S_ISREG(mode):
            os.unlink(path)
            changed = True
    php_log = os.path.join(logs, "php-error.log")
    fd = os.open(php_log, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o640)
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (uid, gid, 0o640):
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o640)
            changed = True
    finally:
        os.close(fd)
    return changed


def site_present(site, www_root, journal, created):
    home = os.path.join(www_root, site["fqdn"])
    pw = pwd.getpwnam(site["user"])
    uid, gid = pw.pw_uid, pw.pw_gid
    # The chroot (home) must be root-owned and not writable by others; the site's files live below.
    changed = ensure_dir(home, 0, 0, 0o755)
    changed |= ensure_dir(os.path.join(home, "public"), uid, www_data_gid(), 0o2750)
    changed |= site_logs(os.path.join(home, "logs"), uid, gid)
    changed |= ensure_dir(os.path.join(home, "tmp"), uid, gid, 0o700)
    public = os.path.join(home, "public")
    if created and site.get("index_page") and not os.listdir(public):
        index = os.path.join(public, "index.html")
        with open(index, "w", encoding="utf-8") as fh:
            fh.write(site["index_page"])
        os.chown(index, uid, www_data_gid())
        os.chmod(index, 0o644)
    keys = "".join(k.strip() + "\n" for k in site.get("sftp_keys") or [])
    changed |= journal.write(os.path.join(KEYS_DIR, site["user"]), keys, 0o644)
    return changed


def site_archive(site, www_root, archive_dir, journal):
    home = os.path.join(www_root, site["fqdn"])
    archive = ""
    if os.path.isdir(home):
        os.makedirs(archive_dir, mode=0o700, exist_ok=True)
        archive = os.path.join(archive_dir, f"{site['fqdn']}-{time.strftime('%Y%m%dT%H%M%S')}.tar.gz")
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(home, arcname=site["fqdn"])
        os.chmod(archive, 0o600)
        shutil.rmtree(home)
    journal.remove(os.path.join(KEYS_DIR, site["user"]))
    return archive


def prune_archives(archive_dir, days):
    cutoff = time.time() - days * 86400
    removed = []
    for path in glob.glob(os.path.join(archive_dir, "*.tar.gz")):
        if os.stat(path).st_mtime < cutoff:
            os.unlink(path)
            removed.append(os.path.basename(path))
    return removed


def step_users(p, journal):
    if run(["getent", "group", SFTP_GROUP]).returncode != 0:
        res = run(["groupadd", "--system", SFTP_GROUP])
        if res.returncode != 0:
            raise StepFailed(f"groupadd {SFTP_GROUP}: {res.stderr.strip()}")
    os.makedirs(p["www_root"], mode=0o755, exist_ok=True)
    os.makedirs(KEYS_DIR, mode=0o755, exist_ok=True)
    present = [s for s in p["sites"] if s["state"] != "absent"]
    absent = [s for s in p["sites"] if s["state"] == "absent"]
    out = {"archives": {s["fqdn"]: site_archive(s, p["www_root"], p["archive_dir"], journal) for s in absent}}
    removed = users_remove({s["user"] for s in absent}, SFTP_GROUP)
    created = set(users_add({s["user"]: os.path.join(p["www_root"], s["fqdn"]) for s in present}, SFTP_GROUP))
    for site in present:
        site_present(site, p["www_root"], journal, site["user"] in created)
    journal.changed |= bool(absent or created or removed)
    out.update(created=sorted(created), removed=removed, pruned=prune_archives(p["archive_dir"], p["archive_days"]))
    return out


def step_sftp(p, journal):
    """The sshd drop-in that chroots site users; sshd -t on the whole config, then SIGHUP."""
    path = "/etc/ssh/sshd_config.d/govhost-sftp.conf"
    if not journal.write(path, p["pages"]["sshd"]):
        return {}
    res = run(["/usr/sbin/sshd", "-t"])
    if res.returncode != 0:
        raise StepFailed(f"sshd -t failed: {(res.stderr or res.stdout).strip()}")
    pid = daemon_pid("/run/sshd.pid")
    if pid:
        os.kill(pid, signal.SIGHUP)
    return {}


# ---- step: php-fpm pools ----------------------------------------------------------------------


def fpm_pidfile(version):
    return f"/run/php/php{version}-fpm.pid"


def fpm_apply(version):
    res = run([f"/usr/sbin/php-fpm{version}", "-t"])
    if res.returncode != 0:
        raise StepFailed(f"php-fpm{version} -t failed: {(res.stderr or res.stdout).strip()}")
    pid = daemon_pid(fpm_pidfile(version))
    if pid:
        os.kill(pid, signal.SIGUSR2)  # graceful reload: pools are re-read, running requests finish
    else:
        os.makedirs("/run/php", exist_ok=True)
        res = run(
            [f"/usr/sbin/php-fpm{version}", "--daemonize", "--fpm-config", f"/etc/php/{version}/fpm/php-fpm.conf"]
        )
        if res.returncode != 0:
            raise StepFailed(f"php-fpm{version} did not start: {(res.stderr or res.stdout).strip()}")


def step_pools(p, journal):
    touched = set()
    for site in p["sites"]:
        want = site.get("php_version") or ""
        for path in glob.glob(f"/etc/php/*/fpm/pool.d/{site['fqdn']}.conf*"):
            version = path.split("/")[3]
            keep = site["state"] != "absent" and version == want
            if not keep and journal.remove(path):
                touched.add(version)
        if site["state"] == "absent":
            continue
        pool_dir = f"/etc/php/{want}/fpm/pool.d"
        if not os.path.isdir(pool_dir):
            raise StepFailed(f"{site['fqdn']}: PHP {want} is not installed on this host")
        conf = os.path.join(pool_dir, f"{site['fqdn']}.conf")
        if site["state"] == "active":
            changed = journal.write(conf, site["pool"]) | journal.remove(conf + ".suspended")
        else:  # suspended: the pool stops; its file is kept aside to come back unchanged
            changed = journal.write(conf + ".suspended", site["pool"]) | journal.remove(conf)
        if changed:
            touched.add(want)
    for version in sorted(touched):
        fpm_apply(version)
    return {"reloaded": sorted(touched)}


# ---- step: nginx vhosts (+ TLS files), one nginx -t, one reload -------------------------------


def tls_files(p, site, keys, journal):
    target = os.path.join(p["tls_dir"], site["fqdn"])
    os.makedirs(target, mode=0o700, exist_ok=True)
    if site.get("tls") == "acme":
        live = os.path.join(p["acme_dir"], "live", site["fqdn"])
        moved_here = os.path.isfile(os.path.join(target, "privkey.pem"))
        if not os.path.exists(os.path.join(live, "fullchain.pem")) and moved_here:
            return  # moved here with its files (site_move.yml); the acme step issues its own on this host next
        with open(os.path.join(live, "fullchain.pem"), "rb") as fh:
            chain = fh.read()
        with open(os.path.join(live, "privkey.pem"), "rb") as fh:
            key = fh.read()
    elif site["fqdn"] in keys:
        chain, key = site["tls_chain_pem"].encode(), keys[site["fqdn"]].encode()
    else:  # custom certificate already installed, nothing new uploaded
        return
    journal.write(os.path.join(target, "fullchain.pem"), chain, 0o644)
    journal.write(os.path.join(target, "privkey.pem"), key, 0o600)


def vhost_paths(fqdn):
    name = f"govhost-{fqdn}.conf"
    return (os.path.join(NGINX_AVAILABLE, name), os.path.join(NGINX_ENABLED, name), os.path.join(NGINX_SUSPENDED, name))


def nginx_files_needed():
    """Descriptors nginx's master holds while it reloads: every vhost opens its access and error log,
    and the old configuration's files stay open while the new one loads (so twice), plus sockets."""
    vhosts = len(os.listdir(NGINX_ENABLED)) if os.path.isdir(NGINX_ENABLED) else 0
    return 4 * vhosts + 1024


def nofile_at_least(need, pid=0):
    """Raise the open-files limit of PID (0: this process, whose children inherit it) to NEED.
    systemd and sshd sessions start nginx with a soft limit of 1024: near 500 sites a reload failed
    in the master ("Too many open files") while `nginx -t` and `nginx -s reload` both returned 0.
    Without CAP_SYS_RESOURCE the hard limit stays and the soft one goes as far as it allows (the
    reload check then says whether that was enough)."""
    try:
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY or soft >= need:
            return
        try:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (need, max(hard, need)))
        except PermissionError:
            if soft < hard:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (min(need, hard), hard))
    except (OSError, ValueError) as exc:
        who = f"pid {pid}" if pid else "the module"
        raise StepFailed(f"cannot raise the open-files limit of {who} to {need}: {exc}") from exc


def children_of(pid):
    kids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.add(int(entry))
    return kids


def log_since(path, offset):
    try:
        with open(path, errors="replace") as fh:
            fh.seek(offset)
            return [ln.strip() for ln in fh.read().splitlines() if "[emerg]" in ln or "[alert]" in ln]
    except OSError:
        return []


def nginx_reload(master):
    """SIGHUP only asks: the master loads the new configuration and starts new workers, or logs why
    not and keeps serving the old one while the signal's sender saw success. Success here is a new
    worker; an [emerg] in the error log or no new worker in time fails the step with nginx's words."""
    before = children_of(master)
    try:
        offset = os.path.getsize(NGINX_ERROR_LOG)
    except OSError:
        offset = 0
    os.kill(master, signal.SIGHUP)
    deadline = time.monotonic() + NGINX_RELOAD_S
    while True:
        if children_of(master) - before:
            return
        errors = log_since(NGINX_ERROR_LOG, offset)
        if errors or time.monotonic() > deadline:
            raise StepFailed(
                "nginx did not take the new configuration: "
                + ("; ".join(errors[-3:]) or f"no new worker after {NGINX_RELOAD_S} s")
            )
        time.sleep(0.05)


def nginx_apply():
    need = nginx_files_needed()
    nofile_at_least(need)  # nginx -t opens every log too, and an nginx started here inherits it
    res = run(["nginx", "-t"])
    if res.returncode != 0:
        lines = [ln for ln in res.stderr.splitlines() if "[emerg]" in ln or "failed" in ln]
        raise StepFailed("nginx -t failed: " + ("; ".join(lines) or res.stderr.strip()))
    master = daemon_pid("/run/nginx.pid")
    if not master:
        res = run(["nginx"])
        if res.returncode != 0:
            raise StepFailed(f"nginx did not start: {res.stderr.strip()}")
        return
    nofile_at_least(need, master)  # new workers fork from the master and inherit it
    nginx_reload(master)


def step_vhosts(p, journal):
    os.makedirs(NGINX_SUSPENDED, exist_ok=True)
    os.makedirs(p["acme_webroot"], mode=0o755, exist_ok=True)
    os.makedirs(p["pages_dir"], mode=0o755, exist_ok=True)
    for name, content in (p["pages"] or {}).items():
        if not re.match(r"^[a-z]{1,32}$", name):
            raise StepFailed(f"refused page name {name!r}")
        journal.write(os.path.join(p["pages_dir"], f"{name}.html"), content)
    certs = {}
    for site in p["sites"]:
        available, enabled, suspended = vhost_paths(site["fqdn"])
        if site["state"] == "absent":
            for path in (enabled, available, suspended):
                journal.remove(path)
            continue
        if site.get("tls") in ("acme", "custom"):
            tls_files(p, site, p["tls_keys"] or {}, journal)
        journal.write(available, site["vhost"])
        journal.write(suspended, site["suspended_vhost"])
        journal.link(enabled, available if site["state"] == "active" else suspended)
        chain = os.path.join(p["tls_dir"], site["fqdn"], "fullchain.pem")
        if site.get("tls") in ("acme", "custom") and os.path.isfile(chain):
            with open(chain) as fh:
                certs[site["fqdn"]] = fh.read()
    if journal.changed:
        nginx_apply()
    for site in p["sites"]:  # only once nginx no longer points at them
        if site["state"] == "absent":
            shutil.rmtree(os.path.join(p["tls_dir"], site["fqdn"]), ignore_errors=True)
            for sub in ("live", "archive"):
                shutil.rmtree(os.path.join(p["acme_dir"], sub, site["fqdn"]), ignore_errors=True)
            renewal = os.path.join(p["acme_dir"], "renewal", f"{site['fqdn']}.conf")
            if os.path.exists(renewal):
                os.unlink(renewal)
    return {"certs": certs}


# ---- step: ACME certificates (HTTP-01 through each site's own vhost; module_utils.govhost_acme) ---


def step_acme(p, journal):
    acme = p["acme"] or {}
    bundle = ""
    if acme.get("ca_bundle_pem"):
        bundle = "/etc/govhost/acme-ca.pem"
        journal.write(bundle, acme["ca_bundle_pem"], 0o644)
    wanted = [s for s in p["sites"] if s["state"] == "active" and s.get("tls") == "acme"]
    issued, errors = issue_all(
        wanted,
        directory=acme["directory"],
        email=acme.get("email") or "",
        ca_bundle=bundle,
        acme_dir=p["acme_dir"],
        webroot=p["acme_webroot"],
        force=bool(acme.get("force")),
    )
    if errors:
        raise StepFailed("ACME failed: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    return {"issued": issued}


# ---- step: disk usage ------------------------------------------------------------------------


def disk_mb(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return round(total / 1048576, 2)


def step_usage(p, journal):
    usage = {s["fqdn"]: disk_mb(os.path.join(p["www_root"], s["fqdn"])) for s in p["sites"]}
    return {"usage_mb": usage, "pruned": prune_archives(p["archive_dir"], p["archive_days"])}


def step_create(p, journal):
    """A create run in one call: users, sftp, pools and vhosts as the four roles' calls do them (each
    its own snapshots: a failing step rolls back only its own files), then the new ACME sites
    (acme_sites): certificates, and their vhosts again with TLS. A failure there leaves those sites on
    HTTP and is returned as acme_error (the panel chains a certificate job), not a failed run."""
    out = {}
    web_pages = {k: v for k, v in p["pages"].items() if k != "sshd"}  # the sshd drop-in is no web page
    steps = (
        (step_users, p),
        (step_sftp, {**p, "sites": [], "pages": {"sshd": p["pages"]["sshd"]}}),
        (step_pools, p),
        (step_vhosts, {**p, "pages": web_pages}),
    )
    for step, args in steps:
        part = Journal()
        try:
            out.update(step(args, part))
        except BaseException:
            journal.before = part.before  # main() rolls back the failing step's files
            raise
        journal.changed |= part.changed
    if not p["acme_sites"]:
        return out
    tls = {**p, "sites": p["acme_sites"], "pages": web_pages}
    part = Journal()
    try:
        step_acme(tls, part)
        out["certs"] = step_vhosts(tls, part)["certs"]
    except (StepFailed, OSError, subprocess.SubprocessError) as exc:
        part.rollback()  # the HTTP vhosts of the first pass keep serving
        out["acme_error"] = str(exc)
    journal.changed |= part.changed
    return out


STEPS = {
    "create": step_create,
    "users": step_users,
    "sftp": step_sftp,
    "pools": step_pools,
    "vhosts": step_vhosts,
    "acme": step_acme,
    "usage": step_usage,
}


def main():
    module = AnsibleModule(
        argument_spec={
            "step": {"type": "str", "required": True, "choices": sorted(STEPS)},
            "sites": {"type": "list", "elements": "dict", "required": True},
            "acme_sites": {"type": "list", "elements": "dict", "default": []},
            "tls_keys": {"type": "dict", "default": {}, "no_log": True},
            "www_root": {"type": "str", "default": "/srv/www"},
            "archive_dir": {"type": "str", "default": "/var/lib/govhost/archive"},
            "archive_days": {"type": "int", "default": 30},
            "acme": {"type": "dict", "default": {}},
            "pages": {"type": "dict", "default": {}},
            "tls_dir": {"type": "path", "default": TLS_DIR},
            "acme_dir": {"type": "path", "default": ACME_DIR},
            "acme_webroot": {"type": "path", "default": ACME_WEBROOT},
            "pages_dir": {"type": "path", "default": PAGES_DIR},
        }
    )
    p = module.params
    for key in ("tls_dir", "acme_dir", "acme_webroot", "pages_dir"):
        if not os.path.isabs(p[key]):
            module.fail_json(msg=f"{key} must be an absolute path, got {p[key]!r}")
    journal = Journal()
    try:
        for site in p["sites"] + p["acme_sites"]:
            check_site(site)
        out = STEPS[p["step"]](p, journal)
    except (StepFailed, OSError, subprocess.SubprocessError) as exc:
        journal.rollback()
        module.fail_json(msg=str(exc), rolled_back=sorted(journal.before))
    module.exit_json(changed=journal.changed, **out)


if __name__ == "__main__":
    main()
