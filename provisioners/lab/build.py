"""Build the lab rootfs once (debootstrap + customise + zstd tarball) and unpack it once.

The tarball and the unpacked base are keyed by a hash of everything that goes into them (package
list, suite, customisation files), so a changed list rebuilds and an unchanged one is reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .common import LabError, LabPaths, lab_paths, require_root, run

SUITE = "bookworm"
# LAB.md section 1 + section 8. debootstrap resolves Depends, not Recommends, so the less obvious
# ones are explicit: netbase (/etc/services for postfix), ssl-cert (snakeoil), python3-pymysql
# (community.mysql), python3-apt (apt module), acl (become_user to an unprivileged user).
PACKAGES: tuple[str, ...] = (
    "openssh-server",
    "python3",
    "sudo",
    "nginx",
    "php-fpm",
    "php-mysql",
    "postfix",
    "dovecot-imapd",
    "dovecot-lmtpd",
    "mariadb-server",
    "iproute2",
    "procps",
    "ca-certificates",
    "netbase",
    "ssl-cert",
    "python3-apt",
    "python3-pymysql",
    "acl",
    "curl",
    "iputils-ping",
    "bind9",
    "bind9-dnsutils",
    "opendkim",
    "opendkim-tools",
    "certbot",
    "rsync",
    "zstd",
    "tar",
    "cron",
    # debootstrap does not resolve virtual packages: python3-cryptography (certbot) depends on
    # python3-cffi-backend-api-min, provided only by python3-cffi-backend.
    "python3-cffi-backend",
    # Webmail (mail issue): Debian's Roundcube with its SQLite backend, served by nginx + php-fpm.
    "roundcube-core",
    "roundcube-sqlite3",
    "php-sqlite3",
    # Tenant databases (databases capability): PostgreSQL beside MariaDB, and the driver the
    # govhost_postgresql module uses on the host.
    "postgresql",
    "python3-psycopg2",
    # The CMS capability: Debian's WordPress (shared code, per-site wp-content; LAB.md section 8).
    "wordpress",
    "wordpress-theme-twentytwentythree",
    # Databases' web console without a password: phpMyAdmin (signon) and Adminer. debootstrap
    # satisfies adminer's `php-mysql | php-sqlite3 | php-pgsql` with the first, so Adminer's
    # PostgreSQL driver is named.
    "phpmyadmin",
    "adminer",
    "php-pgsql",
    # The SOC issue: fail2ban jails on managed hosts, and nftables for address blocking.
    "fail2ban",
    "nftables",
)
# Bump when the customisation logic changes in a way the file contents below do not show.
CUSTOM_VERSION = 1

# PID 1 of every host. bash as PID 1 reaps orphans (daemons re-parent to it); TERM stops all.
LAB_INIT = """#!/bin/bash
# govhost lab host init: start sshd, then reap orphans until told to stop.
stop() { kill -TERM -1 2>/dev/null; sleep .5; kill -KILL -1 2>/dev/null; exit 0; }
trap stop TERM INT
install -d -m0755 /run/sshd /run/lock
/usr/sbin/sshd -E /var/log/sshd.log
while :; do sleep 3600 & wait $!; done
"""

SSHD_CONF = """# govhost lab: key-only root login; many parallel sessions (Ansible forks, ControlPersist).
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
MaxStartups 100:30:200
MaxSessions 100
"""

BASE_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.77.0.1\tlab-gw\n"
# Hosts have no route out; a local resolver (BIND on a lab host) is the only one that can answer.
RESOLV_CONF = "nameserver 127.0.0.1\n"


def build_key() -> str:
    """Hash of all inputs of the rootfs: names the tarball and the base dir."""
    blob = json.dumps(
        {
            "suite": SUITE,
            "packages": sorted(PACKAGES),
            "v": CUSTOM_VERSION,
            "init": LAB_INIT,
            "sshd": SSHD_CONF,
            "hosts": BASE_HOSTS,
            "resolv": RESOLV_CONF,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def tarball_path(paths: LabPaths | None = None) -> Path:
    paths = paths or lab_paths()
    return paths.cache / f"rootfs-{build_key()}.tar.zst"


def base_path(paths: LabPaths | None = None) -> Path:
    paths = paths or lab_paths()
    return paths.cache / "ram" / f"base-{build_key()}"


def _ensure_ram(paths: LabPaths) -> None:
    """The unpacked base lives on a tmpfs of the lab's own: unpacking 700 MiB of small files took
    15.6 s on this disk and 1.5 s in memory (the cold start's whole cost). Without the right to
    mount one, the folder is an ordinary directory on disk and only slower."""
    ram = paths.cache / "ram"
    if os.path.ismount(ram):
        return
    ram.mkdir(parents=True, exist_ok=True, mode=0o755)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "mode=0755,size=4g", "govhost-lab", str(ram)], check=False, capture_output=True
    )


def debian_mirror(sources: Path = Path("/etc/apt/sources.list.d/debian.sources")) -> str:
    """The machine's configured Debian mirror (deb822 stanza carrying the suite), else the
    one-line sources.list; the lab never picks a mirror of its own."""
    if sources.exists():
        for stanza in sources.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
            if "deb" in fields.get("types", []) and SUITE in fields.get("suites", []) and fields.get("uris"):
                return fields["uris"][0]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and SUITE in parts[2:]:
                uri = next(p for p in parts[1:] if not p.startswith("["))
                return uri
    raise LabError(f"no Debian mirror for {SUITE} in {sources} or {legacy}")


@contextmanager
def _locked(paths: LabPaths) -> Iterator[None]:
    """Serialise builds/unpacks across processes (several engineers share one cache)."""
    paths.cache.mkdir(parents=True, exist_ok=True)
    with open(paths.cache / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def ensure_key(paths: LabPaths | None = None) -> Path:
    """The lab's ed25519 key pair (created once, 0600)."""
    paths = paths or lab_paths()
    if not paths.key.exists():
        paths.cache.mkdir(parents=True, exist_ok=True)
        tmp = paths.key.with_name(paths.key.name + ".new")
        for f in (tmp, Path(f"{tmp}.pub")):
            f.unlink(missing_ok=True)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "govhost-lab", "-f", str(tmp))
        Path(f"{tmp}.pub").replace(f"{paths.key}.pub")
        tmp.replace(paths.key)
    return paths.key


