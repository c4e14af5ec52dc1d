"""A real SIEM receiver for the feed's tests and benchmark: rsyslogd (Debian's rsyslog with
rsyslog-gnutls) listening on loopback with RFC 5425 syslog over TLS, requiring a client certificate
signed by its CA, writing each received message's MSGID, structured data and MSG to a file.
Also a certificate authority made with `cryptography` for it and for the HTTPS receiver."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
GTLS = Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so")


def available() -> str:
    """'' when rsyslogd with its TLS driver is installed, else what is missing."""
    if not os.path.exists(RSYSLOGD):
        return "rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)"
    if not GTLS.exists() and not list(Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so")):
        return "rsyslog-gnutls is not installed"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: verification against it must fail


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _ca(cn: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(ca_key, ca_cert, cn: str, usage):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_pki(d: Path) -> Pki:
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("govhost test SIEM CA")
    _, other = _ca("some other CA")
    s_key, s_cert = _leaf(ca_key, ca_cert, "localhost", ExtendedKeyUsageOID.SERVER_AUTH)
    c_key, c_cert = _leaf(ca_key, ca_cert, "govhost-panel", ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (d / "other-ca.pem").write_bytes(other.public_bytes(pem))
    (d / "server.pem").write_bytes(s_cert.public_bytes(pem))
    (d / "client.pem").write_bytes(c_cert.public_bytes(pem))
    _write_key(s_key, d / "server.key")
    _write_key(c_key, d / "client.key")
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key", d / "other-ca.pem")


CONF = """
global(
  workDirectory="{work}"
  maxMessageSize="256k"
  DefaultNetstreamDriver="gtls"
  DefaultNetstreamDriverCAFile="{ca}"
  DefaultNetstreamDriverCertFile="{cert}"
  DefaultNetstreamDriverKeyFile="{key}"
)
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")
input(type="imtcp" port="{port}" address="127.0.0.1")
template(name="govhostSoc" type="list") {{
  property(name="timegenerated" dateFormat="rfc3339") constant(value="\\t")
  property(name="msgid") constant(value="\\t")
  property(name="app-name") constant(value="\\t")
  property(name="structured-data") constant(value="\\t")
  property(name="msg") constant(value="\\n")
}}
action(type="omfile" file="{out}" template="govhostSoc" flushOnTXEnd="on" asyncWriting="off")
"""


@dataclass
class Received:
    received_at: float  # when rsyslog received it (epoch seconds, its own clock = ours)
    msgid: str
    app: str
    sd: str
    event: dict


class Rsyslog:
    """rsyslogd in the foreground on 127.0.0.1:<port>; stop() and start() again keep the port."""

    def __init__(self, d: Path, pki: Pki) -> None:
        self.dir, self.pki, self.port = d, pki, free_port()
        self.out = d / "received.log"
        self.proc: subprocess.Popen | None = None
        (d / "work").mkdir(parents=True, exist_ok=True)
        self.conf = d / "rsyslog.conf"
        self.conf.write_text(
            CONF.format(
                work=d / "work", ca=pki.ca, cert=pki.server_cert, key=pki.server_key, port=self.port, out=self.out
            )
        )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.dir / "rsyslogd.err", "ab") as err:  # the process keeps its own copy
            self.proc = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(self.conf), "-i", str(self.dir / "rsyslogd.pid")],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        # 60 s: a gate run at load 19 saw rsyslogd (TLS set-up included) take more than 10 s.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.dir / "rsyslogd.err").read_text()[-2000:]) from None
                time.sleep(0.05)
        self.stop()  # not left running (its Popen warned in a later test when collected)
        raise RuntimeError("rsyslogd did not listen within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def received(self) -> list[Received]:
        if not self.out.exists():
            return []
        out = []
        for line in self.out.read_text(encoding="utf-8").splitlines():
            at, msgid, app, sd, msg = line.split("\t", 4)
            when = dt.datetime.fromisoformat(at).timestamp()
            out.append(Received(when, msgid, app, sd, json.loads(msg.lstrip("\ufeff").lstrip())))
        return out

    def wait_for(self, seq: int, timeout: float = 20.0) -> list[Received]:
        """Everything received, once an event with sequence >= seq has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if got and max(r.event["event"]["sequence"] for r in got) >= seq:
                return got
            time.sleep(0.05)
        raise AssertionError(f"event {seq} did not arrive within {timeout} s; got {len(self.received())}")
