"""The feed's transports. Each `send(dest, events)` delivers one batch or raises `SendError`; only
the shipper calls them, never a request, and never with a database transaction open.

- syslog_tls: RFC 5424 messages over TLS (RFC 5425) with octet-counting framing ("LEN SP MSG"), CA
  verification (the system's CAs or `ca_file`), an optional client certificate. Syslog has no
  acknowledgement; a batch counts as received when the receiver has read up to our TLS close_notify
  (its close_notify or FIN comes back, not a reset), so a receiver that dies mid-batch gets the
  batch again: at-least-once, de-duplicated by the sequence number. One that read the batch and
  stopped before writing it is covered by the shipper (ship.py: REPLAY_S).
- syslog_tcp: the same framing in plain TCP, for a relay agent on the same machine.
- https_json: one POST of a JSON array per batch; any 2xx is the acknowledgement.
- file: JSON lines appended and fsynced; an agent (Filebeat, Wazuh, Fluent Bit) tails the file.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import ssl
import urllib.parse

from panel import security

APP_NAME = "govhost"
SD_ID = "govhost@32473"  # 32473: the example private enterprise number RFC 5612 reserves for documentation
TIMEOUT_S = 5.0


class SendError(Exception):
    """The batch was not delivered (the message says why, without any secret)."""


def _tls_context(dest) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=dest.ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if dest.client_cert:
        ctx.load_cert_chain(dest.client_cert, dest.client_key or None)
    return ctx


def host_port(target: str, default_port: int = 6514) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep:
        return target, default_port
    return host.strip("[]"), int(port)


# ---- RFC 5424 ------------------------------------------------------------------------------------


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _ascii_field(value: str, limit: int) -> str:
    clean = "".join(c for c in value if 33 <= ord(c) <= 126)
    return clean[:limit] or "-"


def rfc5424(event: dict, facility: int = 10) -> bytes:
    """One RFC 5424 message: the header, structured data with the chain position, the JSON event
    as MSG (UTF-8 with a BOM, as section 6.4 asks for UTF-8 text)."""
    severity = int(event["event"].get("severity", 6))
    audit = event["govhost"]["audit"]
    ts = event["@timestamp"]
    header = " ".join(
        (
            f"<{facility * 8 + severity}>1",
            ts,
            _ascii_field(event["observer"]["hostname"], 255),
            APP_NAME,
            str(os.getpid()),
            _ascii_field(event["event"]["code"].removeprefix("govhost."), 32),
        )
    )
    sd = f'[{SD_ID} seq="{audit["seq"]}" hash="{_sd_value(audit["hash"])}" prev="{_sd_value(audit["prev_hash"])}"]'
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"{header} {sd} ".encode() + b"\xef\xbb\xbf" + body.encode()


def octet_frame(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def _syslog(dest, events: list[dict], tls: bool) -> None:
    host, port = host_port(dest.target, 6514 if tls else 514)
    payload = b"".join(octet_frame(rfc5424(e)) for e in events)
    try:
        raw = socket.create_connection((host, port), timeout=TIMEOUT_S)
    except OSError as e:
        raise SendError(f"cannot connect to {host}:{port}: {e.strerror or e}") from None
    sock = raw
    try:
        if tls:
            sock = _tls_context(dest).wrap_socket(raw, server_hostname=dest.server_name or host)
        sock.sendall(payload)
        if tls:
            # Our close_notify after the data; returns on the peer's close_notify, or EOF when the
            # receiver closed after reading everything (rsyslog sends no close_notify).
            with contextlib.suppress(ssl.SSLEOFError, ssl.SSLZeroReturnError):
                sock.unwrap()
        else:
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(4096):
                pass
    except ssl.SSLCertVerificationError as e:
        raise SendError(f"TLS certificate of {host}:{port} not trusted: {e.verify_message}") from None
    except (OSError, ssl.SSLError) as e:
        raise SendError(f"sending to {host}:{port} failed: {e.__class__.__name__}: {e}") from None
    finally:
        sock.close()
        raw.close()


def send_syslog_tls(dest, events: list[dict]) -> None:
    _syslog(dest, events, tls=True)


def send_syslog_tcp(dest, events: list[dict]) -> None:
    _syslog(dest, events, tls=False)


# ---- HTTPS JSON --------------------------------------------------------------------------------


def send_https_json(dest, events: list[dict]) -> None:
    url = urllib.parse.urlsplit(dest.target)
    body = json.dumps(events, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "govhost-soc/1"}
    if dest.auth_header:
        headers["Authorization"] = security.unseal(dest.auth_header)
    conn = http.client.HTTPSConnection(url.hostname, url.port or 443, timeout=TIMEOUT_S, context=_tls_context(dest))
    try:
        conn.request("POST", url.path or "/", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(65536)
    except ssl.SSLCertVerificationError as e:
        raise SendError(f"TLS certificate of {url.hostname} not trusted: {e.verify_message}") from None
    except (OSError, http.client.HTTPException) as e:
        raise SendError(f"POST to {url.hostname}:{url.port or 443} failed: {e.__class__.__name__}: {e}") from None
    finally:
        conn.close()
    if not 200 <= resp.status < 300:
        raise SendError(f"{url.hostname} answered HTTP {resp.status}")


# ---- file ----------------------------------------------------------------------------------------


def send_file(dest, events: list[dict]) -> None:
    data = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events).encode()
    try:
        fd = os.open(dest.target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise SendError(f"cannot append to {dest.target}: {e.strerror or e}") from None


SENDERS = {
    "syslog_tls": send_syslog_tls,
    "syslog_tcp": send_syslog_tcp,
    "https_json": send_https_json,
    "file": send_file,
}