def _customise(root: Path, pubkey: str) -> None:
    ssh = root / "root/.ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(pubkey)
    (ssh / "authorized_keys").chmod(0o600)
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssh/sshd_config.d/lab.conf").write_text(SSHD_CONF)
    (root / "etc/hosts").write_text(BASE_HOSTS)
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text(RESOLV_CONF)
    (root / "etc/hostname").unlink(missing_ok=True)  # hostname is set per host at start
    init = root / "sbin/lab-init"
    init.write_text(LAB_INIT)
    init.chmod(0o755)
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*", "var/cache/apt/*.bin"):
        for f in root.glob(pattern):
            f.unlink()


def build(paths: LabPaths | None = None, force: bool = False, log=print) -> Path:
    """Make sure the rootfs tarball exists; build it (about 100 s) only when missing or forced."""
    require_root()
    paths = paths or lab_paths()
    tarball = tarball_path(paths)
    with _locked(paths):
        if tarball.exists() and not force:
            return tarball
        key = ensure_key(paths)
        work = paths.cache / f"build-{build_key()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        rootfs = work / "rootfs"
        mirror = debian_mirror()
        started = time.monotonic()
        log(f"debootstrap {SUITE} from {mirror} ({len(PACKAGES)} packages) ...")
        with open(work / "debootstrap.log", "w") as out:
            proc = _popen_logged(
                ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE, str(rootfs), mirror], out
            )
        if proc != 0:
            raise LabError(f"debootstrap failed ({proc}); see {work / 'debootstrap.log'}")
        _customise(rootfs, Path(f"{key}.pub").read_text())
        log(f"debootstrap done in {time.monotonic() - started:.1f} s; packing ...")
        tmp = tarball.with_name(tarball.name + ".tmp")
        run(
            "tar",
            "--numeric-owner",
            "--xattrs",
            "--acls",
            "-C",
            str(rootfs),
            "-I",
            "zstd -T0 -3",
            "-cf",
            str(tmp),
            ".",
            timeout=900,
        )
        tmp.replace(tarball)
        shutil.rmtree(work, ignore_errors=True)
        log(f"built {tarball} in {time.monotonic() - started:.1f} s")
        return tarball


def _popen_logged(argv: list[str], out) -> int:
    return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False).returncode


def ensure_base(paths: LabPaths | None = None, log=print) -> Path:
    """The unpacked base rootfs (the shared overlay lower dir); builds/unpacks when missing."""
    paths = paths or lab_paths()
    base = base_path(paths)
    if not base.exists():
        tarball = build(paths, log=log)
        with _locked(paths):
            _ensure_ram(paths)
            if not base.exists():
                for old in base.parent.glob("base-*"):  # an older package list's base: memory back
                    if old != base and not _in_use(old):
                        shutil.rmtree(old, ignore_errors=True)
                tmp = base.with_name(base.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                run(
                    "tar",
                    "--numeric-owner",
                    "--xattrs",
                    "--acls",
                    "-C",
                    str(tmp),
                    "-I",
                    "zstd -T0",
                    "-xf",
                    str(tarball),
                    timeout=900,
                )
                tmp.rename(base)
    _sync_authorized_key(base, ensure_key(paths))
    return base


def _in_use(base: Path) -> bool:
    """True while a running host's overlay has this base as its lower dir."""
    try:
        return f"lowerdir={base}" in Path("/proc/mounts").read_text()
    except OSError:
        return True


def _sync_authorized_key(base: Path, key: Path) -> None:
    """A tarball built elsewhere (or before the key was regenerated) gets the current key."""
    want = Path(f"{key}.pub").read_text()
    ak = base / "root/.ssh/authorized_keys"
    if not ak.exists() or ak.read_text() != want:
        ak.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        ak.write_text(want)
        ak.chmod(0o600)


def remove_base(paths: LabPaths | None = None) -> None:
    """Drop the unpacked base (the benchmark's cold start; the next `up` unpacks again)."""
    shutil.rmtree(base_path(paths or lab_paths()), ignore_errors=True)
