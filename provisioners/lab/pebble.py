"""Pebble (Let's Encrypt's test ACME server, Debian package `pebble`) as the demo's certificate
authority: one daemon in the root namespace, listening on the lab gateway address only, resolving
names at the lab's own BIND, so nothing it does leaves the machine.

Pebble makes a new root CA at every start, so the roots it has had are kept, in order, in
`<dir>/roots.pem`: a client trusting that file accepts certificates issued before a restart too.
Idempotent: a Pebble already answering on the port (started here earlier) is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .common import GATEWAY, LabError, check_ip
from .net import port_open


@dataclass(frozen=True)
class Pebble:
    directory: str  # ACME directory URL
    tls_cert: Path  # Pebble's own listener certificate (self-signed): the ACME client's CA bundle
    roots: Path  # every root CA Pebble has issued under, PEM: what users trust for the sites
    pid: int | None
    started: bool  # False when an already running Pebble was kept


def _tls_pair(d: Path) -> tuple[Path, Path]:
    crt, key = d / "tls.crt", d / "tls.key"
    if crt.exists() and key.exists():
        return crt, key
    # A self-signed certificate for the gateway address, kept: ACME clients are told to trust it.
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=govhost demo ACME (Pebble)",
            "-addext",
            f"subjectAltName=IP:{GATEWAY}",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
    )
    os.chmod(key, 0o600)
    return crt, key


def _pid(d: Path) -> int | None:
    """The Pebble started from d, if it still runs (a reused PID of another program is not it)."""
    try:
        pid = int((d / "pebble.pid").read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if argv and argv[0].endswith(b"pebble") and str(d).encode() in b" ".join(argv) else None


def _fetch_root(mgmt_port: int, tls_cert: Path, timeout: float = 10.0) -> bytes:
    ctx = ssl.create_default_context(cafile=str(tls_cert))
    url = f"https://{GATEWAY}:{mgmt_port}/roots/0"  # the lab gateway: this machine's own lab0 address
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, context=ctx, timeout=5).read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _keep_root(roots: Path, pem: bytes) -> None:
    text = roots.read_text() if roots.exists() else ""
    block = pem.decode().strip() + "\n"
    if block not in text:
        roots.write_text(block + text)  # the current root first: browsers import the first one


def pebble_up(state_dir: str | os.PathLike[str], *, port: int, mgmt_port: int, dns_server: str) -> Pebble:
    """Start Pebble (or keep the one already running from state_dir) on GATEWAY:port, validating
    HTTP-01 on port 80 of names it resolves at dns_server (a lab host running BIND)."""
    check_ip(dns_server)
    if not shutil.which("pebble"):
        raise LabError("pebble is not installed (apt-get install pebble)")
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    crt, key = _tls_pair(d)
    directory = f"https://{GATEWAY}:{port}/dir"
    pid = _pid(d)
    started = False
    if pid is None or not port_open(GATEWAY, port, 0.5):
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
        if port_open(GATEWAY, port, 0.5):
            raise LabError(f"{GATEWAY}:{port} is in use by another program, not this Pebble")
        config = {
            "pebble": {
                "listenAddress": f"{GATEWAY}:{port}",
                "managementListenAddress": f"{GATEWAY}:{mgmt_port}",
                "certificate": str(crt),
                "privateKey": str(key),
                "httpPort": 80,
                "tlsPort": 443,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (d / "pebble.json").write_text(json.dumps(config, indent=2))
        # No sleep before validation, no random nonce rejection: a demo should not look flaky.
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        with open(d / "pebble.log", "ab") as log:
            proc = subprocess.Popen(
                ["pebble", "-config", str(d / "pebble.json"), "-dnsserver", f"{dns_server}:53"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # outlives the command that started it, like the lab hosts
                cwd=d,
            )
        (d / "pebble.pid").write_text(f"{proc.pid}\n")
        pid, started = proc.pid, True
        deadline = time.monotonic() + 15
        while not port_open(GATEWAY, port, 0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"pebble did not start; see {d / 'pebble.log'}")
            time.sleep(0.1)
    _keep_root(d / "roots.pem", _fetch_root(mgmt_port, crt))
    return Pebble(directory=directory, tls_cert=crt, roots=d / "roots.pem", pid=pid, started=started)


def pebble_down(state_dir: str | os.PathLike[str]) -> bool:
    """Stop the Pebble started from state_dir; False when none was running."""
    pid = _pid(Path(state_dir))
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    return True
