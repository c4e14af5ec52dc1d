"""Clients pinned to the lab: every one binds to 10.77.0.1 and checks the route first, so a
test can never send traffic anywhere but a lab host (LAB.md pitfall: traffic must not leave)."""

from __future__ import annotations

import http.client
import imaplib
import smtplib
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

import dns.message
import dns.query

from provisioners import lab as L

SOURCE = (L.GATEWAY, 0)


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS from 10.77.0.1 with SNI = the Host header (a vhost name, not the IP)."""

    def __init__(self, host: str, port: int | None, sni: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, source_address=SOURCE, context=context)
        self._sni = sni

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._sni)


def http_get(url: str, host_header: str | None = None, cafile: str | None = None, timeout: float = 10.0) -> Response:
    """GET url (http or https to a lab IP); cafile verifies, else the cert is not checked."""
    return http_request("GET", url, host_header, cafile, timeout=timeout)


def http_request(
    method: str,
    url: str,
    host_header: str | None = None,
    cafile: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Response:
    """`method` url with headers and a body (http or https to a lab IP), as http_get."""
    parts = urlsplit(url)
    ip = parts.hostname or ""
    L.assert_pinned(ip)
    if parts.scheme == "https":
        # without cafile: the lab's snakeoil certificates, not verified
        ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()  # noqa: S323
        conn: http.client.HTTPConnection = _PinnedHTTPS(ip, parts.port, host_header or ip, ctx, timeout)
    else:
        conn = http.client.HTTPConnection(ip, parts.port, timeout=timeout, source_address=SOURCE)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = {**({"Host": host_header} if host_header else {}), **(headers or {})}
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        return Response(resp.status, dict(resp.getheaders()), resp.read())
    finally:
        conn.close()


class BrowserLike:
    """A small HTTPS client from 10.77.0.1 that keeps cookies and follows redirects on one lab host,
    as a browser would (the lab's snakeoil certificates are not verified)."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.cookies: dict[str, str] = {}
        self.timeout = timeout

    def request(self, method: str, url: str, form: dict | None = None, follow: int = 5) -> Response:
        parts = urlsplit(url)
        ip = parts.hostname or ""
        L.assert_pinned(ip)
        ctx = ssl._create_unverified_context()  # noqa: S323 - lab snakeoil
        conn = _PinnedHTTPS(ip, parts.port, ip, ctx, self.timeout)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
            resp = conn.getresponse()
            for name, value in resp.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    val = rest.split(";", 1)[0]
                    if val in ("", "deleted"):
                        self.cookies.pop(key.strip(), None)
                    else:
                        self.cookies[key.strip()] = val
            out = Response(resp.status, dict(resp.getheaders()), resp.read())
        finally:
            conn.close()
        location = out.headers.get("Location") or out.headers.get("location")
        if follow and out.status in (301, 302, 303, 307, 308) and location:
            target = urljoin(url, location)
            if urlsplit(target).hostname != ip:
                return out
            return self.request("GET", target, None, follow - 1)
        return out

    def get(self, url: str) -> Response:
        return self.request("GET", url)

    def post(self, url: str, form: dict) -> Response:
        return self.request("POST", url, form)


def smtp(ip: str, port: int = 25, timeout: float = 10.0) -> smtplib.SMTP:
    L.assert_pinned(ip)
    return smtplib.SMTP(ip, port, timeout=timeout, source_address=SOURCE)


class _BoundIMAP4(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, SOURCE)


class _BoundIMAP4SSL(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, SOURCE)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def imap(
    ip: str, port: int = 143, use_ssl: bool = False, timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None
) -> imaplib.IMAP4:
    """IMAP bound to 10.77.0.1; IMAPS (993) with use_ssl, unverified unless a context is given."""
    L.assert_pinned(ip)
    if use_ssl:
        ctx = ssl_context or ssl._create_unverified_context()  # noqa: S323 - lab snakeoil
        return _BoundIMAP4SSL(ip, port, ssl_context=ctx, timeout=timeout)
    return _BoundIMAP4(ip, port, timeout=timeout)


def dns_query(
    server: str, qname: str, rdtype: str = "A", tcp: bool = False, timeout: float = 5.0
) -> dns.message.Message:
    """One query to a lab DNS server from 10.77.0.1 (never the machine's resolver)."""
    L.assert_pinned(server)
    query = dns.message.make_query(qname, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, server, timeout=timeout, source=L.GATEWAY)


def ssh_run(
    host: L.Host | str,
    cmd: str,
    timeout: float = 60.0,
    input: str | None = None,
    control_persist: str | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a shell command on a lab host over real ssh (lab key, pinned host key, bound to
    10.77.0.1). Raises subprocess.TimeoutExpired instead of hanging."""
    ip = host.ip if isinstance(host, L.Host) else host
    L.assert_pinned(ip)
    argv = L.ssh_command(ip, cmd, control_persist=control_persist)
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        timeout=timeout,
        check=check,
    )
