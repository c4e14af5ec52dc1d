#!/usr/bin/python3
"""govhost (cms): the health probe of one WordPress site, run on its own host.

GET <url>/ from this host (the site's name as TLS server name and Host header, to 127.0.0.1: nginx
listens on every address); healthy means HTTP 200 and the health marker in the page (printed by
the govhost-health must-use plugin in the footer, so the whole page was rendered). The site's
certificate is not checked here (its renewals do that); only its answer. Prints one JSON line.
"""

import http.client
import json
import os
import socket
import ssl

url, fqdn, marker = (os.environ[k] for k in ("GOVHOST_WP_URL", "GOVHOST_WP_HOST", "GOVHOST_WP_MARKER"))


class Conn(http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=fqdn)


def probe() -> dict:
    if url.startswith("https://"):
        conn = Conn(fqdn, 443, timeout=20, context=ssl._create_unverified_context())  # noqa: S323 (see the docstring)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=20)
    try:
        conn.request(
            "GET", "/", headers={"Host": fqdn, "User-Agent": "govhost-health-probe", "Cache-Control": "no-cache"}
        )
        answer = conn.getresponse()
        body = answer.read(4 * 1024 * 1024).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        return {"ok": False, "status": 0, "marker": False, "detail": f"no answer: {e}"}
    finally:
        conn.close()
    found = marker in body
    ok = answer.status == 200 and found
    detail = "" if ok else f"HTTP {answer.status}, marker {'found' if found else 'missing'}"
    return {"ok": ok, "status": answer.status, "marker": found, "detail": detail}


print(json.dumps(probe()))
