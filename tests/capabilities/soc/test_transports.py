"""The other transports against real receivers: JSON batches over HTTPS (a TLS server on loopback
that checks the Authorization header, with a CA of its own) and the local JSON-lines file."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest

from panel.capabilities.soc import catalogue, ship
from panel.capabilities.soc import service as svc
from panel.models.tenants import Role


class Receiver:
    """An HTTPS JSON receiver; `status` is what it answers (503 to play a SIEM that is down)."""

    def __init__(self, pki, token: str) -> None:
        self.batches: list[list[dict]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.headers.get("Authorization") == f"Bearer {token}" and outer.status == 200
                if ok:
                    outer.batches.append(json.loads(body))
                self.send_response(outer.status if self.headers.get("Authorization") == f"Bearer {token}" else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server.server_address[1]}/ingest"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(pki):
    r = Receiver(pki, "s3cr3t-token")
    yield r
    r.close()


def test_https_json_batches_with_authorization(make, admin, receiver, pki):
    d = svc.destination_create(
        admin,
        data=svc.DestinationIn(
            "hec", "https_json", receiver.url, ca_file=str(pki.ca), auth_header="Bearer s3cr3t-token", batch_size=3
        ),
    )
    start = svc.destination_get(admin, d.id).delivered_seq
    org = make.make_org()
    user = make.make_user(Role.WEBMASTER, org)
    from panel.services import tokens as tokens_svc

    for i in range(4):
        tokens_svc.token_create(make.actor_of(user), name=f"t{i}", scope="read", days=1)
    last = ship.head_seq()
    receiver.status = 503  # the SIEM answers but is not taking data: nothing counts as delivered
    with pytest.raises(ship.SendError, match="HTTP 503"):
        ship.drain(d.id)
    assert svc.destination_get(admin, d.id).delivered_seq == start
    receiver.status = 200
    assert ship.drain(d.id) == last - start
    assert [len(b) for b in receiver.batches] == [3, 2]  # batch_size, in order
    events = [e for b in receiver.batches for e in b]
    for e in events:
        jsonschema.validate(e, catalogue.schema())
    assert [e["event"]["sequence"] for e in events] == list(range(start + 1, last + 1))
    assert catalogue.check_sequence(events) == []
    assert "s3cr3t-token" not in json.dumps(events)


def test_https_refuses_a_receiver_its_ca_did_not_sign(make, admin, receiver, pki):
    d = svc.destination_create(
        admin, data=svc.DestinationIn("hec", "https_json", receiver.url, ca_file=str(pki.other_ca))
    )
    make.make_user(Role.WEBMASTER, make.make_org())
    with pytest.raises(ship.SendError, match="not trusted"):
        ship.drain(d.id)
    assert receiver.batches == []


def test_json_lines_file_for_a_tailing_agent(make, admin, tmp_path):
    path = tmp_path / "soc.jsonl"
    d = svc.destination_create(admin, data=svc.DestinationIn("agent", "file", str(path)))
    start = svc.destination_get(admin, d.id).delivered_seq
    from panel.services import users as users_svc

    org = make.make_org()
    user = make.make_user(Role.WEBMASTER, org)
    users_svc.user_set_role(admin, user.id, org_id=org.id, role="org_admin")
    last = ship.head_seq()
    ship.drain(d.id)
    lines = path.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event"]["sequence"] for e in events] == list(range(start + 1, last + 1))
    assert events[-1]["event"]["code"] == "govhost.user.role_changed"
    assert events[-1]["govhost"]["message_km"].startswith("socadmin ")
    ship.drain(d.id)  # nothing new: nothing appended
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(lines)
